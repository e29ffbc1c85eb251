// SPDX-License-Identifier: Apache-2.0
// Small filesystem primitives used wherever layerlock touches container content.
// open_beneath() is the only way a path taken from a container is opened: it
// resolves strictly below a directory fd, never follows a symlink or crosses a
// mount, so a hostile layer cannot make the daemon read a host file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::base {

// Opens `relative` (leading '/' ignored) strictly beneath `dirfd`; O_CLOEXEC and
// O_NOFOLLOW are always added. ENOENT, ENOTDIR, ELOOP, EXDEV come back as errors.
// openat2 (RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV); where it is refused
// with ENOSYS (a seccomp filter) or the path is longer than PATH_MAX, the same
// rules are kept one component at a time (and ".." is refused outright).
Result<UniqueFd> open_beneath(int dirfd, std::string_view relative, int flags);
// False once openat2 was refused with ENOSYS: open_beneath walks components.
bool openat2_available();

// Opens a directory the daemon was configured with or discovered (O_PATH-free,
// O_DIRECTORY|O_CLOEXEC). Absolute paths only.
Result<UniqueFd> open_dir(const std::string& path);

// Reads a whole small file (mount table, /proc entries, config). Capped at `limit`.
Result<std::string> read_file(const std::string& path, std::size_t limit = 16u << 20);

// The same for a file an operator names (configuration, keys): refused unless it
// is a regular file (a FIFO or a device would block or never end); opened
// non-blocking so that the check itself cannot hang.
Result<std::string> read_regular_file(const std::string& path, std::size_t limit);

// The id of the mount an fd (O_PATH included) is on: `unique` asks for the id
// that is never reused (statx STATX_MNT_ID_UNIQUE, Linux 6.8), falling back to
// the mountinfo id; 0 when unknown.
std::uint64_t mount_id_of(int fd, bool unique);

// The path an open fd refers to, as the kernel reports it (/proc/self/fd/N).
Result<std::string> fd_path(int fd);

// True when the first `size` bytes of two open regular files are equal and
// neither ends earlier (pread from offset 0 in chunks: the fds' offsets are
// untouched; stops at the first differing chunk). ETIMEDOUT past the deadline.
// Memory bandwidth instead of SHA-256 speed: ~0.1 ms per MiB from the page cache.
Result<bool> same_content(int a, int b, std::uint64_t size,
                          std::chrono::steady_clock::time_point deadline =
                              std::chrono::steady_clock::time_point::max());

}  // namespace layerlock::base
