// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/verdict_cache.hpp"

namespace layerlock::policy {

std::optional<Classification> VerdictCache::get(const FileKey& k, std::optional<model::Sha256>* digest) {
    std::lock_guard lock(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) { misses_.fetch_add(1, std::memory_order_relaxed); return std::nullopt; }
    hits_.fetch_add(1, std::memory_order_relaxed);
    order_.splice(order_.begin(), order_, it->second.pos);
    if (digest) *digest = it->second.digest;
    return it->second.c;
}

std::optional<model::Sha256> VerdictCache::digest_of(const FileKey& k) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) return std::nullopt;
    return it->second.digest;
}

void VerdictCache::put(const FileKey& k, const Classification& c, const std::optional<model::Sha256>& digest) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(k); it != map_.end()) {
        it->second.c = c;
        if (digest) it->second.digest = digest;
        order_.splice(order_.begin(), order_, it->second.pos);
        return;
    }
    if (map_.size() >= capacity_) {
        map_.erase(order_.back());
        order_.pop_back();
    }
    order_.push_front(k);
    map_.emplace(k, Slot{c, digest, order_.begin()});
}

void VerdictCache::clear() {
    std::lock_guard lock(mu_);
    map_.clear();
    order_.clear();
}

void VerdictCache::forget_device(std::uint64_t dev) {
    std::lock_guard lock(mu_);
    for (auto it = order_.begin(); it != order_.end();) {
        if (it->dev == dev) { map_.erase(*it); it = order_.erase(it); }
        else ++it;
    }
}

std::size_t VerdictCache::size() const {
    std::lock_guard lock(mu_);
    return map_.size();
}

}  // namespace layerlock::policy
