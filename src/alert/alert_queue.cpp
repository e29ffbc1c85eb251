// SPDX-License-Identifier: Apache-2.0
#include "layerlock/alert/alerts.hpp"

#include "layerlock/base/thread.hpp"

namespace layerlock::alert {

void AlertQueue::start() {
    thread_ = std::thread([this] {
        (void)base::become_background_thread("ll-alerts");   // alerts come after the answer
        run();
    });
}

void AlertQueue::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void AlertQueue::replace_sinks(std::vector<std::unique_ptr<Sink>> sinks) {
    std::lock_guard lock(sinks_mu_);
    sinks_.swap(sinks);   // the old sinks are destroyed here, after the last batch they wrote
}

void AlertQueue::publish(model::DriftEvent ev) {
    {
        std::lock_guard lock(mu_);
        if (queue_.size() >= capacity_) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        queue_.push_back(std::move(ev));
    }
    cv_.notify_one();
}

void AlertQueue::run() {
    for (;;) {
        std::deque<model::DriftEvent> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty() && stopping_) return;
            batch.swap(queue_);
        }
        std::lock_guard lock(sinks_mu_);
        for (const auto& ev : batch) {
            for (auto& s : sinks_) s->write(ev);
            delivered_.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

}  // namespace layerlock::alert
