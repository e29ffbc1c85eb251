// SPDX-License-Identifier: Apache-2.0
// Unit tests of the operator's tuning: [[exec_allow]] and [[prohibit]]
// (policy/exec_rules.hpp), [[behaviour_allow]], learn mode in the code and mount
// decisions, and `allowlist suggest` (policy/suggest.hpp).
#include <doctest/doctest.h>
#include <fnmatch.h>

#include "layerlock/policy/behaviour_rules.hpp"
#include "layerlock/policy/code_rules.hpp"
#include "layerlock/policy/exec_rules.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/policy/suggest.hpp"

using namespace layerlock;

namespace {

config::ExecAllow allow_path(std::string path, std::string image = "", bool quiet = false) {
    config::ExecAllow a;
    a.path = std::move(path);
    a.image = std::move(image);
    a.quiet = quiet;
    return a;
}

model::DriftEvent learned(std::string kind, std::string path, std::string image, std::uint64_t count = 1) {
    model::DriftEvent e;
    e.kind = std::move(kind);
    e.action = "learned";
    e.path = std::move(path);
    e.image = std::move(image);
    e.container_name = "c1";
    e.comm = "sh";
    e.parent_comm = "make";
    e.count = count;
    e.time_ns = 1'700'000'000'000'000'000;
    return e;
}

bool matches(const std::string& glob, const std::string& s) { return ::fnmatch(glob.c_str(), s.c_str(), 0) == 0; }

}  // namespace

TEST_CASE("an exec allow rule matches by path glob, narrowed to image and container") {
    std::vector<config::ExecAllow> rules{allow_path("/tmp/build-*/tool", "ci:*")};
    policy::Subject in_ci{"/tmp/build-7/tool", {}, "job-1", "ci:3"};
    policy::Subject other_image{"/tmp/build-7/tool", {}, "job-1", "web:1"};
    policy::Subject other_path{"/tmp/x", {}, "job-1", "ci:3"};
    CHECK(policy::allowed_drift(rules, in_ci) == &rules[0]);
    CHECK(policy::allowed_drift(rules, other_image) == nullptr);
    CHECK(policy::allowed_drift(rules, other_path) == nullptr);
    CHECK(policy::allowed_drift({}, in_ci) == nullptr);
}

TEST_CASE("an exec allow rule by process matches any of the names given, and both keys must hold") {
    config::ExecAllow by_process;
    by_process.process = "gitlab-runner*";
    config::ExecAllow both = allow_path("/builds/*");
    both.process = "make";
    std::vector<config::ExecAllow> rules{by_process, both};
    policy::Subject ci{"/tmp/x", {"sh", "/bin/sh", "sh", "gitlab-runner-helper"}, "c", "i"};
    CHECK(policy::allowed_drift(rules, ci) == &rules[0]);
    policy::Subject make_in_builds{"/builds/a.out", {"make", "", "", "bash"}, "c", "i"};
    CHECK(policy::allowed_drift(rules, make_in_builds) == &rules[1]);
    policy::Subject shell_in_builds{"/builds/a.out", {"sh", "/bin/sh", "sh", "bash"}, "c", "i"};
    CHECK(policy::allowed_drift(rules, shell_in_builds) == nullptr);
    policy::Subject no_names{"/builds/a.out", {}, "c", "i"};
    CHECK(policy::allowed_drift(rules, no_names) == nullptr);
}

TEST_CASE("allowed drift is answered allow, alerted low or quietly, and keeps its reason") {
    policy::Verdict denied{model::Action::Deny, {true, true, model::Severity::Critical, policy::Reason::NewFile}, policy::Outcome::Denied};
    auto low = policy::allow_drift(denied, allow_path("/tmp/*"));
    CHECK(low.action == model::Action::Allow);
    CHECK(low.outcome == policy::Outcome::Allowed);
    CHECK_FALSE(low.what.drift);
    CHECK(low.what.alert);
    CHECK(low.what.severity == model::Severity::Low);
    CHECK(low.what.reason == policy::Reason::NewFile);
    auto quiet = policy::allow_drift(denied, allow_path("/tmp/*", "", true));
    CHECK(quiet.action == model::Action::Allow);
    CHECK_FALSE(quiet.what.alert);
}

TEST_CASE("a prohibit rule names image files by path glob or by digest, narrowed like the others") {
    config::Prohibit nc;
    nc.path = "/usr/bin/nc*";
    config::Prohibit by_sha;
    by_sha.sha256 = std::string(63, 'A') + "b";
    by_sha.image = "web:*";
    std::vector<config::Prohibit> rules{nc, by_sha};
    CHECK(policy::prohibited(rules, {"/usr/bin/nc.openbsd", {}, "c", "any"}, ""));
    CHECK(policy::prohibited(rules, {"/usr/bin/ncat/x", {}, "c", "any"}, ""));   // '*' crosses '/', as everywhere
    CHECK_FALSE(policy::prohibited(rules, {"/bin/sh", {}, "c", "any"}, ""));
    const std::string digest = std::string(63, 'a') + "b";   // digests compare without case
    CHECK(policy::prohibited(rules, {"/bin/tool", {}, "c", "web:2"}, digest));
    CHECK_FALSE(policy::prohibited(rules, {"/bin/tool", {}, "c", "db:2"}, digest));
    CHECK_FALSE(policy::prohibited(rules, {"/bin/tool", {}, "c", "web:2"}, ""));   // digest unknown: no match
    auto cls = policy::prohibited_file();
    CHECK(cls.drift);
    CHECK(cls.severity == model::Severity::Critical);
    CHECK(cls.reason == policy::Reason::Prohibited);
}

TEST_CASE("learn mode answers allow and says learned, also where the code gate or a mount only alerts") {
    policy::Classification drift{true, true, model::Severity::High, policy::Reason::NewFile};
    auto v = policy::decide(drift, model::Mode::Learn, model::Action::Deny);
    CHECK(v.action == model::Action::Allow);
    CHECK(v.outcome == policy::Outcome::Learned);
    CHECK(policy::decide_code(drift, model::Mode::Learn, model::CodeGate::Alert).outcome == policy::Outcome::Learned);
    CHECK(policy::decide_code(drift, model::Mode::Monitor, model::CodeGate::Alert).outcome == policy::Outcome::Alerted);
    CHECK(policy::decide_mount(drift, model::Mode::Learn, model::MountAction::Alert).outcome == policy::Outcome::Learned);
    CHECK(policy::decide_code(drift, model::Mode::Learn, model::CodeGate::On).action == model::Action::Allow);
}

TEST_CASE("a behaviour allow rule lets a shell or package manager run unalerted, never a fileless process") {
    policy::BehaviourRules rules{{"sh"}, {"apt-get"}, model::Severity::Critical, model::Severity::Medium,
                                 model::Severity::Medium, {}};
    config::BehaviourAllow a;
    a.kind = "shell";
    a.process = "sh";
    a.parent = "entry*";
    a.image = "app:*";
    rules.allow.push_back(a);
    policy::NewProcess shell{"sh", "/bin/sh", true, "entrypoint", "/entrypoint"};
    auto d = policy::classify_process(shell, rules);
    REQUIRE(d);
    CHECK(policy::behaviour_allowed(*d, shell, rules, "app:1", "c"));
    CHECK_FALSE(policy::behaviour_allowed(*d, shell, rules, "web:1", "c"));
    policy::NewProcess from_nginx{"sh", "/bin/sh", true, "nginx", "/usr/sbin/nginx"};
    CHECK_FALSE(policy::behaviour_allowed(*policy::classify_process(from_nginx, rules), from_nginx, rules, "app:1", "c"));
    policy::NewProcess apt{"apt-get", "/usr/bin/apt-get", true, "entrypoint", "/entrypoint"};
    CHECK_FALSE(policy::behaviour_allowed(*policy::classify_process(apt, rules), apt, rules, "app:1", "c"));
    config::BehaviourAllow any;
    any.process = "*";
    rules.allow = {any};
    policy::NewProcess memfd{"x", "/memfd:x (deleted)", true, "sh", "/bin/sh"};
    CHECK_FALSE(policy::behaviour_allowed(*policy::classify_process(memfd, rules), memfd, rules, "app:1", "c"));
}

TEST_CASE("path shapes collapse numbered and random-looking parts, and nothing else") {
    CHECK(policy::path_shape("/tmp/build-17/tool") == "/tmp/build-*/tool");
    CHECK(policy::path_shape("/tmp/tmp.Xa8f3kQ2/x") == "/tmp/tmp.*/x");
    CHECK(policy::path_shape("/usr/bin/python3") == "/usr/bin/python*");
    CHECK(policy::path_shape("/opt/app/run") == "/opt/app/run");
    CHECK(policy::path_shape("/tmp/a*b") == "/tmp/a\\*b");
    CHECK(policy::literal_glob("/tmp/a*[b]?") == "/tmp/a\\*\\[b\\]\\?");
    CHECK(matches(policy::literal_glob("/tmp/a*[b]?"), "/tmp/a*[b]?"));
    CHECK_FALSE(matches(policy::literal_glob("/tmp/a*[b]?"), "/tmp/aXb]?"));
}

TEST_CASE("TOML strings escape quotes, backslashes and control bytes, and refuse invalid UTF-8") {
    CHECK(policy::toml_string("a\"b\\c\n") == "\"a\\\"b\\\\c\\u000a\"");
    CHECK(policy::toml_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
    bool ok = true;
    policy::toml_string("bad\xff", &ok);
    CHECK_FALSE(ok);
}

TEST_CASE("suggest collapses repeated numbered paths into one glob and keeps a lone path literal") {
    std::vector<model::DriftEvent> events{learned("binary", "/tmp/build-1/tool", "ci:1", 20),
                                          learned("binary", "/tmp/build-2/tool", "ci:1", 30),
                                          learned("script", "/opt/job-3.sh", "ci:1")};
    auto text = policy::suggest_allowlist(events);
    CHECK(text.find("[[exec_allow]]\npath = \"/tmp/build-*/tool\"\nimage = \"ci:1\"\nalert = \"none\"") !=
          std::string::npos);
    CHECK(text.find("# 50 drift occurrences") != std::string::npos);
    CHECK(text.find("sh <- make (50)") != std::string::npos);
    CHECK(text.find("path = \"/opt/job-3.sh\"") != std::string::npos);
    CHECK(text.find("path = \"/opt/job-*.sh\"") == std::string::npos);
}

TEST_CASE("suggest writes file drift, behaviour and listeners as their own blocks, and never fileless") {
    auto file = learned("file", "/var/cache/app/1.tmp", "app:2");
    file.change = "added";
    auto shell = learned("shell", "/bin/sh", "app:2");
    shell.comm = "sh";
    shell.parent_comm = "entrypoint";
    auto pkg = learned("package", "/usr/bin/apt-get", "app:2");
    pkg.comm = "apt-get";
    auto net = learned("network", "tcp/8080", "app:2");
    auto fileless = learned("fileless", "/memfd:x", "app:2");
    auto text = policy::suggest_allowlist({file, shell, pkg, net, fileless});
    CHECK(text.find("[[allow]]\npath = \"/var/cache/app/1.tmp\"\nimage = \"app:2\"") != std::string::npos);
    CHECK(text.find("[[behaviour_allow]]\nkind = \"shell\"\nprocess = \"sh\"\nparent = \"entrypoint\"") !=
          std::string::npos);
    CHECK(text.find("[[behaviour_allow]]\nkind = \"package\"\nprocess = \"apt-get\"") != std::string::npos);
    CHECK(text.find("[[listen]]\nimage = \"app:2\"\nports = [\"tcp/8080\"]") != std::string::npos);
    CHECK(text.find("NOT SUGGESTED: 1 fileless") != std::string::npos);
    CHECK(text.find("/memfd:x\"") == std::string::npos);
    CHECK(policy::suggest_allowlist({}).empty());
}

TEST_CASE("suggest narrows to the container's name when the image is not known, and escapes hostile names") {
    auto e = learned("binary", "/tmp/x\"\n[[prohibit]]", "");
    e.container_name = "web-*";
    auto text = policy::suggest_allowlist({e});
    CHECK(text.find("container = \"web-\\\\*\"") != std::string::npos);
    CHECK(text.find("\n[[prohibit]]") == std::string::npos);   // the name cannot open a block
}

TEST_CASE("a new executable where an exec allow rule lets it run is expected file drift, quiet or low") {
    policy::FileRules rules;
    rules.exec_allow.push_back({"/opt/build-*", "ci:*", "", true});
    rules.exec_allow.push_back({"/srv/plugins/*", "", "", false});
    auto quiet = policy::classify_file({"/opt/build-2/tool", model::Change::Added, false, true, 0100755, 0, "c", "ci:1"}, rules);
    CHECK(quiet.quiet);
    CHECK(quiet.why == policy::FileReason::AllowedExecutable);
    auto low = policy::classify_file({"/srv/plugins/p", model::Change::Added, false, true, 0100755, 0, "c", "web:1"}, rules);
    CHECK_FALSE(low.quiet);
    CHECK(low.severity == model::Severity::Low);
    auto other_image = policy::classify_file({"/opt/build-2/tool", model::Change::Added, false, true, 0100755, 0, "c", "web:1"}, rules);
    CHECK(other_image.why == policy::FileReason::Executable);
    auto setuid = policy::classify_file({"/opt/build-2/tool", model::Change::Added, false, true, 0104755, 0, "c", "ci:1"}, rules);
    CHECK(setuid.why == policy::FileReason::SetuidExecutable);   // a setuid bit is never allowed this way
}

TEST_CASE("suggest puts a learned new executable under the exec allow that quiets its writing too") {
    auto written = learned("binary", "/tmp/build-1/true", "ci:1");
    written.change = "added";
    auto ran = learned("binary", "/tmp/build-1/true", "ci:1");
    auto text = policy::suggest_allowlist({written, ran});
    CHECK(text.find("[[exec_allow]]\npath = \"/tmp/build-1/true\"") != std::string::npos);
    CHECK(text.find("[[allow]]") == std::string::npos);
}
