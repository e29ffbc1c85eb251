// SPDX-License-Identifier: Apache-2.0
#include "layerlock/baseline/overlay_format.hpp"

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

namespace layerlock::baseline::overlay {
namespace {

constexpr const char* kWhiteout[] = {"trusted.overlay.whiteout", "user.overlay.whiteout"};
constexpr const char* kOpaque[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
constexpr const char* kOrigin[] = {"trusted.overlay.origin", "user.overlay.origin"};

// getxattr on an fd; an O_PATH fd (EBADF for fgetxattr) through /proc/self/fd.
ssize_t fd_xattr(int fd, const char* name, void* value, std::size_t size) {
    ssize_t n = ::fgetxattr(fd, name, value, size);
    if (n >= 0 || errno != EBADF) return n;
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return ::getxattr(proc, name, value, size);
}

// True when the attribute exists (a value too large for `size` exists too).
bool present(ssize_t n) { return n >= 0 || errno == ERANGE; }

}  // namespace

bool whiteout_device(const struct stat& st) {
    return S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0;
}

bool whiteout_xattr(int fd, const struct stat& st) {
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
    for (const char* x : kWhiteout)
        if (present(fd_xattr(fd, x, nullptr, 0))) return true;
    return false;
}

bool whiteout_xattr_at(int dirfd, const char* name, const struct stat& st) {
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
    const std::string at = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    for (const char* x : kWhiteout)
        if (present(::lgetxattr(at.c_str(), x, nullptr, 0))) return true;
    return false;
}

bool opaque(int dirfd) {
    // Most directories have no xattr at all: one syscall (EBADF for O_PATH: look).
    char names[512];
    const ssize_t n = ::flistxattr(dirfd, names, sizeof names);
    if (n == 0) return false;
    if (n > 0 && std::string_view(names, static_cast<std::size_t>(n)).find("overlay.opaque") == std::string_view::npos)
        return false;
    for (const char* name : kOpaque) {
        char v[2];
        if (fd_xattr(dirfd, name, v, sizeof v) == 1 && v[0] == 'y') return true;
    }
    return false;
}

bool has_origin(int fd) {
    for (const char* name : kOrigin) {
        char buf[256];
        if (present(fd_xattr(fd, name, buf, sizeof buf))) return true;
    }
    return false;
}

}  // namespace layerlock::baseline::overlay
