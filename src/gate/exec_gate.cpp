// SPDX-License-Identifier: Apache-2.0
// Threads of the exec gate. The reader answers what it can at once (own pid,
// its own table of warm allows, cache hit, image-layer inode) and hands the rest to a worker lane (small or
// large files, so one huge hash never holds up the others). A worker answers an
// upper file that no content could make the image's (policy::classify_unhashed)
// without hashing it; a file of the size of the image's file at its path is
// compared with that file byte for byte; only what is left is hashed before the
// answer. The "after" lane (background priority) builds and publishes the alerts
// of answered execs, hashing first the files answered unhashed. The reader also
// sweeps deadlines: an event whose worker has not answered in time gets the
// fallback.
// Answer first, then alert: publish() is called only after respond().
// This file: the gate's life (start, stop, options) and the release of the group
// on a crash. The threads' work: gate_reader.cpp (the reader: warm path,
// deadlines, answers given at once), gate_workers.cpp (the workers: judging
// what the reader could not), gate_lanes.cpp (the after/alert lanes: alerts of
// answered events), open_gate.cpp (open events and mount-marked mounts).
#include "layerlock/gate/exec_gate.hpp"

#include <poll.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>

#include "gate_impl.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/gate/direct_syscall.hpp"

namespace layerlock::gate {

ExecGate::ExecGate(FanotifyGroup& group, Environment& env, GateOptions opts)
    : group_(group), env_(env), cache_(opts.cache_entries),
      impl_(std::make_unique<Impl>(*this, std::move(opts))) {
    // The warm path's fields must stay within the first page of the gate's state.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
    static_assert(offsetof(Impl, counters) + sizeof(GateCounters) <= 4096);
#pragma GCC diagnostic pop
}

ExecGate::~ExecGate() { stop(); }

const GateCounters& ExecGate::counters() const { return impl_->counters; }

void ExecGate::set_options(const GateOptions& opts) {
    std::lock_guard lock(impl_->opts_mu);
    auto keep_workers = impl_->opts.workers;
    impl_->opts = opts;
    impl_->opts.workers = keep_workers;
    cache_.clear();   // verdicts of image files a new [[prohibit]] rule may name
    impl_->opts_version.fetch_add(1, std::memory_order_release);
}

void ExecGate::forget_verdicts() {
    cache_.clear();
    impl_->opts_version.fetch_add(1, std::memory_order_release);   // the reader drops its warm table and ignore marks
}

base::Result<void> ExecGate::start() {
    auto o = impl_->options();
    // Normal priority, all of them: an exec waits on each (base/thread.hpp).
    auto started = impl_->reader_started.get_future();
    impl_->threads.emplace_back([this] {
        base::name_this_thread("ll-gate-read");
        impl_->reader_loop();
    });
    if (auto why = started.get(); !why.empty()) {
        impl_->threads.back().join();
        impl_->threads.clear();
        return base::unexpected(base::Error::plain("gate reader: " + why));
    }
    for (unsigned i = 0; i < std::max(1u, o.workers); ++i)
        impl_->threads.emplace_back([this] {
            base::name_this_thread("ll-gate-hash");
            impl_->worker_loop(impl_->small);
        });
    impl_->threads.emplace_back([this] {
        base::name_this_thread("ll-gate-large");
        impl_->worker_loop(impl_->large);
    });
    // Alerts of execs already answered, and the hashes some of them need: no exec
    // waits on these (refused background priority: normal priority, same work).
    impl_->threads.emplace_back([this] {
        (void)base::become_background_thread("ll-gate-after");
        impl_->after_loop(impl_->after);
    });
    impl_->threads.emplace_back([this] {
        (void)base::become_background_thread("ll-gate-alert");
        impl_->after_loop(impl_->alerts);
    });
    return {};
}

void ExecGate::stop() noexcept {
    if (!impl_ || impl_->stopping.exchange(true)) return;
    while (!impl_->reader_done) {   // until the reader has left its blocking read
        if (auto* w = impl_->wakeup.load()) w->request_stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    impl_->small.stop();
    impl_->large.stop();
    impl_->after.stop(/*drain=*/true);   // their alerts still go out, without hashing
    impl_->alerts.stop(/*drain=*/true);
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    impl_->threads.clear();
}

namespace {
std::atomic<int> g_crash_fd{-1};

extern "C" void on_fatal_signal(int sig) {
    int fd = g_crash_fd.exchange(-1);
    if (fd >= 0) ::close(fd);   // the kernel allows every pending exec at once
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}
}  // namespace

void release_group_on_crash(int group_fd) {
    g_crash_fd.store(group_fd);
    struct sigaction sa{};
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace layerlock::gate
