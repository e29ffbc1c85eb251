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

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <mutex>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/reasons.hpp"
#include "layerlock/policy/verdict_cache.hpp"

namespace layerlock::gate {

// Execs allowed lately, by pid and file version. The opens that follow one are
// that exec's own (the kernel opens an exec'd file once more for reading; an
// interpreter reads the #! script it was exec'd for), not code loaded another way:
// the code-open gate lets them through quietly. Only *allowed* execs are noted,
// so a process whose exec was denied cannot then load the same file as code.
class RecentExecs {
public:
    static constexpr std::chrono::seconds kMemory{10};
    void note(pid_t pid, const policy::FileKey& key) noexcept {
        std::lock_guard lock(mu_);
        ring_[next_++ % ring_.size()] = {pid, key, std::chrono::steady_clock::now() + kMemory};
    }
    bool contains(pid_t pid, const policy::FileKey& key) noexcept {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mu_);
        for (const auto& e : ring_)
            if (e.pid == pid && e.until > now && e.key == key) return true;
        return false;
    }

private:
    struct Entry {
        pid_t pid = 0;
        policy::FileKey key;
        std::chrono::steady_clock::time_point until{};
    };
    std::mutex mu_;
    std::array<Entry, 64> ring_{};
    std::size_t next_ = 0;
};

class PendingExec {
public:
    PendingExec(int group_fd, int event_fd, pid_t pid, model::Action fallback,
                std::chrono::steady_clock::time_point deadline) noexcept
        : group_fd_(group_fd), fd_(event_fd), pid_(pid), fallback_(fallback), deadline_(deadline),
          born_(std::chrono::steady_clock::now()) {}
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
    // Exec events: noted here when allowed, before the answer reaches the kernel.
    RecentExecs* recent = nullptr;
    // What an alert about this event reports: its kind (Binary for execs; Script,
    // Library or Binary for code opens, once known) and, for a file
    // on a tmpfs or volume mount, that mount.
    policy::CodeKind kind = policy::CodeKind::Binary;
    std::shared_ptr<const struct GatedMount> mount;
    // Where the time to the answer is counted (none: not counted).
    struct AnswerLatency* latency = nullptr;
    // Where an answer the kernel refused is counted (none: not counted).
    std::atomic<std::uint64_t>* answer_failures = nullptr;

private:
    int group_fd_;
    base::UniqueFd fd_;
    pid_t pid_;
    model::Action fallback_;
    std::chrono::steady_clock::time_point deadline_, born_;
    std::atomic<bool> answered_{false};
    std::mutex fd_mu_;
};

}  // namespace layerlock::gate
