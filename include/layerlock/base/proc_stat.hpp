// SPDX-License-Identifier: Apache-2.0
// One parser of /proc/<pid>/stat for every module that reads it (the gate's
// caller names, the process monitor, the baseline build lock's owner check).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace layerlock::base {

struct ProcStat {
    std::string comm;              // at most 15 bytes; may hold spaces and ')'
    char state = 0;
    pid_t ppid = 0;
    std::uint64_t start_time = 0;  // field 22: clock ticks after boot; with the pid, a process's identity
};

// "pid (comm) state ppid ... starttime(22) ...": comm ends at the last ')'.
// nullopt when the text does not hold every field up to the start time.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// Reads and parses /proc/<pid>/stat (nullopt: gone, or unreadable).
std::optional<ProcStat> read_proc_stat(pid_t pid);

}  // namespace layerlock::base
