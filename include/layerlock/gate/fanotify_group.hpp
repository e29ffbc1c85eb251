// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrapper over one fanotify group of class FAN_CLASS_CONTENT that asks
// FAN_OPEN_EXEC_PERM (execs) and, where the code-open gate is on, FAN_OPEN_PERM
// (opens). It owns the group fd and the marks; it decides nothing.
// sys/fanotify.h stays in src/gate. Marks are placed through an O_PATH fd of the
// object that was checked, never through a path that could be swapped.
#pragma once

#include <sys/fanotify.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/gate/direct_syscall.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::gate {

class FanotifyGroup {
public:
    static base::Result<FanotifyGroup> open();

    int fd() const noexcept { return fd_.get(); }

    // The events a mark asks for: execs always; opens too with the code gate on.
    static std::uint64_t mask(bool opens) noexcept {
        return FAN_OPEN_EXEC_PERM | (opens ? FAN_OPEN_PERM : 0);
    }

    // Filesystem mark on the superblock of `dir_fd` (an O_RDONLY/O_DIRECTORY fd of an
    // overlay mount point). Every copy of the mount, in every mount namespace, shares it.
    base::Result<void> mark_filesystem(int dir_fd, bool opens = false);
    base::Result<void> unmark_filesystem(int dir_fd);
    // Turns the opens of an existing filesystem mark on or off (the code gate changed).
    base::Result<void> set_filesystem_opens(int dir_fd, bool opens);
    // Mount mark on the one mount `path_fd` (any fd, O_PATH included, of a file or
    // directory on it) belongs to: that mount only, never other mounts of the same
    // filesystem (the host's view of a bind-mounted directory stays ungated).
    base::Result<void> mark_mount(int path_fd, bool opens);
    base::Result<void> set_mount_opens(int path_fd, bool opens);
    // Removes every filesystem mark and every inode (ignore) mark.
    void flush_all() noexcept;

    // Kernel stops asking about this inode until it is modified (no SURV_MODIFY).
    base::Result<void> ignore_inode(int file_fd);
    void flush_inode_marks() noexcept;

    // Writes the kernel's answer for one permission event (inline, and an inline
    // system call: the reader's warm path answers through it).
    static bool respond(int group_fd, int event_fd, model::Action a) noexcept {
        static_assert(sizeof(fanotify_response) == 8);
        const fanotify_response r{event_fd, a == model::Action::Deny ? __u32{FAN_DENY} : __u32{FAN_ALLOW}};
        long n;
        do {
            n = direct::write(group_fd, &r, sizeof r);
        } while (n == -EINTR);
        return n == static_cast<long>(sizeof r);
    }

private:
    explicit FanotifyGroup(base::UniqueFd fd) : fd_(std::move(fd)) {}
    base::UniqueFd fd_;
};

// Checks that `dir_fd` is an overlayfs mount whose device is not one of the
// host's own (`/`, `/usr`, `/etc`, `/var`, the daemon's state directory): the last
// guard before a filesystem mark. EPERM: one of the host's own (a refusal that
// lasts); EINVAL: not overlayfs (yet, or any more: the mount may be settling).
base::Result<dev_t> check_markable(int dir_fd, const dev_t* host_devs, std::size_t n_host_devs);

}  // namespace layerlock::gate
