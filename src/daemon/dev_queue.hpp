// SPDX-License-Identifier: Apache-2.0
// A queue of container devices handed from the discovery side to a worker thread
// (metadata, file drift). pop() blocks until an item or stop(); sleep_for() is an
// interruptible wait for workers that retry. Internal to src/daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace layerlock::daemon {

class DevQueue {
public:
    void push(dev_t dev) {
        {
            std::lock_guard lock(mu_);
            items_.push_back(dev);
        }
        cv_.notify_one();
    }
    std::optional<dev_t> pop() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopped_ || !items_.empty(); });
        if (stopped_) return std::nullopt;
        dev_t d = items_.front();
        items_.pop_front();
        return d;
    }
    // Like pop(), but gives up at `deadline`: nullopt then, or when stopped
    // (`stopped` tells which).
    std::optional<dev_t> pop_until(std::chrono::steady_clock::time_point deadline, bool* stopped) {
        std::unique_lock lock(mu_);
        auto ready = [&] { return stopped_ || !items_.empty(); };
        if (deadline == std::chrono::steady_clock::time_point::max()) cv_.wait(lock, ready);
        else cv_.wait_until(lock, deadline, ready);
        *stopped = stopped_;
        if (stopped_ || items_.empty()) return std::nullopt;
        dev_t d = items_.front();
        items_.pop_front();
        return d;
    }
    // False when stopped during the wait.
    bool sleep_for(std::chrono::milliseconds d) {
        std::unique_lock lock(mu_);
        return !cv_.wait_for(lock, d, [&] { return stopped_; });
    }
    void stop() {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<dev_t> items_;
    bool stopped_ = false;
};

}  // namespace layerlock::daemon
