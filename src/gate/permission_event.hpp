// SPDX-License-Identifier: Apache-2.0
// One permission event's life. PendingExec owns the event's fd (closed when the
// last owner lets go) and guarantees exactly one answer: respond() answers once
// (later calls are no-ops, so the reader's deadline sweep and a worker can race
// safely), and the destructor answers the fallback if nobody did. respond() and
// close_fd() share a mutex: the thread that lost the race to answer may close the
// fd at once, but never while the winner is still writing the answer for it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::gate {

class PendingExec {
public:
    PendingExec(int group_fd, int event_fd, pid_t pid, model::Action fallback,
                std::chrono::steady_clock::time_point deadline) noexcept
        : group_fd_(group_fd), fd_(event_fd), pid_(pid), fallback_(fallback), deadline_(deadline) {}
    ~PendingExec() { respond(fallback_); }
    PendingExec(const PendingExec&) = delete;
    PendingExec& operator=(const PendingExec&) = delete;

    // True if this call delivered the answer.
    bool respond(model::Action a) noexcept;
    bool answered() const noexcept { return answered_.load(std::memory_order_acquire); }

    int fd() const noexcept { return fd_.get(); }   // hash through this fd; never reopen the path
    // Closes the event's fd once its owner is done with it, so the container's
    // filesystem is not kept busy (an open fd blocks its unmount). Only the thread
    // that uses the fd calls this: a worker after judging, never the deadline sweep.
    void close_fd() noexcept;
    pid_t pid() const noexcept { return pid_; }
    model::Action fallback() const noexcept { return fallback_; }
    std::chrono::steady_clock::time_point deadline() const noexcept { return deadline_; }

    struct stat st{};   // fstat of fd, filled by the reader

private:
    int group_fd_;
    base::UniqueFd fd_;
    pid_t pid_;
    model::Action fallback_;
    std::chrono::steady_clock::time_point deadline_;
    std::atomic<bool> answered_{false};
    std::mutex fd_mu_;
};

}  // namespace layerlock::gate
