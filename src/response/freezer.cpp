// SPDX-License-Identifier: Apache-2.0
#include "layerlock/response/freezer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "layerlock/base/fs.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::response {
namespace {

using base::Error;
using base::unexpected;

bool ends_with_file(const std::string& path, std::string_view name) { return path.ends_with(name); }

// A cgroup path from /proc/<pid>/cgroup never climbs out of its hierarchy.
bool safe_cgroup_path(const std::string& p) {
    return !p.empty() && p.front() == '/' && p.find("/../") == std::string::npos && !p.ends_with("/..");
}

}  // namespace

base::Result<std::string> freezer_of(pid_t pid, const std::string& root) {
    auto text = base::read_file("/proc/" + std::to_string(pid) + "/cgroup", 1 << 16);
    if (!text) return unexpected(text.error());
    std::istringstream in(*text);
    std::string line, unified;
    while (std::getline(in, line)) {
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const auto controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (!safe_cgroup_path(path)) continue;
        if (controllers == "freezer") return root + "/freezer" + path + "/freezer.state";
        if (line.starts_with("0::")) unified = path;
    }
    if (!unified.empty()) {
        // cgroup v2 alone at `root`, or beside v1 at root/unified (hybrid).
        for (const auto& base : {root, root + "/unified"})
            if (::access((base + unified + "/cgroup.freeze").c_str(), F_OK) == 0) return base + unified + "/cgroup.freeze";
    }
    return unexpected(Error::plain("no freezer for the cgroup of pid " + std::to_string(pid)));
}

base::Result<void> set_frozen(const std::string& control, bool frozen) {
    const bool v1 = ends_with_file(control, "freezer.state");
    const std::string value = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
    base::UniqueFd fd(::open(control.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
        return unexpected(Error::from_errno("write " + control));
    return {};
}

bool is_frozen(const std::string& control) {
    if (ends_with_file(control, "freezer.state")) {
        auto state = base::read_file(control, 64);
        return state && state->starts_with("FROZEN");
    }
    auto events = base::read_file(control.substr(0, control.rfind('/')) + "/cgroup.events", 4096);
    return events && events->find("frozen 1") != std::string::npos;
}

}  // namespace layerlock::response
