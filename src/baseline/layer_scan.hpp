// SPDX-License-Identifier: Apache-2.0
// Reading one layer directory into baseline entries: a walk that never follows a
// symlink nor leaves the tree, and a pool of threads hashing the regular files.
// Internal to src/baseline; knows nothing of SQLite (store.cpp persists the result).
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline::detail {

// Regular files at least this large whose hash is not ready when their turn in
// path order comes are handed over after every other entry, so that storing the
// layer overlaps the hashing of its largest files.
constexpr std::uint64_t kDeferBytes = std::uint64_t{1} << 20;

// Receives a layer's entries, each exactly once and complete (see scan_layer).
class EntrySink {
public:
    virtual ~EntrySink() = default;
    virtual base::Result<void> put(const Entry& e) = 0;
};

// Scans the directory open as `root_fd`: the walk and the hashing run on `threads`
// threads (>= 1) of their own while the calling thread hands every entry to
// `sink`, in path (byte) order, except regular files of kDeferBytes or more not yet
// hashed when their turn comes, which follow at the end. Paths are absolute inside
// the layer; Entry::layer is left empty. Fails, and stops the other threads, on the
// first error of the walk, of a hash (an inode swapped between lstat and open, an
// I/O error) or of the sink. Returns files, bytes, entries and the wall time.
// `hash`: when given, only the regular files it says yes to are hashed (path inside
// the layer, lstat); the others are handed over with Entry::hashed false.
using HashFilter = std::function<bool(const std::string& path, const struct stat& st)>;
base::Result<LayerStats> scan_layer(int root_fd, unsigned threads, EntrySink& sink, const HashFilter* hash = nullptr);

// One regular file to hash: what the walk saw, and what the hasher read. The
// hasher sets `done` last (release); the fields are the sink's to read after.
struct FileJob {
    std::size_t entry = 0;       // index into the walk's entries
    std::string relative;        // path below the layer root, no leading '/'
    struct stat seen {};         // lstat from the walk
    std::uint64_t order = 0;     // queue order once the walk is over (lowest first)
    model::Sha256 sha256{};
    std::uint64_t bytes = 0;
    std::uint32_t mode = 0;
    std::optional<base::Error> error;
    std::atomic<bool> done{false};
};

// Jobs handed from the walk to the hashers. While the walk runs, hashers take the
// newest job; once it ends, the rest are taken by FileJob::order (scan_layer puts
// small files first in path order, for the sink waiting on them, then large files
// largest first, so that one huge file does not start last). Finished jobs are
// announced through done() / wait_done().
class JobQueue {
public:
    void push(FileJob* job);
    void close();                // walk finished: sort what is left, wake everyone
    FileJob* pop();              // nullptr when closed and empty, or after abort()
    FileJob* try_pop();          // the newest job, or nullptr at once when there is none
    void abort() noexcept;       // stop handing out jobs (an error happened)
    bool aborted() const noexcept { return abort_.load(std::memory_order_relaxed); }
    const std::atomic<bool>& abort_flag() const noexcept { return abort_; }
    void done(FileJob& job);     // hasher: the job's fields are final
    bool wait_done(FileJob& job);  // true once done; false if the scan was aborted first

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::condition_variable done_cv_;
    std::vector<FileJob*> pending_;
    bool closed_ = false;
    std::atomic<bool> abort_{false};
};


// What hashing one open regular file gave.
struct HashedFile {
    model::Sha256 sha256{};
    std::uint64_t bytes = 0;
    std::uint32_t mode = 0;
};

// Hashes the regular file open as `fd`, whose fstat was `before`; a file whose size
// or times change while it is read is read once more, and the second read is kept.
base::Result<HashedFile> hash_open_file(int fd, struct stat before, const std::atomic<bool>& cancel);

// Hashes one job's file through `root_fd` (see file_hash.cpp for the checks).
void hash_job(int root_fd, FileJob& job, const std::atomic<bool>& cancel);

// Takes jobs from `queue` and hashes them through `root_fd` until it is closed and
// empty, or aborted (a failed job aborts it).
void hash_until_drained(int root_fd, JobQueue& queue);

}  // namespace layerlock::baseline::detail
