// SPDX-License-Identifier: Apache-2.0
// The registry of gated containers, keyed by the overlay's device number (what
// fstat of an event fd reports). Readers get a shared_ptr to an immutable
// GatedContainer; replacing one (metadata arrived, mode changed) never disturbs
// an event that is already being judged with the old one. Every change bumps a
// generation number, so the gate's reader can keep what it looked up without a
// lock until the next change.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::daemon {

class Registry {
public:
    using Ptr = std::shared_ptr<const gate::GatedContainer>;
    Ptr find(dev_t dev) const {
        std::lock_guard lock(mu_);
        auto it = by_dev_.find(dev);
        return it == by_dev_.end() ? nullptr : it->second;
    }
    void put(Ptr c) {
        std::lock_guard lock(mu_);
        by_dev_[c->info.dev] = std::move(c);
        generation_.fetch_add(1, std::memory_order_release);
    }
    Ptr remove(dev_t dev) {
        std::lock_guard lock(mu_);
        auto it = by_dev_.find(dev);
        if (it == by_dev_.end()) return nullptr;
        auto c = std::move(it->second);
        by_dev_.erase(it);
        generation_.fetch_add(1, std::memory_order_release);
        return c;
    }
    const std::atomic<std::uint64_t>& generation_counter() const { return generation_; }
    std::vector<Ptr> all() const {
        std::lock_guard lock(mu_);
        std::vector<Ptr> out;
        for (const auto& [dev, c] : by_dev_) out.push_back(c);
        return out;
    }

private:
    mutable std::mutex mu_;
    std::map<dev_t, Ptr> by_dev_;
    // Its own cache line: read by the gate's reader on every exec, written rarely;
    // the mutex beside it is taken by other threads.
    alignas(64) std::atomic<std::uint64_t> generation_{0};
};

}  // namespace layerlock::daemon
