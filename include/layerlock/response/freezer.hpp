// SPDX-License-Identifier: Apache-2.0
// Freezing a container's cgroup, as `docker pause` does: every process of it stops
// where it is (no signal it could catch) until thawed. cgroup v1's freezer
// (freezer.state FROZEN/THAWED) where the process has one, else cgroup v2's
// cgroup.freeze. The cgroup is found from a process of the container.
#pragma once

#include <sys/types.h>

#include <string>

#include "layerlock/base/result.hpp"

namespace layerlock::response {

// The control file that freezes the cgroup of `pid` ("/sys/fs/cgroup/freezer/.../freezer.state"
// or ".../cgroup.freeze"). `root`: where the cgroup filesystems are mounted.
base::Result<std::string> freezer_of(pid_t pid, const std::string& root = "/sys/fs/cgroup");
base::Result<void> set_frozen(const std::string& control, bool frozen);
// True once the cgroup reports it is frozen (v1 FROZEN; v2 "frozen 1" in cgroup.events).
bool is_frozen(const std::string& control);

}  // namespace layerlock::response
