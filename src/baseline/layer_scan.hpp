// SPDX-License-Identifier: Apache-2.0
// Reading one layer directory into baseline entries: a walk that never follows a
// symlink nor leaves the tree, and a pool of threads hashing the regular files.
// Internal to src/baseline; knows nothing of SQLite (store.cpp persists the result).
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline::detail {

struct ScanResult {
    std::vector<Entry> entries;  // every entry of the layer, paths absolute; layer left empty
    LayerStats stats;            // files and bytes hashed; seconds of the whole scan
    std::vector<std::uint32_t> by_path;  // indices of entries in path (byte) order
};

// Scans the directory open as `root_fd`, hashing with `threads` threads (>= 1).
// Fails if the tree changes under it in a way that cannot be read consistently
// (an inode swapped between lstat and open), or on any I/O error.
base::Result<ScanResult> scan_layer(int root_fd, unsigned threads);

// One regular file to hash: what the walk saw, and what the hasher read.
struct FileJob {
    std::size_t entry = 0;       // index into ScanResult::entries
    std::string relative;        // path below the layer root, no leading '/'
    struct stat seen {};         // lstat from the walk
    model::Sha256 sha256{};
    std::uint64_t bytes = 0;
    std::uint32_t mode = 0;
    std::optional<base::Error> error;
};

// Jobs handed from the walk to the hashers. While the walk runs, hashers take the
// newest job; once it ends, the rest are taken largest first so that one huge file
// starts early instead of holding up the end of the import.
class JobQueue {
public:
    void push(FileJob* job);
    void close();                // walk finished: sort what is left, wake everyone
    FileJob* pop();              // nullptr when closed and empty, or after abort()
    void abort() noexcept;       // stop handing out jobs (an error happened)
    bool aborted() const noexcept { return abort_.load(std::memory_order_relaxed); }
    const std::atomic<bool>& abort_flag() const noexcept { return abort_; }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::vector<FileJob*> pending_;
    bool closed_ = false;
    std::atomic<bool> abort_{false};
};

// Opens `relative` strictly beneath `root_fd` without following any symlink
// (openat2 RESOLVE_BENEATH); paths longer than PATH_MAX are opened one component
// at a time with O_NOFOLLOW, which is as safe for names read from the tree itself.
base::Result<base::UniqueFd> open_below(int root_fd, const std::string& relative, int flags);

// Hashes one job's file through `root_fd` (see file_hash.cpp for the checks).
void hash_job(int root_fd, FileJob& job, const std::atomic<bool>& cancel);

// Runs `threads - 1` hashing threads beside the caller until the queue is drained.
class HashPool {
public:
    HashPool(int root_fd, JobQueue& queue, unsigned threads);
    ~HashPool();                 // joins
    void work();                 // the calling thread hashes too, until the queue is empty
    HashPool(const HashPool&) = delete;
    HashPool& operator=(const HashPool&) = delete;

private:
    int root_fd_;
    JobQueue& queue_;
    std::vector<std::thread> threads_;
};

}  // namespace layerlock::baseline::detail
