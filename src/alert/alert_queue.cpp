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
    queue_.stop(/*drain=*/true);   // what is queued is still delivered
    if (thread_.joinable()) thread_.join();
}

void AlertQueue::replace_sinks(std::vector<std::unique_ptr<Sink>> sinks) {
    std::lock_guard lock(sinks_mu_);
    sinks_.swap(sinks);   // the old sinks are destroyed here, after the last batch they wrote
    failing_.assign(sinks_.size(), false);
}

void AlertQueue::set_dedup_window(std::chrono::seconds w) {
    dedup_window_s_.store(w.count(), std::memory_order_relaxed);   // applied by the alert thread
}

void AlertQueue::publish(model::DriftEvent ev) {
    if (!queue_.push(std::move(ev), capacity_)) dropped_.fetch_add(1, std::memory_order_relaxed);
}

bool AlertQueue::publish_wait(model::DriftEvent ev, const std::atomic<bool>* cancel) {
    return queue_.push_wait(std::move(ev), capacity_, cancel);
}

// `first`: the first of its window (or not deduplicated, or a summary): every
// sink; otherwise a repeat, for the sinks that act on every occurrence only.
void AlertQueue::deliver(const model::DriftEvent& ev, bool first) {
    failing_.resize(sinks_.size(), false);   // sinks added since
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
        auto& s = *sinks_[i];
        if (!first && !s.sees_repeats()) continue;
        auto written = s.write(ev);
        if (!written) sink_failures_.fetch_add(1, std::memory_order_relaxed);
        if (written.has_value() == !failing_[i]) continue;   // no change of state
        failing_[i] = !written;
        if (reporter_) reporter_(s.name(), written ? base::Error::plain("") : written.error(), !written);
    }
    if (first) delivered_.fetch_add(1, std::memory_order_relaxed);
    else suppressed_.fetch_add(1, std::memory_order_relaxed);
}

void AlertQueue::run() {
    for (;;) {
        bool last = false;
        const auto at = dedup_.next_due();   // the deduplicator is this thread's alone
        auto batch = queue_.pop_all_until(at ? *at : base::WorkQueue<model::DriftEvent>::Clock::time_point::max(), &last);
        dedup_.set_window(std::chrono::seconds(dedup_window_s_.load(std::memory_order_relaxed)));
        // Windows closed by now are summed up before this batch opens new ones; on
        // stop, every open window.
        const auto now = Deduper::Clock::now();
        auto summaries = dedup_.due(now, last);
        std::lock_guard sinks(sinks_mu_);
        for (const auto& s : summaries) {
            deliver(s, true);
            summaries_.fetch_add(1, std::memory_order_relaxed);
        }
        for (const auto& ev : batch) deliver(ev, dedup_.admit(ev, now));
        if (last) return;
    }
}

}  // namespace layerlock::alert
