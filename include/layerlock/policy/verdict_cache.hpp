// SPDX-License-Identifier: Apache-2.0
// Bounded LRU cache of classifications, keyed by the identity *and version* of
// the executed inode: (overlay dev, inode, ctime, mtime, size). Any write,
// chmod, rename or link changes ctime, which user space cannot set back, so a
// changed file can never be served a stale verdict; no invalidation messages
// are needed. Thread-safe (one mutex; hits cost one hash lookup).
// A verdict reached by hashing keeps the file's SHA-256 beside it: alerts for
// later execs of the same file carry it, and the live file-drift check of the
// same unchanged file takes it instead of hashing the file a second time.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "layerlock/policy/verdict.hpp"

namespace layerlock::policy {

// Inline, both: the gate's reader takes them on every exec.
struct FileKey {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t ctime_ns = 0, mtime_ns = 0;
    bool operator==(const FileKey&) const = default;
    static FileKey of(const struct stat& st) noexcept {
        return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                static_cast<std::uint64_t>(st.st_size), st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec,
                st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
    }
};

struct FileKeyHash {
    std::size_t operator()(const FileKey& k) const noexcept {
        std::size_t h = std::hash<std::uint64_t>{}(k.ino);
        auto mix = [&h](std::uint64_t v) { h ^= std::hash<std::uint64_t>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
        mix(k.dev);
        mix(static_cast<std::uint64_t>(k.ctime_ns));
        mix(static_cast<std::uint64_t>(k.mtime_ns));
        mix(k.size);
        return h;
    }
};

class VerdictCache {
public:
    explicit VerdictCache(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}
    // `digest`, when given, receives the SHA-256 stored with a hit (same look-up).
    std::optional<Classification> get(const FileKey& k, std::optional<model::Sha256>* digest = nullptr);
    void put(const FileKey& k, const Classification& c, const std::optional<model::Sha256>& digest = std::nullopt);
    // The SHA-256 stored with the verdict for this exact file version, if it was
    // hashed (not counted as a hit or miss, recency unchanged).
    std::optional<model::Sha256> digest_of(const FileKey& k) const;
    void forget_device(std::uint64_t dev);   // a container went away
    void clear();                            // the rules changed (a reload)
    std::size_t size() const;
    // Read by `layerlock status` while the gate's threads count under mu_.
    std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
    std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

private:
    using Order = std::list<FileKey>;
    struct Slot { Classification c; std::optional<model::Sha256> digest; Order::iterator pos; };
    mutable std::mutex mu_;
    std::size_t capacity_;
    Order order_;                                   // front: most recently used
    std::unordered_map<FileKey, Slot, FileKeyHash> map_;
    std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace layerlock::policy
