// SPDX-License-Identifier: Apache-2.0
// The walking half of a layer import. Directories are opened one at a time beneath
// the layer root (openat2 RESOLVE_BENEATH|NO_SYMLINKS, so no symlink is followed
// and the walk cannot leave the tree, however deep or hostile its names) and
// listed with getdents64. A name listed as a regular file is opened beneath its
// directory with O_NOFOLLOW|O_NONBLOCK and fstat'ed; small ones are hashed at once,
// larger ones go to the hash pool. Every other name is classified with
// fstatat(AT_SYMLINK_NOFOLLOW) and never opened: symlinks are read with readlinkat,
// whiteout xattrs through /proc/self/fd/<dir>/<name> with lgetxattr, and FIFOs,
// sockets and devices are recorded from their lstat alone. scan_layer() hands the
// entries to a sink in path order while the pool hashes. No SQLite here.
#include "layer_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <new>
#include <string_view>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/baseline/overlay_format.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::baseline::detail {
namespace {

constexpr std::size_t kDirBuffer = 64 * 1024;
// Files smaller than this (most files of an image, a small part of its bytes) are
// hashed by the walk itself while it holds their directory open.
constexpr std::uint64_t kInlineBytes = std::uint64_t{64} << 10;

// The walk's result: every entry, with regular files still to be hashed.
struct ScanResult {
    std::deque<Entry> entries;  // a deque: growing never moves what was walked
    std::vector<std::uint32_t> by_path;  // indices of entries in path (byte) order
};

base::Unexpected<base::Error> fail(const char* what, const std::string& path, int err = errno) {
    return base::unexpected(base::Error::from_errno(std::string(what) + " " + base::escape(path), err));
}

struct Pending {
    std::string path;  // absolute inside the layer; "" for the root
    struct stat seen {};
};

// What the walking threads share: directories still to visit, and where entries
// and jobs go. One lock for all of it, taken once per directory (a thread collects
// a directory's entries on its own, then publishes them).
struct WalkShared {
    WalkShared(int root, ScanResult& o, std::deque<FileJob>& j, JobQueue& q)
        : root_fd(root), out(o), jobs(j), queue(q) {}
    int root_fd;
    dev_t root_dev = 0;
    ScanResult& out;
    std::deque<FileJob>& jobs;
    JobQueue& queue;
    std::mutex m;
    std::condition_variable cv;
    std::vector<Pending> stack;
    int active = 0;                    // threads visiting a directory now
    std::optional<base::Error> error;  // the first failure; every thread stops
    const HashFilter* hash = nullptr;  // which regular files to hash (all when null)
};

// One walking thread's view: a directory at a time, its results kept here until
// publish() hands them over under the shared lock.
class Walker {
public:
    explicit Walker(WalkShared& s) : s_(s) {}
    base::Result<void> visit(const Pending& dir);
    void publish();  // caller holds s_.m

private:
    base::Result<void> list(int dirfd, const std::string& path);
    base::Result<void> add_child(int dirfd, const std::string& dir_path, const char* name);
    base::Result<bool> add_small_regular(int dirfd, const std::string& dir_path, const char* name);
    base::Result<void> add_symlink(int dirfd, const char* name, Entry& e);
    void add_regular(int dirfd, const char* name, Entry e, const struct stat& st);

    WalkShared& s_;
    std::vector<Entry> entries_;                             // this directory's entries
    std::vector<std::pair<std::size_t, struct stat>> jobs_;  // (index in entries_, lstat) to hash
    std::vector<Pending> dirs_;                              // subdirectories to visit
};

void Walker::publish() {
    std::size_t base = s_.out.entries.size();
    for (auto& e : entries_) s_.out.entries.push_back(std::move(e));
    for (const auto& [at, st] : jobs_) {
        FileJob& job = s_.jobs.emplace_back();
        job.entry = base + at;
        job.relative = s_.out.entries[base + at].path.substr(1);
        job.seen = st;
        s_.queue.push(&job);
    }
    for (auto& d : dirs_) s_.stack.push_back(std::move(d));
    entries_.clear();
    jobs_.clear();
    dirs_.clear();
}

// Runs on each walking thread until no directory is left and none is being
// visited. A thread that finds the stack empty while another visits a directory
// (which may add more) hashes a large file meanwhile rather than wait.
void walk_thread(WalkShared& s) {
    Walker w(s);
    for (;;) {
        Pending dir;
        {
            std::unique_lock lock(s.m);
            while (s.stack.empty() && s.active > 0 && !s.error && !s.queue.aborted()) {
                lock.unlock();
                if (FileJob* job = s.queue.try_pop()) {
                    hash_job(s.root_fd, *job, s.queue.abort_flag());
                    if (job->error) s.queue.abort();
                    s.queue.done(*job);
                    lock.lock();
                    continue;
                }
                lock.lock();
                s.cv.wait_for(lock, std::chrono::milliseconds(1));
            }
            if (s.error || s.queue.aborted() || s.stack.empty()) {
                s.cv.notify_all();
                return;
            }
            dir = std::move(s.stack.back());
            s.stack.pop_back();
            ++s.active;
        }
        auto r = w.visit(dir);
        {
            std::lock_guard lock(s.m);
            if (r) w.publish();
            else if (!s.error) s.error = r.error();
            --s.active;
        }
        s.cv.notify_all();
    }
}

base::Result<void> Walker::visit(const Pending& dir) {
    std::string rel = dir.path.empty() ? std::string(".") : dir.path.substr(1);
    auto fd = base::open_beneath(s_.root_fd, rel, O_RDONLY | O_DIRECTORY);
    if (!fd) return fail("open", dir.path, fd.error().code.value());
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail("fstat", dir.path);
    if (st.st_ino != dir.seen.st_ino || st.st_dev != dir.seen.st_dev)
        return fail("replaced during import", dir.path, ESTALE);
    if (!dir.path.empty()) {
        Entry e;
        e.path = dir.path;
        e.kind = overlay::opaque(fd->get()) ? EntryKind::OpaqueDirectory : EntryKind::Directory;
        e.mode = st.st_mode;
        entries_.push_back(std::move(e));
    }
    return list(fd->get(), dir.path);
}

base::Result<void> Walker::list(int dirfd, const std::string& path) {
    alignas(dirent64) static thread_local char buf[kDirBuffer];
    for (;;) {
        ssize_t n = ::getdents64(dirfd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("getdents64", path.empty() ? "/" : path);
        if (n == 0) return {};
        for (ssize_t off = 0; off < n;) {
            auto* d = reinterpret_cast<dirent64*>(buf + off);
            off += d->d_reclen;
            if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
            if (d->d_type == DT_REG) {
                auto r = add_small_regular(dirfd, path, d->d_name);
                if (!r) return base::unexpected(r.error());
                if (*r) continue;
            }
            if (auto r = add_child(dirfd, path, d->d_name); !r) return r;
        }
    }
}

base::Result<void> Walker::add_child(int dirfd, const std::string& dir_path, const char* name) {
    struct stat st {};
    Entry e;
    e.path = dir_path + "/" + name;
    if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};  // removed since the listing: not in the layer
        return fail("fstatat", e.path);
    }
    e.mode = st.st_mode;
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev == s_.root_dev) {
            dirs_.push_back({std::move(e.path), st});
            return {};
        }
        e.kind = EntryKind::Directory;  // a mount point: overlay sees the covered dir, so do we
    } else if (S_ISLNK(st.st_mode)) {
        if (auto r = add_symlink(dirfd, name, e); !r) return r;
    } else if (overlay::whiteout_device(st)) {
        e.kind = EntryKind::Whiteout;
    } else if (S_ISREG(st.st_mode)) {
        add_regular(dirfd, name, std::move(e), st);
        return {};
    } else {
        e.kind = EntryKind::Other;  // FIFO, socket, device: never opened
        e.size = static_cast<std::uint64_t>(st.st_size);
    }
    entries_.push_back(std::move(e));
    return {};
}

// A name the listing says is a regular file: opened right here beneath its
// directory (O_NOFOLLOW|O_NONBLOCK, one component, so nothing is followed and
// nothing blocks). Small files are hashed on the spot — no lstat, no second path
// walk, no hand-over; others become a job with the fstat as what the walk saw.
// False when the name is no longer a regular file: the caller looks again with
// lstat as for any other name.
base::Result<bool> Walker::add_small_regular(int dirfd, const std::string& dir_path, const char* name) {
    base::UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return false;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail("fstat", dir_path + "/" + name);
    if (!S_ISREG(st.st_mode) || st.st_dev != s_.root_dev) return false;
    Entry e;
    e.path = dir_path + "/" + name;
    e.kind = EntryKind::Regular;
    e.mode = st.st_mode;
    if (st.st_size == 0) {
        if (overlay::whiteout_xattr(fd.get(), st)) e.kind = EntryKind::Whiteout;
        else e.sha256 = digest::sha256_bytes("", 0);
        entries_.push_back(std::move(e));
        return true;
    }
    if (s_.hash && !(*s_.hash)(e.path, st)) {
        e.size = static_cast<std::uint64_t>(st.st_size);
        e.hashed = false;
        entries_.push_back(std::move(e));
        return true;
    }
    if (static_cast<std::uint64_t>(st.st_size) >= kInlineBytes) {
        add_regular(dirfd, name, std::move(e), st);
        return true;
    }
    auto hashed = hash_open_file(fd.get(), st, s_.queue.abort_flag());
    if (!hashed) return fail("hash", e.path, hashed.error().code.value());
    e.sha256 = hashed->sha256;
    e.size = hashed->bytes;
    e.mode = hashed->mode;
    entries_.push_back(std::move(e));
    return true;
}

base::Result<void> Walker::add_symlink(int dirfd, const char* name, Entry& e) {
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(dirfd, name, target, sizeof target);
    if (n < 0) return fail("readlinkat", e.path);
    e.kind = EntryKind::Symlink;
    e.target.assign(target, static_cast<std::size_t>(n));
    e.size = static_cast<std::uint64_t>(n);
    return {};
}

void Walker::add_regular(int dirfd, const char* name, Entry e, const struct stat& st) {
    e.kind = EntryKind::Regular;
    if (st.st_size == 0) {
        if (overlay::whiteout_xattr_at(dirfd, name, st)) e.kind = EntryKind::Whiteout;
        else e.sha256 = digest::sha256_bytes("", 0);
        entries_.push_back(std::move(e));
        return;
    }
    if (s_.hash && !(*s_.hash)(e.path, st)) {
        e.size = static_cast<std::uint64_t>(st.st_size);
        e.hashed = false;
        entries_.push_back(std::move(e));
        return;
    }
    jobs_.emplace_back(entries_.size(), st);
    entries_.push_back(std::move(e));
}

void sort_by_path(ScanResult& out) {
    out.by_path.resize(out.entries.size());
    for (std::uint32_t i = 0; i < out.by_path.size(); ++i) out.by_path[i] = i;
    std::sort(out.by_path.begin(), out.by_path.end(),
              [&](std::uint32_t a, std::uint32_t b) { return out.entries[a].path < out.entries[b].path; });
}

// Once the walk is over: small files in path order (the sink's order), then large
// files largest first.
void order_jobs(const ScanResult& out, std::deque<FileJob>& jobs) {
    std::vector<std::uint64_t> rank(out.entries.size());
    for (std::uint32_t r = 0; r < out.by_path.size(); ++r) rank[out.by_path[r]] = r;
    for (FileJob& job : jobs) {
        auto size = static_cast<std::uint64_t>(job.seen.st_size);
        job.order = size < kDeferBytes ? rank[job.entry]
                                       : (std::uint64_t{1} << 62) + ((std::uint64_t{1} << 61) - std::min(size, std::uint64_t{1} << 61));
    }
}

// The walk on `threads` threads sharing one directory stack, then hashing until
// the queue is drained. The last thread to leave the walk sorts the entries, orders
// the remaining jobs and closes the queue; walked() returns from then on.
class Walk {
public:
    Walk(int root_fd, unsigned threads, const HashFilter* hash) : shared_(root_fd, out_, jobs_, queue_) {
        shared_.hash = hash;
        struct stat root {};
        if (::fstat(root_fd, &root) != 0) {
            finish(base::Error::from_errno("fstat /"));
            return;
        }
        shared_.root_dev = root.st_dev;
        shared_.stack.push_back({"", root});
        walkers_left_ = threads;
        for (unsigned i = 0; i < threads; ++i) {
            try {
                threads_.emplace_back([this] { run(); });
            } catch (const std::system_error&) {
                if (i == 0) {
                    finish(base::Error::from_errno("start hashing thread", EAGAIN));
                    return;
                }
                bool last;
                {
                    std::lock_guard lock(shared_.m);
                    walkers_left_ -= threads - i;  // fewer threads: slower, still correct
                    last = walkers_left_ == 0;     // the started ones are all done already
                }
                if (last) conclude();
                break;
            }
        }
    }
    ~Walk() {
        queue_.abort();  // no-op once drained; stops everything on an early return
        for (auto& t : threads_) t.join();
    }
    Walk(const Walk&) = delete;
    Walk& operator=(const Walk&) = delete;

    // Blocks until the walk is over: the entries, or the walk's error.
    base::Result<const ScanResult*> walked() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return finished_; });
        if (error_) return base::unexpected(*error_);
        return &out_;
    }
    JobQueue& queue() { return queue_; }
    std::deque<FileJob>& jobs() { return jobs_; }

private:
    void run() {
        try {
            walk_thread(shared_);
        } catch (const std::bad_alloc&) {
            fail(base::Error::from_errno("scan layer", ENOMEM));
        } catch (const std::exception& e) {
            fail(base::Error::from_errno(std::string("scan layer: ") + e.what(), EIO));
        }
        bool last;
        {
            std::lock_guard lock(shared_.m);
            last = --walkers_left_ == 0;
        }
        if (last) conclude();
        if (!queue_.aborted()) hash_until_drained(shared_.root_fd, queue_);
    }
    // The walk is over on every thread: sort, order the jobs left, open walked().
    void conclude() {
        std::optional<base::Error> error;
        {
            std::lock_guard lock(shared_.m);
            error = shared_.error;
        }
        if (!error) {
            try {
                sort_by_path(out_);
                order_jobs(out_, jobs_);
            } catch (const std::bad_alloc&) {
                error = base::Error::from_errno("scan layer", ENOMEM);
            }
        }
        finish(error);
    }
    void fail(base::Error e) {
        {
            std::lock_guard lock(shared_.m);
            if (!shared_.error) shared_.error = std::move(e);
        }
        queue_.abort();
        shared_.cv.notify_all();
    }
    void finish(std::optional<base::Error> error) {
        if (error) queue_.abort();
        else queue_.close();
        {
            std::lock_guard lock(m_);
            error_ = std::move(error);
            finished_ = true;
        }
        cv_.notify_all();
    }

    ScanResult out_;
    std::deque<FileJob> jobs_;
    JobQueue queue_;
    WalkShared shared_;
    unsigned walkers_left_ = 0;  // under shared_.m
    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable cv_;
    bool finished_ = false;
    std::optional<base::Error> error_;
};

// The hashed file's entry, or the job's error (ECANCELED when another failure stopped it).
base::Result<Entry> finished_entry(JobQueue& queue, FileJob& job, const Entry& walked) {
    if (!queue.wait_done(job)) return base::unexpected(base::Error::from_errno("scan layer", ECANCELED));
    if (job.error) return base::unexpected(*job.error);
    Entry e = walked;
    e.sha256 = job.sha256;
    e.size = job.bytes;
    e.mode = job.mode;
    return e;
}

// The first error that is not a cancellation caused by another.
base::Error first_error(const std::deque<FileJob>& jobs, base::Error fallback) {
    for (const FileJob& job : jobs)
        if (job.done.load(std::memory_order_acquire) && job.error && job.error->code != std::errc::operation_canceled)
            return *job.error;
    return fallback;
}

}  // namespace

base::Result<LayerStats> scan_layer(int root_fd, unsigned threads, EntrySink& sink, const HashFilter* hash) {
    auto start = std::chrono::steady_clock::now();
    LayerStats stats;
    Walk walk(root_fd, threads < 1 ? 1 : threads, hash);
    auto walked = walk.walked();
    if (!walked) return base::unexpected(walked.error());
    const ScanResult& out = **walked;
    std::vector<FileJob*> job_of(out.entries.size(), nullptr);
    for (FileJob& job : walk.jobs()) job_of[job.entry] = &job;

    auto put = [&](const Entry& e) -> base::Result<void> {
        if (e.kind == EntryKind::Regular) {
            ++stats.files;
            stats.bytes += e.size;
        }
        ++stats.entries;
        return sink.put(e);
    };
    auto stop = [&](base::Error e) -> base::Unexpected<base::Error> {
        walk.queue().abort();
        return base::unexpected(e.code == std::errc::operation_canceled ? first_error(walk.jobs(), e) : e);
    };
    std::vector<std::uint32_t> deferred;
    for (std::uint32_t i : out.by_path) {
        const Entry& e = out.entries[i];
        FileJob* job = job_of[i];
        if (!job) {
            if (auto r = put(e); !r) return stop(r.error());
            continue;
        }
        if (!job->done.load(std::memory_order_acquire) && static_cast<std::uint64_t>(job->seen.st_size) >= kDeferBytes) {
            deferred.push_back(i);
            continue;
        }
        auto hashed = finished_entry(walk.queue(), *job, e);
        if (!hashed) return stop(hashed.error());
        if (auto r = put(*hashed); !r) return stop(r.error());
    }
    for (std::uint32_t i : deferred) {
        auto hashed = finished_entry(walk.queue(), *job_of[i], out.entries[i]);
        if (!hashed) return stop(hashed.error());
        if (auto r = put(*hashed); !r) return stop(r.error());
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

}  // namespace layerlock::baseline::detail
