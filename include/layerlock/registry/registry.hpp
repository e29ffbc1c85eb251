// SPDX-License-Identifier: Apache-2.0
// The registry of gated containers, keyed by the overlay's device number (what
// fstat of an event fd reports), and of their mount-marked mounts (tmpfs, volumes)
// by unique mount id. Readers get a shared_ptr to an immutable GatedContainer;
// replacing one (metadata arrived, mode changed) never disturbs an event that is
// already being judged with the old one. Every change bumps a generation number,
// so the gate's reader can keep what it looked up without a lock until the next
// change. Thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::registry {

class Registry {
public:
    using Ptr = std::shared_ptr<const gate::GatedContainer>;

    Ptr find(dev_t dev) const;
    // Adds or replaces the container of c->info.dev; its mounts follow the new one.
    void put(Ptr c);
    // Removes the container and its mounts; returns what was there.
    Ptr remove(dev_t dev);
    std::vector<Ptr> all() const;

    // Mount-marked mounts (tmpfs, volumes) of the containers, by unique mount id.
    void put_mount(std::uint64_t id, gate::MountRef ref);
    void remove_mount(std::uint64_t id);
    gate::MountRef find_mount(std::uint64_t id) const;

    // Bumped by every change; the gate's reader compares it with what it saw.
    const std::atomic<std::uint64_t>& generation_counter() const { return generation_; }

private:
    void bump() { generation_.fetch_add(1, std::memory_order_release); }
    // A container's mounts, pointed at its replacement (`now`) or removed (null). mu_ held.
    bool update_mounts_of(dev_t dev, const Ptr& now);

    mutable std::mutex mu_;
    std::map<dev_t, Ptr> by_dev_;
    std::map<std::uint64_t, gate::MountRef> mounts_;
    // Its own cache line: read by the gate's reader on every exec, written rarely;
    // the mutex beside it is taken by other threads.
    alignas(64) std::atomic<std::uint64_t> generation_{0};
};

}  // namespace layerlock::registry
