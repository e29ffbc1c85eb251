// SPDX-License-Identifier: Apache-2.0
// Unit tests of the response rules: the first [[response]] block that matches an
// alert (kind glob, minimum severity, the container's mode, image and container
// globs) gives its actions; responses never trigger responses.
#include <doctest/doctest.h>

#include "layerlock/response/responder.hpp"

using namespace layerlock;

namespace {
model::DriftEvent an_alert(std::string kind, model::Severity sev, std::string container = "web-1") {
    model::DriftEvent e;
    e.kind = std::move(kind);
    e.severity = sev;
    e.container_name = std::move(container);
    e.image = "registry.example/app:1";
    return e;
}
config::ResponseRule rule(std::string kind, std::vector<std::string> actions) {
    config::ResponseRule r;
    r.kind = std::move(kind);
    r.actions = std::move(actions);
    return r;
}
}  // namespace

TEST_CASE("the first matching response block decides the actions") {
    auto strict = rule("fileless", {"quarantine", "forensics"});
    auto freeze_web = rule("*", {"freeze"});
    freeze_web.container = "web-*";
    freeze_web.min_severity = model::Severity::High;
    const std::vector<config::ResponseRule> rules = {strict, freeze_web};
    using model::Mode;
    CHECK(response::actions_for(rules, an_alert("fileless", model::Severity::Critical), Mode::Enforce) ==
          std::vector<std::string>{"quarantine", "forensics"});
    CHECK(response::actions_for(rules, an_alert("binary", model::Severity::Critical), Mode::Enforce) ==
          std::vector<std::string>{"freeze"});
    CHECK(response::actions_for(rules, an_alert("binary", model::Severity::Medium), Mode::Enforce).empty());   // below
    CHECK(response::actions_for(rules, an_alert("binary", model::Severity::Critical, "db-1"), Mode::Enforce).empty());
}

TEST_CASE("a response block can be limited to a mode, and responses never trigger responses") {
    auto only_enforce = rule("*", {"stop"});
    only_enforce.mode = "enforce";
    const std::vector<config::ResponseRule> rules = {only_enforce};
    CHECK(response::actions_for(rules, an_alert("shell", model::Severity::Medium), model::Mode::Monitor).empty());
    CHECK(response::actions_for(rules, an_alert("shell", model::Severity::Medium), model::Mode::Enforce).size() == 1);
    CHECK(response::actions_for(rules, an_alert("response", model::Severity::Critical), model::Mode::Enforce).empty());
}

TEST_CASE("learn mode disrupts nothing unless a block names it: no kill, freeze or stop, samples still kept") {
    const std::vector<config::ResponseRule> any_mode = {rule("*", {"kill", "freeze", "stop", "quarantine", "forensics"})};
    CHECK(response::actions_for(any_mode, an_alert("binary", model::Severity::Critical), model::Mode::Learn) ==
          std::vector<std::string>{"quarantine", "forensics"});
    CHECK(response::actions_for(any_mode, an_alert("binary", model::Severity::Critical), model::Mode::Enforce).size() == 5);
    auto learning = rule("*", {"kill"});
    learning.mode = "learn";
    CHECK(response::actions_for({learning}, an_alert("binary", model::Severity::Critical), model::Mode::Learn) ==
          std::vector<std::string>{"kill"});
}
