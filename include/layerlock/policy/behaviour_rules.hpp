// SPDX-License-Identifier: Apache-2.0
// Pure rules of behaviour drift: what a new process in a container is, from what
// it runs and who started it. No syscalls: the process monitor gathers the facts.
//   its executable lives in memory only (memfd) or was deleted      -> fileless (critical)
//   it is a package manager (apt, dpkg, apk, yum, dnf, rpm, pip, npm, gem, ...) -> package (medium)
//   it is a shell whose parent is a process of the container that is
//   not a shell (a web server's child; not an operator's `docker exec
//   sh`, whose parent is the engine, outside the container)          -> shell (medium)
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/reasons.hpp"

namespace layerlock::policy {

struct BehaviourRules {
    std::vector<std::string> shells;            // fnmatch globs on comm or executable name
    std::vector<std::string> package_managers;  // the same
    model::Severity fileless = model::Severity::Critical, shell = model::Severity::Medium,
                    package = model::Severity::Medium;
    std::vector<config::BehaviourAllow> allow;  // [[behaviour_allow]]
};

struct NewProcess {
    std::string_view comm, exe;          // exe as /proc/<pid>/exe reads (" (deleted)" kept)
    bool parent_in_container = false;    // its parent's root is the container's
    std::string_view parent_comm, parent_exe;
};

struct BehaviourDrift {
    BehaviourKind kind = BehaviourKind::Shell;
    model::Severity severity;
    BehaviourReason reason = BehaviourReason::ShellFromService;
};

std::optional<BehaviourDrift> classify_process(const NewProcess& p, const BehaviourRules& rules);

// True when a [[behaviour_allow]] rule lets this shell or package manager run
// unalerted in a container of this image and name (never a fileless process).
bool behaviour_allowed(const BehaviourDrift& d, const NewProcess& p, const BehaviourRules& rules,
                       std::string_view image, std::string_view container);

// True when comm or the executable's file name matches one of the globs.
bool matches_process(std::string_view comm, std::string_view exe, const std::vector<std::string>& globs);

}  // namespace layerlock::policy
