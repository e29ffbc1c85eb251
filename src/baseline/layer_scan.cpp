// SPDX-License-Identifier: Apache-2.0
// The walking half of a layer import. Directories are opened one at a time beneath
// the layer root (openat2 RESOLVE_BENEATH|NO_SYMLINKS, so no symlink is followed
// and the walk cannot leave the tree, however deep or hostile its names), listed
// with getdents64, and every name classified with fstatat(AT_SYMLINK_NOFOLLOW).
// Nothing but directories is opened here: symlinks are read with readlinkat,
// whiteout xattrs through /proc/self/fd/<dir>/<name> with lgetxattr, and FIFOs,
// sockets and devices are recorded from their lstat alone. Regular files go to the
// hash pool as they are found. No SQLite here.
#include "layer_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <new>

#include "layerlock/base/escape.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::baseline::detail {
namespace {

constexpr const char* kOpaqueXattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
constexpr const char* kWhiteoutXattrs[] = {"trusted.overlay.whiteout", "user.overlay.whiteout"};
constexpr std::size_t kDirBuffer = 64 * 1024;

// "y" marks an opaque directory; "x" (kernel >= 6.7) only says that the directory
// holds xattr whiteouts and is not opaque.
bool has_opaque_xattr(int dirfd) {
    for (const char* name : kOpaqueXattrs) {
        char v[2];
        if (::fgetxattr(dirfd, name, v, sizeof v) == 1 && v[0] == 'y') return true;
    }
    return false;
}

bool has_whiteout_xattr(int dirfd, const char* name) {
    std::string at = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    for (const char* x : kWhiteoutXattrs)
        if (::lgetxattr(at.c_str(), x, nullptr, 0) >= 0) return true;
    return false;
}

base::Unexpected<base::Error> fail(const char* what, const std::string& path, int err = errno) {
    return base::unexpected(base::Error::from_errno(std::string(what) + " " + base::escape(path), err));
}

class Walker {
public:
    Walker(int root_fd, ScanResult& out, std::deque<FileJob>& jobs, JobQueue& queue)
        : root_fd_(root_fd), out_(out), jobs_(jobs), queue_(queue) {}
    base::Result<void> run();

private:
    struct Pending {
        std::string path;  // absolute inside the layer; "" for the root
        struct stat seen {};
    };
    base::Result<void> visit(const Pending& dir);
    base::Result<void> list(int dirfd, const std::string& path);
    base::Result<void> add_child(int dirfd, const std::string& dir_path, const char* name);
    base::Result<void> add_symlink(int dirfd, const char* name, Entry& e);
    void add_regular(int dirfd, const char* name, Entry e, const struct stat& st);

    int root_fd_;
    dev_t root_dev_ = 0;
    ScanResult& out_;
    std::deque<FileJob>& jobs_;
    JobQueue& queue_;
    std::vector<Pending> stack_;
};

base::Result<void> Walker::run() {
    struct stat root {};
    if (::fstat(root_fd_, &root) != 0) return fail("fstat", "/");
    root_dev_ = root.st_dev;
    stack_.push_back({"", root});
    while (!stack_.empty()) {
        if (queue_.aborted()) return {};  // a hasher failed; its error is reported
        Pending dir = std::move(stack_.back());
        stack_.pop_back();
        if (auto r = visit(dir); !r) return r;
    }
    return {};
}

base::Result<void> Walker::visit(const Pending& dir) {
    std::string rel = dir.path.empty() ? std::string(".") : dir.path.substr(1);
    auto fd = open_below(root_fd_, rel, O_RDONLY | O_DIRECTORY);
    if (!fd) return fail("open", dir.path, fd.error().code.value());
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail("fstat", dir.path);
    if (st.st_ino != dir.seen.st_ino || st.st_dev != dir.seen.st_dev)
        return fail("replaced during import", dir.path, ESTALE);
    if (!dir.path.empty()) {
        Entry e;
        e.path = dir.path;
        e.kind = has_opaque_xattr(fd->get()) ? EntryKind::OpaqueDirectory : EntryKind::Directory;
        e.mode = st.st_mode;
        out_.entries.push_back(std::move(e));
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
        if (st.st_dev == root_dev_) {
            stack_.push_back({std::move(e.path), st});
            return {};
        }
        e.kind = EntryKind::Directory;  // a mount point: overlay sees the covered dir, so do we
    } else if (S_ISLNK(st.st_mode)) {
        if (auto r = add_symlink(dirfd, name, e); !r) return r;
    } else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
        e.kind = EntryKind::Whiteout;
    } else if (S_ISREG(st.st_mode)) {
        add_regular(dirfd, name, std::move(e), st);
        return {};
    } else {
        e.kind = EntryKind::Other;  // FIFO, socket, device: never opened
        e.size = static_cast<std::uint64_t>(st.st_size);
    }
    out_.entries.push_back(std::move(e));
    return {};
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
        if (has_whiteout_xattr(dirfd, name)) e.kind = EntryKind::Whiteout;
        else e.sha256 = digest::sha256_bytes("", 0);
        out_.entries.push_back(std::move(e));
        return;
    }
    FileJob job;
    job.entry = out_.entries.size();
    job.relative = e.path.substr(1);
    job.seen = st;
    out_.entries.push_back(std::move(e));
    jobs_.push_back(std::move(job));
    queue_.push(&jobs_.back());
}

// First real error of the hashers (jobs cancelled because of it say ECANCELED).
std::optional<base::Error> first_job_error(const std::deque<FileJob>& jobs) {
    std::optional<base::Error> any;
    for (const FileJob& job : jobs) {
        if (!job.error) continue;
        if (job.error->code != std::errc::operation_canceled) return job.error;
        if (!any) any = job.error;
    }
    return any;
}

void apply_jobs(const std::deque<FileJob>& jobs, ScanResult& out) {
    for (const FileJob& job : jobs) {
        Entry& e = out.entries[job.entry];
        e.sha256 = job.sha256;
        e.size = job.bytes;
        e.mode = job.mode;
        out.stats.bytes += job.bytes;
    }
    for (const Entry& e : out.entries)
        if (e.kind == EntryKind::Regular) ++out.stats.files;
}

void sort_by_path(ScanResult& out) {
    out.by_path.resize(out.entries.size());
    for (std::uint32_t i = 0; i < out.by_path.size(); ++i) out.by_path[i] = i;
    std::sort(out.by_path.begin(), out.by_path.end(),
              [&](std::uint32_t a, std::uint32_t b) { return out.entries[a].path < out.entries[b].path; });
}

}  // namespace

base::Result<ScanResult> scan_layer(int root_fd, unsigned threads) {
    auto start = std::chrono::steady_clock::now();
    ScanResult out;
    std::deque<FileJob> jobs;
    JobQueue queue;
    base::Result<void> walked;
    {
        HashPool pool(root_fd, queue, threads < 1 ? 1 : threads);
        walked = Walker(root_fd, out, jobs, queue).run();
        if (walked) {
            queue.close();
            sort_by_path(out);  // on this thread while the others hash: off the serial tail
            pool.work();
        } else {
            queue.abort();
        }
    }  // joins the hashers
    if (!walked) return base::unexpected(walked.error());
    if (auto err = first_job_error(jobs)) return base::unexpected(*err);
    apply_jobs(jobs, out);
    out.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

}  // namespace layerlock::baseline::detail
