// SPDX-License-Identifier: Apache-2.0
#include "layerlock/base/fs.hpp"

#include "layerlock/base/escape.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace layerlock::base {

namespace {

std::uint64_t mount_of(int fd) { return mount_id_of(fd, false); }

// open_beneath's rules without openat2, one component at a time: every
// component but the last is opened O_PATH|O_DIRECTORY|O_NOFOLLOW (a symlink
// fails), "." is skipped and ".." refused (EXDEV: stricter than RESOLVE_BENEATH,
// which allows a ".." that stays beneath), each component must be on `dirfd`'s
// mount (EXDEV, as RESOLVE_NO_XDEV) and the last is opened O_NOFOLLOW.
Result<UniqueFd> open_by_components(int dirfd, std::string_view rel, int flags) {
    const std::uint64_t mount = mount_of(dirfd);
    if (mount == 0) return unexpected(Error::from_errno("statx", errno ? errno : EBADF));
    UniqueFd cur;
    int at = dirfd;
    for (;;) {
        const std::size_t slash = rel.find('/');
        const std::string name(rel.substr(0, slash));
        const bool last = slash == std::string_view::npos || rel.find_first_not_of('/', slash) == std::string_view::npos;
        if (name == "..") return unexpected(Error::from_errno("open .. beneath", EXDEV));
        if (!(name.empty() || name == ".") || last) {
            const std::string component = name.empty() ? "." : name;
            const int f = last ? (flags | O_NOFOLLOW | O_CLOEXEC) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            UniqueFd next(::openat(at, component.c_str(), f));
            if (!next) {
                int err = errno;
                struct stat st {};
                // A symlink where a directory is needed: ELOOP, as openat2 says.
                if (err == ENOTDIR && !last && ::fstatat(at, component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISLNK(st.st_mode))
                    err = ELOOP;
                return unexpected(Error::from_errno("openat " + escape(component), err));
            }
            if (mount_of(next.get()) != mount) return unexpected(Error::from_errno("openat " + escape(component), EXDEV));
            if (last) return next;   // a trailing symlink: ELOOP, or with O_PATH the link itself (as openat2)
            cur = std::move(next);
            at = cur.get();
        }
        rel.remove_prefix(slash + 1);
    }
}

// Cleared once openat2 answers ENOSYS (a seccomp filter: systemd's
// RestrictSUIDSGID=, a container's profile; or a kernel before 5.6).
std::atomic<bool> g_openat2{true};

}  // namespace

Result<UniqueFd> open_beneath(int dirfd, std::string_view relative, int flags) {
    while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
    std::string rel = relative.empty() ? std::string(".") : std::string(relative);
    if (!g_openat2.load(std::memory_order_relaxed)) return open_by_components(dirfd, rel, flags);
    open_how how{};
    how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC | O_NOFOLLOW);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd;
    do {
        fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd < 0 && errno == ENOSYS) {
        g_openat2.store(false, std::memory_order_relaxed);
        return open_by_components(dirfd, rel, flags);
    }
    // Longer than PATH_MAX (a deep tree in a layer): the same rules, a component at a time.
    if (fd < 0 && errno == ENAMETOOLONG) return open_by_components(dirfd, rel, flags);
    if (fd < 0) return unexpected(Error::from_errno("openat2 " + escape(rel)));
    return UniqueFd(static_cast<int>(fd));
}

bool openat2_available() { return g_openat2.load(std::memory_order_relaxed); }

Result<UniqueFd> open_dir(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return unexpected(Error::from_errno("open " + path));
    return UniqueFd(fd);
}

namespace {
// Reads `fd` to its end; `path` names it in errors.
Result<std::string> read_all(int fd, const std::string& path, std::size_t limit) {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return unexpected(Error::from_errno("read " + path));
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > limit) return unexpected(Error::invalid(path + ": larger than limit"));
    }
    return out;
}
}  // namespace

Result<std::string> read_file(const std::string& path, std::size_t limit) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return unexpected(Error::from_errno("open " + path));
    return read_all(fd.get(), path, limit);
}

Result<std::string> read_regular_file(const std::string& path, std::size_t limit) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd) return unexpected(Error::from_errno("open " + path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return unexpected(Error::from_errno("stat " + path));
    if (!S_ISREG(st.st_mode)) return unexpected(Error::invalid(path + ": not a regular file"));
    if (static_cast<std::uint64_t>(st.st_size) > limit)
        return unexpected(Error::invalid(path + ": larger than " + std::to_string(limit) + " bytes"));
    return read_all(fd.get(), path, limit);
}

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U   // Linux 6.8: a mount id never reused
#endif

std::uint64_t mount_id_of(int fd, bool unique) {
    struct statx stx{};
    if (::statx(fd, "", AT_EMPTY_PATH, unique ? STATX_MNT_ID_UNIQUE : STATX_MNT_ID, &stx) != 0) return 0;
    if (stx.stx_mask & ((unique ? STATX_MNT_ID_UNIQUE : 0) | STATX_MNT_ID)) return stx.stx_mnt_id;
    return 0;
}

Result<std::string> fd_path(int fd) {
    char link[64];
    char buf[8192];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = ::readlink(link, buf, sizeof buf);
    if (n < 0) return unexpected(Error::from_errno("readlink fd"));
    if (static_cast<std::size_t>(n) == sizeof buf)
        return unexpected(Error::invalid("path of fd too long"));
    return std::string(buf, static_cast<std::size_t>(n));
}

namespace {

// Reads up to `len` bytes at `off`, retrying short reads; fewer only at the end.
ssize_t pread_all(int fd, unsigned char* buf, std::size_t len, std::uint64_t off) {
    std::size_t got = 0;
    while (got < len) {
        ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(got);
}

}  // namespace

Result<bool> same_content(int a, int b, std::uint64_t size, std::chrono::steady_clock::time_point deadline) {
    constexpr std::size_t kChunk = std::size_t{256} << 10;
    thread_local std::vector<unsigned char> x(kChunk), y(kChunk);
    for (std::uint64_t off = 0; off < size; off += kChunk) {
        if (std::chrono::steady_clock::now() > deadline)
            return unexpected(Error::from_errno("compare", ETIMEDOUT));
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - off));
        ssize_t na = pread_all(a, x.data(), want, off);
        if (na < 0) return unexpected(Error::from_errno("pread"));
        ssize_t nb = pread_all(b, y.data(), want, off);
        if (nb < 0) return unexpected(Error::from_errno("pread"));
        if (static_cast<std::size_t>(na) != want || static_cast<std::size_t>(nb) != want) return false;
        if (std::memcmp(x.data(), y.data(), want) != 0) return false;
    }
    return true;
}

}  // namespace layerlock::base
