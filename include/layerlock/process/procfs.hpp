// SPDX-License-Identifier: Apache-2.0
// What /proc tells about one process, as the process monitor, alerts and the
// forensics bundle need it. Every read is of the process's own /proc entries;
// values are raw bytes (escaped by whoever prints them). A process that exits
// while it is read gives what was read so far (ok = false when nothing).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace layerlock::process {

struct ProcessInfo {
    bool ok = false;
    pid_t pid = 0, ppid = 0;
    std::string comm;
    std::string exe;            // readlink /proc/pid/exe, " (deleted)" kept
    std::string cmdline;        // NUL-separated argv
    std::int64_t uid = -1;      // real uid
    std::uint64_t start_time = 0;   // clock ticks after boot (/proc/pid/stat field 22): with pid, a process's identity
    dev_t root_dev = 0;         // st_dev of /proc/pid/root: the container's overlay for its processes
    std::uint64_t mnt_ns = 0, net_ns = 0;
};

// comm, ppid, start time and root device (cheap: no process memory).
ProcessInfo read_basic(pid_t pid);
// Adds the mount and network namespaces.
void read_namespaces(ProcessInfo& p);
// Adds exe, uid and, with `argv`, the cmdline (which reads the process's memory).
void read_details(ProcessInfo& p, bool argv);
// The environment (NUL-separated), for forensics; empty when unreadable.
std::string read_environ(pid_t pid);

// "/memfd:NAME (deleted)": an executable that lives in memory only.
bool is_memfd_exe(const std::string& exe);
// An executable whose file was deleted (a memfd too).
bool is_deleted_exe(const std::string& exe);
// argv joined by spaces (NUL-separated in /proc), for one-line alerts.
std::string cmdline_text(const std::string& nul_separated);

// The process and its ancestors, nearest first, while `same_root` holds for them
// (stops at the container's boundary: its init's parent is the engine's shim), at
// most `max_depth`.
std::vector<ProcessInfo> ancestry(pid_t pid, dev_t same_root, std::size_t max_depth = 16);

// The name of `uid` in a passwd file's text ("name:x:uid:gid:..."); empty when absent.
std::string user_in_passwd(std::string_view passwd, std::int64_t uid);
// The name of `uid` in the /etc/passwd of the process's root (its container's),
// opened inside that root (symlinks resolved within it, a FIFO or a file over
// 1 MiB refused); empty when unknown.
std::string user_name(pid_t pid, std::int64_t uid);

// Every process whose root is on `root_dev` (a container's processes), pid order.
std::vector<pid_t> processes_with_root(dev_t root_dev);

}  // namespace layerlock::process
