// SPDX-License-Identifier: Apache-2.0
// Wake-ups for the gate's reader thread, which sleeps in a *blocking* read() of
// the fanotify fd: one syscall per event, like the barest listener, instead of
// poll() + read(). Periodic work (watchdog keep-alive), deadlines and stop
// requests interrupt that read with a real-time signal aimed at the reader
// thread alone (POSIX timers with SIGEV_THREAD_ID, pthread_sigqueue); the
// handler only sets an atomic flag. Created and used on the reader thread,
// except request_stop(), which any thread may call.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <string>

namespace layerlock::gate {

class ReaderWakeup {
public:
    // On the reader thread: installs the handler, unblocks the signal for this
    // thread, starts the periodic tick. Check error() before use.
    explicit ReaderWakeup(std::chrono::milliseconds tick);
    ~ReaderWakeup();
    ReaderWakeup(const ReaderWakeup&) = delete;
    ReaderWakeup& operator=(const ReaderWakeup&) = delete;

    // Empty, or why the reader cannot be woken (no handler, no timers): a reader
    // without them sends no watchdog keep-alive and meets no deadline, so the gate
    // refuses to start with it.
    const std::string& error() const { return error_; }

    bool take_tick() { return tick_.exchange(false); }
    bool take_deadline() { return deadline_.exchange(false); }
    bool stop_requested() const { return stop_.load(); }
    // First wake-up after `from_now`, then every `every` until disarmed: a signal
    // that lands just before the reader enters read() is then late by at most
    // `every`, never lost.
    void arm_deadline(std::chrono::nanoseconds from_now, std::chrono::nanoseconds every);
    void disarm_deadline();

    // Any thread: interrupts the reader until it has seen the request.
    void request_stop();

private:
    std::atomic<bool> tick_{false}, deadline_{false}, stop_{false};
    pthread_t reader_;
    timer_t tick_timer_{}, deadline_timer_{};
    bool timers_ok_ = false;
    std::string error_;
};

}  // namespace layerlock::gate
