// SPDX-License-Identifier: Apache-2.0
#include "layerlock/registry/registry.hpp"

namespace layerlock::registry {

Registry::Ptr Registry::find(dev_t dev) const {
    std::lock_guard lock(mu_);
    auto it = by_dev_.find(dev);
    return it == by_dev_.end() ? nullptr : it->second;
}

void Registry::put(Ptr c) {
    const dev_t dev = c->info.dev;
    std::lock_guard lock(mu_);   // one change: no reader sees the mounts point at a container not yet put
    update_mounts_of(dev, c);
    by_dev_[dev] = std::move(c);
    bump();
}

Registry::Ptr Registry::remove(dev_t dev) {
    std::lock_guard lock(mu_);
    if (update_mounts_of(dev, nullptr)) bump();
    auto it = by_dev_.find(dev);
    if (it == by_dev_.end()) return nullptr;
    auto c = std::move(it->second);
    by_dev_.erase(it);
    bump();
    return c;
}

std::vector<Registry::Ptr> Registry::all() const {
    std::lock_guard lock(mu_);
    std::vector<Ptr> out;
    out.reserve(by_dev_.size());
    for (const auto& [dev, c] : by_dev_) out.push_back(c);
    return out;
}

void Registry::put_mount(std::uint64_t id, gate::MountRef ref) {
    std::lock_guard lock(mu_);
    mounts_[id] = std::move(ref);
    bump();
}

void Registry::remove_mount(std::uint64_t id) {
    std::lock_guard lock(mu_);
    if (mounts_.erase(id)) bump();
}

gate::MountRef Registry::find_mount(std::uint64_t id) const {
    std::lock_guard lock(mu_);
    auto it = mounts_.find(id);
    return it == mounts_.end() ? gate::MountRef{} : it->second;
}

bool Registry::update_mounts_of(dev_t dev, const Ptr& now) {
    bool changed = false;
    for (auto it = mounts_.begin(); it != mounts_.end();) {
        if (it->second.container->info.dev != dev) {
            ++it;
            continue;
        }
        changed = true;
        if (now) (it++)->second.container = now;
        else it = mounts_.erase(it);
    }
    return changed;
}

}  // namespace layerlock::registry
