// SPDX-License-Identifier: Apache-2.0
// Facts about one executed file, learned from the event's fd and the container's
// layer directories: the path inside the container, whether the fd's inode is an
// image layer's own inode, whether an upper file carries overlayfs' copy-up
// origin marker, and the executing process's names. Syscalls only on the host
// filesystems that hold the layers (never on the marked overlay), all beneath
// the layer directory fds.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::gate {

// The executed file's path inside the container. `deleted` is set when the
// kernel reports the name as unlinked.
std::string container_path(int fd, const GatedContainer& c, bool* deleted);

// True when the fd's inode is provably the image layer's inode at `path`: the
// top-most lower layer holding `path` has an inode with the same number, ctime
// and size (overlayfs reports a lower inode's own attributes; a copy-up or any
// write gives a new ctime, which user space cannot forge).
bool served_from_lower(const GatedContainer& c, const std::string& path, const struct stat& st);

// Compares the executed file (`fd`, `size` bytes) byte for byte with the regular
// file at `path` in lower layer `layer` (index into c.lower_fds). nullopt when that
// file cannot be opened, is not a regular file of that size, or the comparison
// failed or ran past the deadline.
std::optional<bool> same_as_layer_file(const GatedContainer& c, int layer, const std::string& path, int fd,
                                       std::uint64_t size, std::chrono::steady_clock::time_point deadline);

// True when the upper layer's file at `path` carries the overlay origin xattr
// (the kernel copied it up from a lower file; a file written by a process has none).
bool has_overlay_origin(const GatedContainer& c, const std::string& path);

struct ProcessNames {
    std::string comm, parent_comm;
    std::string exe;    // its executable (as the process sees it), read after the answer
    pid_t ppid = 0;
    std::int64_t uid = -1;   // real uid, -1 unknown
    std::string cmdline;     // code opens: the opener's arguments joined by spaces (read on a worker)
};
// The process's comm, parent pid and uid (/proc/<pid>/stat and status): taken
// before a verdict is answered, while the process still waits in execve.
ProcessNames caller_names(pid_t pid);
// Adds the parent's comm (the parent outlives the answer to its child's exec) and
// the process's executable, when not known yet: after the answer, off the exec's path.
void add_parent_name(ProcessNames& n, pid_t pid);

// What the code-open gate needs to know about the process that opened a file:
// read from /proc before the answer, only for opens of files that are not the
// image's and could be code.
struct OpenerFacts {
    std::string comm;
    std::string exe;        // readlink of /proc/<pid>/exe (the container's view)
    std::string argv;       // /proc/<pid>/cmdline, NUL-separated
    std::string cwd;        // readlink of /proc/<pid>/cwd
};
std::string read_comm(pid_t pid);
std::string read_exe(pid_t pid);
// The process's real uid (/proc/<pid>/status); -1 when unknown.
std::int64_t read_uid(pid_t pid);
// Its arguments joined by spaces (reads the process's memory: never on the reader).
std::string read_cmdline(pid_t pid);
// argv reads the process's memory (its mmap lock): only off the reader thread.
void read_argv_and_cwd(pid_t pid, OpenerFacts& f);
// True when the process runs in the daemon's own mount namespace (a host process
// reading a container's files through the host's path to them).
bool in_host_mount_namespace(pid_t pid);

// How the process blocked in the open the event is about opened the file: write
// only (open/openat with O_WRONLY, or creat: it writes the file and does not read
// it, so the open is never code: a shell redirect that writes a .sh file), Read
// (O_RDONLY or O_RDWR, and whenever the flags cannot be told: /proc/<pid>/syscall
// needs CAP_SYS_PTRACE; openat2 keeps them in the caller's memory, which is not read
// here; io_uring opens: a read is what could run code, so unknown counts as one),
// or NotAsleep: the kernel says "running" while the opener has not gone to sleep yet
// (the event is queued, and read, before its opener waits) or was woken (each answer
// wakes every waiter of the group). Looked at again, yielding then sleeping, for up
// to `patience`. Takes no lock of the process but its exec lock, which an exec never
// holds while an open of it waits (safe on the reader).
enum class OpenAccess { WriteOnly, Read, NotAsleep };
OpenAccess open_access(pid_t pid, std::chrono::microseconds patience);

// The first bytes of the event's file (pread at 0, offset untouched); empty on error.
std::string read_head(int fd, std::size_t n);

// Both at once.
ProcessNames process_names(pid_t pid);

}  // namespace layerlock::gate
