// SPDX-License-Identifier: Apache-2.0
#include "reader_wakeup.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace layerlock::gate {
namespace {

int wake_signal() { return SIGRTMIN + 1; }

extern "C" void on_wake(int, siginfo_t* si, void*) {
    // Async-signal-safe: a lock-free atomic store through the timer's pointer.
    if (auto* flag = static_cast<std::atomic<bool>*>(si->si_value.sival_ptr)) flag->store(true);
}

timespec to_timespec(std::chrono::nanoseconds ns) {
    auto n = ns.count();
    return {static_cast<time_t>(n / 1'000'000'000), static_cast<long>(n % 1'000'000'000)};
}

bool make_timer(std::atomic<bool>* flag, timer_t* out) {
    sigevent sev;
    std::memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = wake_signal();
    sev.sigev_value.sival_ptr = flag;
    sev._sigev_un._tid = ::gettid();
    return ::timer_create(CLOCK_MONOTONIC, &sev, out) == 0;
}

}  // namespace

ReaderWakeup::ReaderWakeup(std::chrono::milliseconds tick) : reader_(::pthread_self()) {
    struct sigaction sa{};
    sa.sa_sigaction = on_wake;
    sa.sa_flags = SA_SIGINFO;   // no SA_RESTART: the blocking read returns EINTR
    sigemptyset(&sa.sa_mask);
    if (::sigaction(wake_signal(), &sa, nullptr) != 0) {
        error_ = std::string("sigaction: ") + std::strerror(errno);
        return;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, wake_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    if (!make_timer(&tick_, &tick_timer_)) {
        error_ = std::string("timer_create: ") + std::strerror(errno);
        return;
    }
    if (!make_timer(&deadline_, &deadline_timer_)) {
        error_ = std::string("timer_create: ") + std::strerror(errno);
        ::timer_delete(tick_timer_);
        return;
    }
    timers_ok_ = true;
    itimerspec period{};
    period.it_interval = to_timespec(tick);
    period.it_value = period.it_interval;
    if (::timer_settime(tick_timer_, 0, &period, nullptr) != 0) error_ = std::string("timer_settime: ") + std::strerror(errno);
}

ReaderWakeup::~ReaderWakeup() {
    if (timers_ok_) {
        ::timer_delete(tick_timer_);
        ::timer_delete(deadline_timer_);
    }
}

void ReaderWakeup::arm_deadline(std::chrono::nanoseconds from_now, std::chrono::nanoseconds every) {
    if (!timers_ok_) return;
    itimerspec at{};
    at.it_value = to_timespec(std::max(from_now, std::chrono::nanoseconds(1'000'000)));
    at.it_interval = to_timespec(every);
    ::timer_settime(deadline_timer_, 0, &at, nullptr);
}

void ReaderWakeup::disarm_deadline() {
    if (!timers_ok_) return;
    itimerspec off{};
    ::timer_settime(deadline_timer_, 0, &off, nullptr);
}

void ReaderWakeup::request_stop() {
    // One signal; it can land just before the reader enters read(), so
    // ExecGate::stop() calls this again every 2 ms until the reader has left its
    // loop (reader_done). stop_ stays set: the reader never clears it.
    sigval v{};
    v.sival_ptr = &stop_;
    ::pthread_sigqueue(reader_, wake_signal(), v);
}

}  // namespace layerlock::gate
