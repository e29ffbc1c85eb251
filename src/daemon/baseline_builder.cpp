// SPDX-License-Identifier: Apache-2.0
#include "baseline_builder.hpp"

#include <chrono>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/discovery/layers.hpp"

namespace layerlock::daemon {

void BaselineBuilder::start() {
    thread_ = std::thread([this] {
        (void)base::become_background_thread("ll-baseline");   // its import threads inherit it
        run();
    });
}

void BaselineBuilder::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void BaselineBuilder::enqueue(const std::vector<std::string>& layers) {
    std::lock_guard lock(mu_);
    for (const auto& l : layers)
        if (queued_.insert(l).second) queue_.push_back(l);
    cv_.notify_one();
}

void BaselineBuilder::run() {
    auto store = baseline::Store::open(database_);
    if (!store) {
        log_(database_, false, store.error().message());
        return;
    }
    for (;;) {
        std::string layer;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            layer = std::move(queue_.front());
            queue_.pop_front();
        }
        if (store->layer_state(layer) == baseline::LayerState::Complete) {
            forget(layer);
            continue;
        }
        auto stats = store->import_layer(layer, threads_, discovery::layer_content_id(layer));
        if (stats && stats->state == baseline::LayerState::Building) {
            // Another process (layerlock baseline build) holds it: look again later.
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
            queue_.push_back(layer);
            continue;
        }
        if (stats)
            log_(layer, true, "files=" + std::to_string(stats->files) + " bytes=" +
                                  std::to_string(stats->bytes) + " seconds=" + std::to_string(stats->seconds) +
                                  (stats->copied_from.empty() ? std::string()
                                                              : " copied_from=\"" + base::escape(stats->copied_from) + "\" (same layer content, not hashed)"));
        else
            log_(layer, false, stats.error().message());
        forget(layer);
    }
}

void BaselineBuilder::forget(const std::string& layer) {
    std::lock_guard lock(mu_);
    queued_.erase(layer);
}

}  // namespace layerlock::daemon
