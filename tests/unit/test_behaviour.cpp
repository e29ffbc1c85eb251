// SPDX-License-Identifier: Apache-2.0
// Unit tests of behaviour drift (policy/behaviour_rules.hpp) and of which response
// actions an alert gets (response::actions_for).
#include <doctest/doctest.h>

#include "layerlock/policy/behaviour_rules.hpp"

using namespace layerlock;
using policy::NewProcess;

namespace {
const policy::BehaviourRules kRules{{"sh", "ash", "bash"}, {"apt", "apt-get", "dpkg", "pip*", "npm"},
                                    model::Severity::Critical, model::Severity::Medium, model::Severity::Medium, {}};
}

TEST_CASE("a process running from memory or from a deleted file is fileless") {
    auto memfd = policy::classify_process({"x", "/memfd:payload (deleted)", true, "sh", "/bin/busybox"}, kRules);
    REQUIRE(memfd);
    CHECK(memfd->kind == policy::BehaviourKind::Fileless);
    CHECK(memfd->reason == policy::BehaviourReason::Memfd);
    CHECK(memfd->severity == model::Severity::Critical);
    auto deleted = policy::classify_process({"tool", "/tmp/tool (deleted)", true, "sh", "/bin/busybox"}, kRules);
    REQUIRE(deleted);
    CHECK(deleted->reason == policy::BehaviourReason::DeletedExecutable);
}

TEST_CASE("a package manager is package drift whoever starts it, named by comm or executable") {
    CHECK(policy::classify_process({"apt-get", "/usr/bin/apt-get", false, "", ""}, kRules)->kind == policy::BehaviourKind::Package);
    CHECK(policy::classify_process({"python3", "/usr/bin/pip3.11", true, "sh", "/bin/sh"}, kRules)->kind == policy::BehaviourKind::Package);
    CHECK_FALSE(policy::classify_process({"apt-cache-x", "/usr/bin/apt-cache-x", true, "sh", "/bin/sh"}, kRules));
}

TEST_CASE("a shell is drift when a service of the container starts it, not a shell nor the engine") {
    auto from_service = policy::classify_process({"sh", "/bin/busybox", true, "nginx", "/usr/sbin/nginx"}, kRules);
    REQUIRE(from_service);
    CHECK(from_service->kind == policy::BehaviourKind::Shell);
    CHECK(from_service->reason == policy::BehaviourReason::ShellFromService);
    // docker exec: the parent is the engine's, outside the container.
    CHECK_FALSE(policy::classify_process({"sh", "/bin/busybox", false, "runc", "/usr/sbin/runc"}, kRules));
    // A shell started by a shell (a script's subshell, an operator's session).
    CHECK_FALSE(policy::classify_process({"sh", "/bin/busybox", true, "bash", "/bin/bash"}, kRules));
    CHECK_FALSE(policy::classify_process({"nginx", "/usr/sbin/nginx", true, "sh", "/bin/sh"}, kRules));
}
