// SPDX-License-Identifier: Apache-2.0
// The hashing half of a layer import: the job queue between the walk and the
// hashers, the hashing threads, and the checks around reading one file. A file is
// opened only after the walk's lstat said "regular", with O_NOFOLLOW|O_NONBLOCK,
// beneath the layer root, and fstat must show the same regular inode; a file whose
// size or times change while it is read is read once more, and what was read the
// second time is recorded. This file does not walk directories or touch SQLite.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <system_error>

#include "layer_scan.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::baseline::detail {
namespace {

bool same_inode(const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

bool unchanged(const struct stat& a, const struct stat& b) {
    return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
           a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
           a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

base::Error job_error(const FileJob& job, const char* what, int err) {
    return base::Error::from_errno(std::string(what) + " /" + base::escape(job.relative), err);
}

}  // namespace

base::Result<HashedFile> hash_open_file(int fd, struct stat before, const std::atomic<bool>& cancel) {
    digest::HashLimits limits;
    limits.cancel = &cancel;
    limits.short_read_is_end = true;  // the fstat after the read catches a file that grew
    HashedFile out;
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto digest = digest::sha256_fd(fd, limits, &out.bytes);
        if (!digest) return base::unexpected(digest.error());
        out.sha256 = *digest;
        struct stat after {};
        if (::fstat(fd, &after) != 0) return base::unexpected(base::Error::from_errno("fstat"));
        out.mode = after.st_mode;
        if (unchanged(before, after) && out.bytes == static_cast<std::uint64_t>(after.st_size)) return out;
        before = after;  // changed while read: read once more, then keep what was read
    }
    return out;
}

void hash_job(int root_fd, FileJob& job, const std::atomic<bool>& cancel) {
    auto fd = base::open_beneath(root_fd, job.relative, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (!fd) {
        job.error = job_error(job, "open", fd.error().code.value());
        return;
    }
    struct stat before {};
    if (::fstat(fd->get(), &before) != 0) {
        job.error = job_error(job, "fstat", errno);
        return;
    }
    if (!S_ISREG(before.st_mode) || !same_inode(before, job.seen)) {
        job.error = job_error(job, "replaced during import", ESTALE);
        return;
    }
    auto hashed = hash_open_file(fd->get(), before, cancel);
    if (!hashed) {
        job.error = job_error(job, "hash", hashed.error().code.value());
        return;
    }
    job.sha256 = hashed->sha256;
    job.bytes = hashed->bytes;
    job.mode = hashed->mode;
}

void JobQueue::push(FileJob* job) {
    {
        std::lock_guard lock(m_);
        pending_.push_back(job);
    }
    cv_.notify_one();
}

void JobQueue::close() {
    {
        std::lock_guard lock(m_);
        closed_ = true;
        // pop() takes from the back: highest order first in the vector, lowest popped first.
        std::sort(pending_.begin(), pending_.end(),
                  [](const FileJob* a, const FileJob* b) { return a->order > b->order; });
    }
    cv_.notify_all();
}

FileJob* JobQueue::try_pop() {
    std::lock_guard lock(m_);
    if (aborted() || pending_.empty()) return nullptr;
    FileJob* job = pending_.back();
    pending_.pop_back();
    return job;
}

FileJob* JobQueue::pop() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return closed_ || !pending_.empty() || aborted(); });
    if (aborted() || pending_.empty()) return nullptr;
    FileJob* job = pending_.back();
    pending_.pop_back();
    return job;
}

void JobQueue::abort() noexcept {
    {
        std::lock_guard lock(m_);
        abort_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
    done_cv_.notify_all();
}

void JobQueue::done(FileJob& job) {
    {
        std::lock_guard lock(m_);
        job.done.store(true, std::memory_order_release);
    }
    done_cv_.notify_all();
}

bool JobQueue::wait_done(FileJob& job) {
    if (job.done.load(std::memory_order_acquire)) return true;
    std::unique_lock lock(m_);
    done_cv_.wait(lock, [&] { return job.done.load(std::memory_order_acquire) || aborted(); });
    return job.done.load(std::memory_order_acquire);
}

void hash_until_drained(int root_fd, JobQueue& queue) {
    while (FileJob* job = queue.pop()) {
        hash_job(root_fd, *job, queue.abort_flag());
        if (job->error) queue.abort();
        queue.done(*job);
    }
}

}  // namespace layerlock::baseline::detail
