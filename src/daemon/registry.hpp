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
        const dev_t dev = c->info.dev;
        update_mounts_of(dev, c);
        std::lock_guard lock(mu_);
        by_dev_[dev] = std::move(c);
        generation_.fetch_add(1, std::memory_order_release);
    }
    Ptr remove(dev_t dev) {
        update_mounts_of(dev, nullptr);
        std::lock_guard lock(mu_);
        auto it = by_dev_.find(dev);
        if (it == by_dev_.end()) return nullptr;
        auto c = std::move(it->second);
        by_dev_.erase(it);
        generation_.fetch_add(1, std::memory_order_release);
        return c;
    }
    // Mount-marked mounts (tmpfs, volumes) of the containers, by unique mount id.
    void put_mount(std::uint64_t id, gate::MountRef ref) {
        std::lock_guard lock(mu_);
        mounts_[id] = std::move(ref);
        generation_.fetch_add(1, std::memory_order_release);
    }
    void remove_mount(std::uint64_t id) {
        std::lock_guard lock(mu_);
        if (mounts_.erase(id)) generation_.fetch_add(1, std::memory_order_release);
    }
    gate::MountRef find_mount(std::uint64_t id) const {
        std::lock_guard lock(mu_);
        auto it = mounts_.find(id);
        return it == mounts_.end() ? gate::MountRef{} : it->second;
    }
    // A container's mounts, replaced (its metadata or mode changed) or gone.
    void update_mounts_of(dev_t dev, const Ptr& now) {
        std::lock_guard lock(mu_);
        bool changed = false;
        for (auto it = mounts_.begin(); it != mounts_.end();) {
            if (it->second.container->info.dev != dev) { ++it; continue; }
            changed = true;
            if (now) (it++)->second.container = now;
            else it = mounts_.erase(it);
        }
        if (changed) generation_.fetch_add(1, std::memory_order_release);
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
    std::map<std::uint64_t, gate::MountRef> mounts_;
    // Its own cache line: read by the gate's reader on every exec, written rarely;
    // the mutex beside it is taken by other threads.
    alignas(64) std::atomic<std::uint64_t> generation_{0};
};

}  // namespace layerlock::daemon
