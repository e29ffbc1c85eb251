// SPDX-License-Identifier: Apache-2.0
#include "layerlock/base/proc_stat.hpp"

#include <cstdio>

#include "layerlock/base/fs.hpp"

namespace layerlock::base {

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    const auto open = text.find('('), close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
    ProcStat p;
    p.comm = std::string(text.substr(open + 1, close - open - 1));
    // Fields after ')': state(3) ppid(4) ... starttime(22).
    const std::string rest(text.substr(close + 1));
    int ppid = 0;
    unsigned long long start = 0;
    if (std::sscanf(rest.c_str(), " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &p.state, &ppid, &start) != 3)
        return std::nullopt;
    p.ppid = ppid;
    p.start_time = start;
    return p;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!text) return std::nullopt;
    return parse_proc_stat(*text);
}

}  // namespace layerlock::base
