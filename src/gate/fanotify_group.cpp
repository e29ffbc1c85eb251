// SPDX-License-Identifier: Apache-2.0
#include "layerlock/gate/fanotify_group.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace layerlock::gate {

using base::Error;
using base::Result;
using base::unexpected;

Result<FanotifyGroup> FanotifyGroup::open() {
    // Unlimited queue and marks: permission events must never be dropped, and the
    // number of marks is bounded by layerlock itself (containers, ignore cap).
    // Blocking reads: the gate's reader sleeps in read() (see gate/reader_wakeup.hpp).
    unsigned flags = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS;
    int fd = ::fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) {  // O_NOATIME needs ownership or CAP_FOWNER
        fd = ::fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    }
    if (fd < 0) return unexpected(Error::from_errno("fanotify_init"));
    return FanotifyGroup(base::UniqueFd(fd));
}

namespace {

// "/proc/self/fd/N": a path fanotify_mark resolves to the fd's own file (an
// O_PATH fd included, which fanotify_mark refuses as a dirfd).
std::string fd_link(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

Result<void> FanotifyGroup::mark_filesystem(int dir_fd, bool opens) {
    if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask(opens), dir_fd, nullptr) != 0)
        return unexpected(Error::from_errno("fanotify_mark filesystem"));
    return {};
}

Result<void> FanotifyGroup::unmark_filesystem(int dir_fd) {
    if (::fanotify_mark(fd_.get(), FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, mask(true), dir_fd, nullptr) != 0)
        return unexpected(Error::from_errno("fanotify_mark remove"));
    return {};
}

Result<void> FanotifyGroup::set_filesystem_opens(int dir_fd, bool opens) {
    const unsigned op = opens ? FAN_MARK_ADD : FAN_MARK_REMOVE;
    if (::fanotify_mark(fd_.get(), op | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM, dir_fd, nullptr) != 0)
        return unexpected(Error::from_errno("fanotify_mark filesystem opens"));
    return {};
}

Result<void> FanotifyGroup::mark_mount(int path_fd, bool opens) {
    if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_MOUNT, mask(opens), AT_FDCWD, fd_link(path_fd).c_str()) != 0)
        return unexpected(Error::from_errno("fanotify_mark mount"));
    return {};
}

Result<void> FanotifyGroup::set_mount_opens(int path_fd, bool opens) {
    const unsigned op = opens ? FAN_MARK_ADD : FAN_MARK_REMOVE;
    if (::fanotify_mark(fd_.get(), op | FAN_MARK_MOUNT, FAN_OPEN_PERM, AT_FDCWD, fd_link(path_fd).c_str()) != 0)
        return unexpected(Error::from_errno("fanotify_mark mount opens"));
    return {};
}

void FanotifyGroup::flush_all() noexcept {
    ::fanotify_mark(fd_.get(), FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, nullptr);
    ::fanotify_mark(fd_.get(), FAN_MARK_FLUSH | FAN_MARK_MOUNT, 0, AT_FDCWD, nullptr);
    flush_inode_marks();
}

Result<void> FanotifyGroup::ignore_inode(int file_fd) {
    if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_IGNORE, FAN_OPEN_EXEC_PERM,
                        file_fd, nullptr) != 0)
        return unexpected(Error::from_errno("fanotify_mark ignore"));
    return {};
}

void FanotifyGroup::flush_inode_marks() noexcept {
    ::fanotify_mark(fd_.get(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr);
}

Result<dev_t> check_markable(int dir_fd, const dev_t* host_devs, std::size_t n_host_devs) {
    struct statfs sfs{};
    if (::fstatfs(dir_fd, &sfs) != 0) return unexpected(Error::from_errno("fstatfs"));
    if (sfs.f_type != OVERLAYFS_SUPER_MAGIC)
        return unexpected(Error::invalid("not an overlay filesystem"));
    struct stat st{};
    if (::fstat(dir_fd, &st) != 0) return unexpected(Error::from_errno("fstat"));
    for (std::size_t i = 0; i < n_host_devs; ++i)
        if (host_devs[i] == st.st_dev)
            return unexpected(Error{std::make_error_code(std::errc::operation_not_permitted),
                                    "filesystem is one of the host's own, never marked"});
    return st.st_dev;
}

}  // namespace layerlock::gate
