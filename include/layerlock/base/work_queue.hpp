// SPDX-License-Identifier: Apache-2.0
// The one queue between threads: producers push (bounded or waiting for room),
// consumers pop one item or everything at once, each wait ending at stop() and,
// when asked, at a deadline. After stop(drain = true) what is queued is still
// handed out; after stop() it is destroyed at once (an item whose destructor
// answers something, a permission event, answers then).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>

namespace layerlock::base {

template <typename T>
class WorkQueue {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

    // False (the item is not queued) when stopped, or when `limit` items wait already.
    bool push(T item, std::size_t limit = kUnbounded) {
        {
            std::lock_guard lock(mu_);
            if (stopped_ || items_.size() >= limit) return false;
            items_.push_back(std::move(item));
        }
        ready_.notify_one();
        return true;
    }

    // Waits for room below `limit` instead of refusing: for producers that must lose
    // nothing and may be slowed. False when stopped or `cancel` is set meanwhile.
    bool push_wait(T item, std::size_t limit, const std::atomic<bool>* cancel = nullptr) {
        {
            std::unique_lock lock(mu_);
            for (;;) {
                if (stopped_ || (cancel && cancel->load(std::memory_order_relaxed))) return false;
                if (items_.size() < limit) break;
                // `cancel` is not under mu_: looked at again every 100 ms.
                room_.wait_for(lock, std::chrono::milliseconds(100));
            }
            items_.push_back(std::move(item));
        }
        ready_.notify_one();
        return true;
    }

    // The next item; nullopt once stopped (and, after stop(drain = true), empty).
    std::optional<T> pop() {
        bool stopped = false;
        return pop_until(Clock::time_point::max(), &stopped);
    }

    // Like pop(), but gives up at `deadline`: nullopt then too; `stopped` tells which.
    std::optional<T> pop_until(Clock::time_point deadline, bool* stopped) {
        std::unique_lock lock(mu_);
        wait(lock, deadline);
        *stopped = stopped_;
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        lock.unlock();
        room_.notify_one();
        return item;
    }

    // Everything queued, once there is something, `deadline` has passed or the queue
    // stopped (`stopped` tells: the caller's last batch).
    std::deque<T> pop_all_until(Clock::time_point deadline, bool* stopped) {
        std::deque<T> out;
        {
            std::unique_lock lock(mu_);
            wait(lock, deadline);
            *stopped = stopped_;
            out.swap(items_);
        }
        room_.notify_all();
        return out;
    }

    // An interruptible sleep for consumers that retry: false when stopped meanwhile.
    bool sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lock(mu_);
        return !ready_.wait_for(lock, d, [&] { return stopped_; });
    }

    std::size_t size() const {
        std::lock_guard lock(mu_);
        return items_.size();
    }

    // Ends every wait. `drain`: pop() still hands out what is queued; otherwise it
    // is destroyed here.
    void stop(bool drain = false) {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
            if (!drain) items_.clear();
        }
        ready_.notify_all();
        room_.notify_all();
    }

private:
    void wait(std::unique_lock<std::mutex>& lock, Clock::time_point deadline) {
        auto ready = [&] { return stopped_ || !items_.empty(); };
        if (deadline == Clock::time_point::max()) ready_.wait(lock, ready);
        else ready_.wait_until(lock, deadline, ready);
    }

    mutable std::mutex mu_;
    std::condition_variable ready_, room_;
    std::deque<T> items_;
    bool stopped_ = false;
};

}  // namespace layerlock::base
