// SPDX-License-Identifier: Apache-2.0
// TOML text -> validated config::Config. This file is toml11's only home: it
// parses, walks the document once in a fixed order and turns the first problem
// (syntax, unknown key, wrong type, range, enum, relative path, bad override)
// into Error::plain("FILE:LINE: KEY: problem"). Every toml11 exception is caught
// here; nothing is half-applied and nothing throws out. It does not open
// sockets, create files or decide policy: it only says what the file means.
// Override keys are numbered from 1 in the order written: override[2] is the
// second [[override]] block.
#include "layerlock/config/config.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <toml.hpp>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"

namespace layerlock::config {
namespace {

using base::Error;
using base::Result;
using base::unexpected;

constexpr std::size_t kMaxFileBytes = 1u << 20;

struct Range {
    std::int64_t lo;
    std::int64_t hi;
};
using Words = std::initializer_list<std::string_view>;
enum class PathRule { Required, EmptyMeansOff };

// One table of the document and its dotted name ("" for the root).
struct Scope {
    const toml::value& table;
    std::string prefix;
};

std::string dotted(const Scope& s, std::string_view key) {
    return s.prefix.empty() ? std::string(key) : s.prefix + "." + std::string(key);
}

std::string_view type_name(toml::value_t t) {
    switch (t) {
    case toml::value_t::boolean: return "a boolean";
    case toml::value_t::integer: return "an integer";
    case toml::value_t::floating: return "a float";
    case toml::value_t::string: return "a string";
    case toml::value_t::array: return "an array";
    case toml::value_t::table: return "a table";
    case toml::value_t::empty: return "nothing";
    default: return "a date/time";
    }
}

std::string joined(Words words) {
    std::string out;
    for (auto w : words) out += (out.empty() ? "\"" : ", \"") + std::string(w) + "\"";
    return out;
}

// Reads values out of the document. The first problem is kept and every later
// read returns nothing, so a load stops at its first error without exceptions.
class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    const std::optional<std::string>& problem() const { return problem_; }
    bool ok() const { return !problem_; }

    void fail(const toml::value& at, const std::string& key, std::string_view what) {
        if (problem_) return;
        problem_ = file_ + ":" + std::to_string(at.location().line()) + ": " + key + ": " +
                   std::string(what);
    }

    // Rejects the first (by line) key of `s` not in `known`.
    void only_keys(const Scope& s, Words known) {
        const std::pair<const std::string, toml::value>* bad = nullptr;
        for (const auto& kv : s.table.as_table()) {
            if (std::find(known.begin(), known.end(), kv.first) != known.end()) continue;
            if (!bad || kv.second.location().line() < bad->second.location().line()) bad = &kv;
        }
        if (bad)
            fail(bad->second, dotted(s, bad->first),
                 bad->second.is_table() ? "unknown table" : "unknown key");
    }

    // The value of `key` if present and of type `want`; a wrong type is a problem.
    const toml::value* find(const Scope& s, std::string_view key, toml::value_t want) {
        if (!ok()) return nullptr;
        const auto& t = s.table.as_table();
        auto it = t.find(std::string(key));
        if (it == t.end()) return nullptr;
        if (it->second.type() == want) return &it->second;
        fail(it->second, dotted(s, key),
             "expected " + std::string(type_name(want)) + ", got " +
                 std::string(type_name(it->second.type())));
        return nullptr;
    }

    std::optional<Scope> section(const Scope& s, std::string_view key) {
        const auto* v = find(s, key, toml::value_t::table);
        if (!v) return std::nullopt;
        return Scope{*v, dotted(s, key)};
    }

    std::optional<std::int64_t> number(const Scope& s, std::string_view key, Range r) {
        const auto* v = find(s, key, toml::value_t::integer);
        if (!v) return std::nullopt;
        auto n = v->as_integer();
        if (n >= r.lo && n <= r.hi) return n;
        fail(*v, dotted(s, key), "must be between " + std::to_string(r.lo) + " and " +
                                     std::to_string(r.hi) + ", got " + std::to_string(n));
        return std::nullopt;
    }

    std::optional<bool> flag(const Scope& s, std::string_view key) {
        const auto* v = find(s, key, toml::value_t::boolean);
        if (!v) return std::nullopt;
        return v->as_boolean();
    }

    std::optional<std::string> text(const Scope& s, std::string_view key) {
        const auto* v = find(s, key, toml::value_t::string);
        if (!v) return std::nullopt;
        const std::string& str = v->as_string().str;
        if (str.find('\0') == std::string::npos) return str;
        fail(*v, dotted(s, key), "must not contain a NUL character");
        return std::nullopt;
    }

    // An array of absolute-path globs ("/tmp/*").
    std::optional<std::vector<std::string>> globs(const Scope& s, std::string_view key) {
        const auto* v = find(s, key, toml::value_t::array);
        if (!v) return std::nullopt;
        std::vector<std::string> out;
        for (const auto& item : v->as_array()) {
            if (!item.is_string() || item.as_string().str.empty() || item.as_string().str.front() != '/') {
                fail(item, dotted(s, key), "every entry must be a path glob starting with \"/\"");
                return std::nullopt;
            }
            out.push_back(item.as_string().str);
        }
        return out;
    }

    // An array of non-empty strings without '/' (names, globs, extensions).
    std::optional<std::vector<std::string>> words(const Scope& s, std::string_view key) {
        const auto* v = find(s, key, toml::value_t::array);
        if (!v) return std::nullopt;
        std::vector<std::string> out;
        for (const auto& item : v->as_array()) {
            if (!item.is_string() || item.as_string().str.empty() ||
                item.as_string().str.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
                fail(item, dotted(s, key), "every entry must be a non-empty name without \"/\"");
                return std::nullopt;
            }
            out.push_back(item.as_string().str);
        }
        return out;
    }

    std::optional<std::string> word(const Scope& s, std::string_view key, Words allowed) {
        auto w = text(s, key);
        if (!w || std::find(allowed.begin(), allowed.end(), *w) != allowed.end()) return w;
        fail(s.table.as_table().at(std::string(key)), dotted(s, key),
             "\"" + *w + "\" is not one of " + joined(allowed));
        return std::nullopt;
    }

    std::optional<std::string> path(const Scope& s, std::string_view key, PathRule rule) {
        auto p = text(s, key);
        if (!p || (p->empty() && rule == PathRule::EmptyMeansOff)) return p;
        if (!p->empty() && p->front() == '/') return p;
        fail(s.table.as_table().at(std::string(key)), dotted(s, key),
             "must be an absolute path, got \"" + *p + "\"");
        return std::nullopt;
    }

private:
    std::string file_;
    std::optional<std::string> problem_;
};

const Words kModes = {"monitor", "enforce", "learn"};
const Words kCodeGates = {"on", "alert", "off"};
const Words kMountActions = {"deny", "alert", "allow"};
const Words kActions = {"allow", "deny"};

template <typename T>
void assign(T& field, const std::optional<std::int64_t>& n) {
    if (n) field = static_cast<T>(*n);
}

void read_gate(Reader& r, const Scope& s, GateConfig& g) {
    r.only_keys(s, {"on_error", "hash_timeout_ms", "workers", "max_pending", "cache_entries",
                    "ignore_marks", "ignore_marks_max", "interpreters", "script_extensions", "severity"});
    if (auto sev = r.section(s, "severity")) {
        static const Words levels = {"info", "low", "medium", "high", "critical"};
        r.only_keys(*sev, {"binary", "script", "library"});
        if (auto w = r.word(*sev, "binary", levels)) g.binary = *model::parse_severity(*w);
        if (auto w = r.word(*sev, "script", levels)) g.script = *model::parse_severity(*w);
        if (auto w = r.word(*sev, "library", levels)) g.library = *model::parse_severity(*w);
    }
    if (auto w = r.word(s, "on_error", kActions)) g.on_error = *model::parse_action(*w);
    if (auto n = r.number(s, "hash_timeout_ms", {1, 600000}))
        g.hash_timeout = std::chrono::milliseconds(*n);
    assign(g.workers, r.number(s, "workers", {1, 64}));
    assign(g.max_pending, r.number(s, "max_pending", {1, 65536}));
    assign(g.cache_entries, r.number(s, "cache_entries", {16, 16777216}));
    if (auto b = r.flag(s, "ignore_marks")) g.ignore_marks = *b;
    assign(g.ignore_marks_max, r.number(s, "ignore_marks_max", {0, 1048576}));
    if (auto w = r.words(s, "interpreters")) g.interpreters = *w;
    if (auto w = r.words(s, "script_extensions")) g.script_extensions = *w;
}

void read_baseline(Reader& r, const Scope& s, BaselineConfig& b) {
    r.only_keys(s, {"database", "threads", "require_signed", "unsigned", "verify", "verify_interval_s",
                    "verify_sample"});
    if (auto p = r.path(s, "database", PathRule::Required)) b.database = *p;
    assign(b.threads, r.number(s, "threads", {0, 256}));
    if (auto f = r.flag(s, "require_signed")) b.require_signed = *f;
    if (auto w = r.word(s, "unsigned", {"on_error", "host"})) b.unsigned_policy = *w;
    if (auto w = r.word(s, "verify", {"sample", "full", "off"})) b.verify = *w;
    assign(b.verify_interval_s, r.number(s, "verify_interval_s", {0, 604800}));
    assign(b.verify_sample, r.number(s, "verify_sample", {0, 1000000}));
}

void read_discovery(Reader& r, const Scope& s, DiscoveryConfig& d) {
    r.only_keys(s, {"docker_socket", "docker_root", "namespace_scan_ms"});
    if (auto p = r.path(s, "docker_socket", PathRule::Required)) d.docker_socket = *p;
    if (auto p = r.path(s, "docker_root", PathRule::Required)) d.docker_root = *p;
    assign(d.namespace_scan_ms, r.number(s, "namespace_scan_ms", {0, 60000}));
}

void read_alerts(Reader& r, const Scope& s, AlertConfig& a) {
    r.only_keys(s, {"journald", "stderr", "json_path", "format", "queue_size", "dedup_window_s"});
    if (auto w = r.word(s, "format", {"layerlock", "falco"})) a.format = *w;
    assign(a.dedup_window_s, r.number(s, "dedup_window_s", {0, 86400}));
    if (auto b = r.flag(s, "journald")) a.journald = *b;
    if (auto w = r.word(s, "stderr", {"auto", "always", "never"})) a.stderr_output = *w;
    if (auto p = r.path(s, "json_path", PathRule::EmptyMeansOff)) a.json_path = *p;
    assign(a.queue_size, r.number(s, "queue_size", {16, 1048576}));
}

void read_events(Reader& r, const Scope& s, EventConfig& e) {
    r.only_keys(s, {"max_age_days", "max_rows"});
    assign(e.max_age_days, r.number(s, "max_age_days", {1, 3650}));
    assign(e.max_rows, r.number(s, "max_rows", {1000, 100000000}));
}

template <typename Fn, typename Part>
void read_section(Reader& r, const Scope& root, std::string_view key, Fn fn, Part& part) {
    if (auto s = r.section(root, key)) fn(r, *s, part);
}

void read_severities(Reader& r, const Scope& s, FileDriftConfig& f) {
    r.only_keys(s, {"binary", "package", "sensitive", "setuid", "config", "file"});
    const Words levels = {"info", "low", "medium", "high", "critical"};
    auto read = [&](const char* key, model::Severity& out) {
        if (auto w = r.word(s, key, levels)) out = *model::parse_severity(*w);
    };
    read("binary", f.binary);
    read("package", f.package);
    read("sensitive", f.sensitive);
    read("setuid", f.setuid);
    read("config", f.config);
    read("file", f.file);
}

void read_file_drift(Reader& r, const Scope& s, FileDriftConfig& f) {
    r.only_keys(s, {"quiet", "severity"});
    if (auto g = r.globs(s, "quiet")) f.quiet = *g;
    read_section(r, s, "severity", read_severities, f);
}

// One [[allow]] block: a path glob, optionally narrowed to an image or container glob.
void read_allow(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"path", "image", "container"});
    auto path = r.text(s, "path");
    auto image = r.text(s, "image");
    auto container = r.text(s, "container");
    if (!r.ok()) return;
    if (!path || path->empty() || path->front() != '/')
        return r.fail(s.table, dotted(s, "path"), "required: a path glob starting with \"/\"");
    c.file_drift.allow.push_back({*path, image.value_or(""), container.value_or("")});
}

void read_allows(Reader& r, const Scope& root, Config& c) {
    const auto* list = r.find(root, "allow", toml::value_t::array);
    if (!list) return;
    std::size_t index = 0;
    for (const auto& item : list->as_array()) {
        std::string key = "allow[" + std::to_string(++index) + "]";
        if (!item.is_table()) return r.fail(item, key, "expected a table ([[allow]])");
        read_allow(r, Scope{item, key}, c);
    }
}

void read_watch(Reader& r, const Scope& s, WatchConfig& w) {
    r.only_keys(s, {"max_watches_per_container", "reconcile_interval_s"});
    assign(w.max_watches_per_container, r.number(s, "max_watches_per_container", {16, 1048576}));
    assign(w.reconcile_interval_s, r.number(s, "reconcile_interval_s", {5, 86400}));
}

void read_daemon(Reader& r, const Scope& s, DaemonConfig& d) {
    r.only_keys(s, {"lock_file", "control_socket", "log_level"});
    if (auto p = r.path(s, "lock_file", PathRule::Required)) d.lock_file = *p;
    if (auto p = r.path(s, "control_socket", PathRule::Required)) d.control_socket = *p;
    if (auto w = r.word(s, "log_level", {"trace", "debug", "info", "warn", "error"}))
        d.log_level = *w;
}

// One [[override]] block: exactly one of container / image, and a mode and/or a
// code_gate.
void read_override(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"container", "image", "mode", "code_gate"});
    auto container = r.text(s, "container");
    auto image = r.text(s, "image");
    auto mode = r.word(s, "mode", kModes);
    auto gate = r.word(s, "code_gate", kCodeGates);
    if (!r.ok()) return;
    if (container.has_value() == image.has_value())
        return r.fail(s.table, s.prefix, "needs exactly one of \"container\" or \"image\"");
    auto& glob = container ? *container : *image;
    if (glob.empty())
        return r.fail(s.table, dotted(s, container ? "container" : "image"), "must not be empty");
    if (!mode && !gate)
        return r.fail(s.table, dotted(s, "mode"), "missing (every override sets \"mode\", \"code_gate\" or both)");
    auto& list = container ? c.container_modes : c.image_modes;
    ModeOverride o{std::move(glob), std::nullopt, std::nullopt};
    if (mode) o.mode = *model::parse_mode(*mode);
    if (gate) o.code_gate = *model::parse_code_gate(*gate);
    list.push_back(std::move(o));
}

// One [[mount_rule]] block: a path glob, optional image / container globs, an action.
void read_mount_rule(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"path", "image", "container", "action"});
    auto path = r.text(s, "path");
    auto image = r.text(s, "image");
    auto container = r.text(s, "container");
    auto action = r.word(s, "action", kMountActions);
    if (!r.ok()) return;
    if (!path || path->empty() || path->front() != '/')
        return r.fail(s.table, dotted(s, "path"), "required: a path glob starting with \"/\"");
    if (!action) return r.fail(s.table, dotted(s, "action"), "missing (required in every mount_rule)");
    c.mounts.rules.push_back({*path, image.value_or(""), container.value_or(""), *model::parse_mount_action(*action)});
}

void read_mount_rules(Reader& r, const Scope& root, Config& c) {
    const auto* list = r.find(root, "mount_rule", toml::value_t::array);
    if (!list) return;
    std::size_t index = 0;
    for (const auto& item : list->as_array()) {
        std::string key = "mount_rule[" + std::to_string(++index) + "]";
        if (!item.is_table()) return r.fail(item, key, "expected a table ([[mount_rule]])");
        read_mount_rule(r, Scope{item, key}, c);
    }
}

const Words kLevels = {"info", "low", "medium", "high", "critical"};

void read_behaviour(Reader& r, const Scope& s, BehaviourConfig& b) {
    r.only_keys(s, {"enabled", "shells", "package_managers", "realtime", "severity"});
    if (auto v = r.flag(s, "enabled")) b.enabled = *v;
    if (auto v = r.flag(s, "realtime")) b.realtime = *v;
    if (auto w = r.words(s, "shells")) b.shells = *w;
    if (auto w = r.words(s, "package_managers")) b.package_managers = *w;
    if (auto sev = r.section(s, "severity")) {
        r.only_keys(*sev, {"fileless", "shell", "package"});
        if (auto w = r.word(*sev, "fileless", kLevels)) b.fileless = *model::parse_severity(*w);
        if (auto w = r.word(*sev, "shell", kLevels)) b.shell = *model::parse_severity(*w);
        if (auto w = r.word(*sev, "package", kLevels)) b.package = *model::parse_severity(*w);
    }
}

void read_behaviour_allow(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"kind", "process", "parent", "image", "container"});
    BehaviourAllow a;
    if (auto w = r.word(s, "kind", {"shell", "package"})) a.kind = *w;
    if (auto v = r.text(s, "process")) a.process = *v;
    if (auto v = r.text(s, "parent")) a.parent = *v;
    if (auto v = r.text(s, "image")) a.image = *v;
    if (auto v = r.text(s, "container")) a.container = *v;
    if (!r.ok()) return;
    if (a.process.empty() && a.parent.empty())
        return r.fail(s.table, s.prefix, "needs \"process\" or \"parent\" (globs on a process name), or both");
    c.behaviour.allow.push_back(std::move(a));
}

void read_network(Reader& r, const Scope& s, NetworkConfig& n) {
    r.only_keys(s, {"enabled", "learn_seconds", "check_interval_s", "severity"});
    if (auto v = r.flag(s, "enabled")) n.enabled = *v;
    assign(n.learn_seconds, r.number(s, "learn_seconds", {0, 86400}));
    assign(n.check_interval_s, r.number(s, "check_interval_s", {1, 3600}));
    if (auto w = r.word(s, "severity", kLevels)) n.severity = *model::parse_severity(*w);
}

// "tcp/8080" | "udp/53"
bool valid_port(const std::string& p) {
    auto slash = p.find('/');
    if (slash == std::string::npos || (p.substr(0, slash) != "tcp" && p.substr(0, slash) != "udp")) return false;
    auto num = p.substr(slash + 1);
    if (num.empty() || num.size() > 5 || num.find_first_not_of("0123456789") != std::string::npos) return false;
    return std::stoul(num) >= 1 && std::stoul(num) <= 65535;
}

void read_listen(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"image", "container", "ports"});
    auto image = r.text(s, "image");
    auto container = r.text(s, "container");
    const auto* ports = r.find(s, "ports", toml::value_t::array);
    if (!r.ok()) return;
    if (!ports) return r.fail(s.table, dotted(s, "ports"), "missing (required in every listen block)");
    ListenRule rule{image.value_or(""), container.value_or(""), {}};
    for (const auto& item : ports->as_array()) {
        if (!item.is_string() || !valid_port(item.as_string().str))
            return r.fail(item, dotted(s, "ports"), "every entry must be \"tcp/PORT\" or \"udp/PORT\"");
        rule.ports.push_back(item.as_string().str);
    }
    c.network.listen.push_back(std::move(rule));
}

void read_response_rule(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"kind", "min_severity", "mode", "image", "container", "actions"});
    ResponseRule rule;
    if (auto k = r.text(s, "kind")) rule.kind = *k;
    if (auto w = r.word(s, "min_severity", kLevels)) rule.min_severity = *model::parse_severity(*w);
    if (auto w = r.word(s, "mode", kModes)) rule.mode = *w;
    if (auto g = r.text(s, "image")) rule.image = *g;
    if (auto g = r.text(s, "container")) rule.container = *g;
    const auto* actions = r.find(s, "actions", toml::value_t::array);
    if (!r.ok()) return;
    if (!actions) return r.fail(s.table, dotted(s, "actions"), "missing (required in every response block)");
    for (const auto& item : actions->as_array()) {
        static const Words kActions = {"kill", "freeze", "stop", "quarantine", "forensics"};
        const bool known = item.is_string() &&
            std::find(kActions.begin(), kActions.end(), item.as_string().str) != kActions.end();
        if (!known) return r.fail(item, dotted(s, "actions"), "every entry must be one of " + joined(kActions));
        rule.actions.push_back(item.as_string().str);
    }
    c.response.rules.push_back(std::move(rule));
}

void read_exec_allow(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"path", "process", "image", "container", "alert"});
    ExecAllow a;
    if (auto v = r.text(s, "path")) a.path = *v;
    if (auto v = r.text(s, "process")) a.process = *v;
    if (auto v = r.text(s, "image")) a.image = *v;
    if (auto v = r.text(s, "container")) a.container = *v;
    auto alert = r.word(s, "alert", {"low", "none"});
    if (!r.ok()) return;
    if (a.path.empty() && a.process.empty())
        return r.fail(s.table, s.prefix, "needs \"path\" (a glob starting with \"/\") or \"process\", or both");
    if (!a.path.empty() && a.path.front() != '/')
        return r.fail(s.table, dotted(s, "path"), "must be a glob starting with \"/\"");
    a.quiet = alert && *alert == "none";
    c.gate.allow.push_back(std::move(a));
}

void read_prohibit(Reader& r, const Scope& s, Config& c) {
    r.only_keys(s, {"path", "sha256", "image", "container"});
    Prohibit p;
    if (auto v = r.text(s, "path")) p.path = *v;
    if (auto v = r.text(s, "sha256")) p.sha256 = *v;
    if (auto v = r.text(s, "image")) p.image = *v;
    if (auto v = r.text(s, "container")) p.container = *v;
    if (!r.ok()) return;
    if (p.path.empty() == p.sha256.empty())
        return r.fail(s.table, s.prefix, "needs exactly one of \"path\" or \"sha256\"");
    if (!p.path.empty() && p.path.front() != '/')
        return r.fail(s.table, dotted(s, "path"), "must be a glob starting with \"/\"");
    if (!p.sha256.empty() && !model::sha256_from_hex(p.sha256))
        return r.fail(s.table, dotted(s, "sha256"), "must be 64 hexadecimal digits");
    c.gate.prohibit.push_back(std::move(p));
}

void read_metrics(Reader& r, const Scope& s, MetricsConfig& m) {
    r.only_keys(s, {"textfile_path", "interval_s"});
    if (auto p = r.path(s, "textfile_path", PathRule::EmptyMeansOff)) m.textfile_path = *p;
    assign(m.interval_s, r.number(s, "interval_s", {1, 3600}));
}

void read_quarantine(Reader& r, const Scope& s, ResponseConfig& rc) {
    r.only_keys(s, {"max_mb"});
    if (auto n = r.number(s, "max_mb", {1, 1048576})) rc.quarantine_max_bytes = std::uint64_t(*n) << 20;
}

void read_forensics(Reader& r, const Scope& s, ResponseConfig& rc) {
    r.only_keys(s, {"max_mb"});
    if (auto n = r.number(s, "max_mb", {1, 65536})) rc.forensics_max_bytes = std::uint64_t(*n) << 20;
}

template <typename Fn>
void read_blocks(Reader& r, const Scope& root, const char* key, Fn fn, Config& c) {
    const auto* list = r.find(root, key, toml::value_t::array);
    if (!list) return;
    std::size_t index = 0;
    for (const auto& item : list->as_array()) {
        std::string name = std::string(key) + "[" + std::to_string(++index) + "]";
        if (!item.is_table()) return r.fail(item, name, "expected a table ([[" + std::string(key) + "]])");
        fn(r, Scope{item, name}, c);
    }
}

void read_mounts(Reader& r, const Scope& s, MountsConfig& m) {
    r.only_keys(s, {"default"});
    if (auto w = r.word(s, "default", kMountActions)) m.default_action = *model::parse_mount_action(*w);
}

void read_overrides(Reader& r, const Scope& root, Config& c) {
    const auto* list = r.find(root, "override", toml::value_t::array);
    if (!list) return;
    std::size_t index = 0;
    for (const auto& item : list->as_array()) {
        std::string key = "override[" + std::to_string(++index) + "]";
        if (!item.is_table())
            return r.fail(item, key, "expected a table ([[override]]), got " +
                                         std::string(type_name(item.type())));
        read_override(r, Scope{item, key}, c);
    }
}


void read_config(Reader& r, const Scope& root, Config& c) {
    r.only_keys(root, {"mode", "code_gate", "gate", "baseline", "discovery", "alerts", "events", "watch", "file_drift",
                       "allow", "mounts", "mount_rule", "behaviour", "network", "listen", "response", "quarantine",
                       "forensics", "exec_allow", "prohibit", "behaviour_allow", "metrics", "daemon", "override"});
    if (auto w = r.word(root, "mode", kModes)) c.mode = *model::parse_mode(*w);
    if (auto w = r.word(root, "code_gate", kCodeGates)) c.code_gate = *model::parse_code_gate(*w);
    read_section(r, root, "gate", read_gate, c.gate);
    read_section(r, root, "baseline", read_baseline, c.baseline);
    read_section(r, root, "discovery", read_discovery, c.discovery);
    read_section(r, root, "alerts", read_alerts, c.alerts);
    read_section(r, root, "events", read_events, c.events);
    read_section(r, root, "watch", read_watch, c.watch);
    read_section(r, root, "file_drift", read_file_drift, c.file_drift);
    read_allows(r, root, c);
    read_section(r, root, "mounts", read_mounts, c.mounts);
    read_mount_rules(r, root, c);
    read_section(r, root, "behaviour", read_behaviour, c.behaviour);
    read_section(r, root, "network", read_network, c.network);
    read_blocks(r, root, "listen", read_listen, c);
    read_blocks(r, root, "response", read_response_rule, c);
    read_section(r, root, "quarantine", read_quarantine, c.response);
    read_section(r, root, "forensics", read_forensics, c.response);
    read_blocks(r, root, "exec_allow", read_exec_allow, c);
    read_blocks(r, root, "behaviour_allow", read_behaviour_allow, c);
    read_blocks(r, root, "prohibit", read_prohibit, c);
    read_section(r, root, "metrics", read_metrics, c.metrics);
    read_section(r, root, "daemon", read_daemon, c.daemon);
    read_overrides(r, root, c);
}

// "[error] bad format: ..." (first line of toml11's message) -> "bad format: ...".
std::string first_line(std::string_view what) {
    what = what.substr(0, what.find('\n'));
    constexpr std::string_view kTag = "[error] ";
    if (what.starts_with(kTag)) what.remove_prefix(kTag.size());
    return std::string(what);
}

// Bounds checked before the TOML parser sees the text: it recurses once per nesting
// level (10,000 '[' overflow the stack: a crash on SIGHUP released every container
// ungated) and its cost grows with the square of a line's length (a 50,000-item
// array on one line took minutes).
constexpr std::size_t kMaxDepth = 16;         // arrays and inline tables inside each other
constexpr std::size_t kMaxLineBytes = 8192;

std::optional<Error> check_shape(std::string_view text, const std::string& name) {
    // TOML is UTF-8. toml11 3.7 reads past its buffer when reporting invalid UTF-8
    // in a literal string (found by tests/fuzz/fuzz_config): it never sees any.
    if (auto bad = base::first_invalid_utf8(text)) {
        const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n');
        return Error::plain(name + ":" + std::to_string(line) + ": not UTF-8 (byte " + std::to_string(*bad + 1) +
                            " of the file)");
    }
    std::size_t line = 1, start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i < text.size() && text[i] != '\n') continue;
        if (i - start > kMaxLineBytes)
            return Error::plain(name + ":" + std::to_string(line) + ": line longer than " + std::to_string(kMaxLineBytes) +
                                " bytes (split long arrays over several lines)");
        ++line;
        start = i + 1;
    }
    // Nesting, outside strings and comments.
    enum class In { Code, Basic, Literal, MultiBasic, MultiLiteral, Comment } in = In::Code;
    std::size_t depth = 0;
    line = 1;
    auto at = [&](std::size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            if (in == In::Comment || in == In::Basic || in == In::Literal) in = In::Code;
            continue;
        }
        switch (in) {
            case In::Comment: break;
            case In::Basic:
                if (c == '\\') ++i;
                else if (c == '"') in = In::Code;
                break;
            case In::Literal:
                if (c == '\'') in = In::Code;
                break;
            case In::MultiBasic:
                if (c == '\\') ++i;
                else if (at(i, "\"\"\"")) in = In::Code, i += 2;
                break;
            case In::MultiLiteral:
                if (at(i, "\'\'\'")) in = In::Code, i += 2;
                break;
            case In::Code:
                if (c == '#') in = In::Comment;
                else if (at(i, "\"\"\"")) in = In::MultiBasic, i += 2;
                else if (at(i, "\'\'\'")) in = In::MultiLiteral, i += 2;
                else if (c == '"') in = In::Basic;
                else if (c == '\'') in = In::Literal;
                else if ((c == '[' || c == '{') && ++depth > kMaxDepth)
                    return Error::plain(name + ":" + std::to_string(line) + ": arrays and inline tables nested deeper than " +
                                        std::to_string(kMaxDepth) + " levels");
                else if ((c == ']' || c == '}') && depth > 0) --depth;
                break;
        }
    }
    return std::nullopt;
}

Result<toml::value> parse_toml(std::string_view text, const std::string& name) {
    try {
        std::istringstream in{std::string(text)};
        return toml::parse(in, name);
    } catch (const toml::exception& e) {
        return unexpected(Error::plain(name + ":" + std::to_string(e.location().line()) +
                                       ": syntax error: " + first_line(e.what())));
    } catch (const std::exception& e) {
        return unexpected(Error::plain(name + ": cannot parse: " + first_line(e.what())));
    }
}

template <typename Field>
auto first_match(const std::vector<ModeOverride>& list, std::string_view subject, Field field)
    -> std::remove_reference_t<decltype(*(list.front().*field))>* {
    std::string s(subject);
    for (const auto& o : list)
        if ((o.*field) && ::fnmatch(o.glob.c_str(), s.c_str(), 0) == 0) return &*(o.*field);
    return nullptr;
}

bool glob_match(const std::string& pattern, std::string_view subject) {
    return pattern.empty() || ::fnmatch(pattern.c_str(), std::string(subject).c_str(), 0) == 0;
}

}  // namespace

Result<Config> parse(std::string_view text, const std::string& name) {
    if (auto bad = check_shape(text, name)) return unexpected(*bad);
    auto doc = parse_toml(text, name);
    if (!doc) return unexpected(doc.error());
    Config c;
    c.source = name;
    Reader r(name);
    try {
        read_config(r, Scope{*doc, ""}, c);
    } catch (const std::exception& e) {
        return unexpected(Error::plain(name + ": cannot read configuration: " + e.what()));
    }
    if (!r.ok()) return unexpected(Error::plain(*r.problem()));
    return c;
}

Result<Config> load(const std::string& path) {
    auto text = base::read_regular_file(path, kMaxFileBytes);
    if (!text) return unexpected(text.error());
    return parse(*text, path);
}

std::vector<std::string> keys_needing_restart(const Config& a, const Config& b) {
    std::vector<std::string> keys;
    auto check = [&](bool differs, const char* key) {
        if (differs) keys.emplace_back(key);
    };
    check(a.gate.workers != b.gate.workers, "gate.workers");
    check(a.baseline.database != b.baseline.database, "baseline.database");
    check(a.baseline.threads != b.baseline.threads, "baseline.threads");
    check(a.discovery.docker_socket != b.discovery.docker_socket, "discovery.docker_socket");
    check(a.alerts.queue_size != b.alerts.queue_size, "alerts.queue_size");
    check(a.watch.max_watches_per_container != b.watch.max_watches_per_container, "watch.max_watches_per_container");
    check(a.watch.reconcile_interval_s != b.watch.reconcile_interval_s, "watch.reconcile_interval_s");
    check(a.daemon.lock_file != b.daemon.lock_file, "daemon.lock_file");
    check(a.daemon.control_socket != b.daemon.control_socket, "daemon.control_socket");
    return keys;
}

model::Mode mode_for(const Config& c, std::string_view container_name, std::string_view image) {
    if (auto* m = first_match(c.container_modes, container_name, &ModeOverride::mode)) return *m;
    if (auto* m = first_match(c.image_modes, image, &ModeOverride::mode)) return *m;
    return c.mode;
}

model::CodeGate code_gate_for(const Config& c, std::string_view container_name, std::string_view image) {
    if (auto* g = first_match(c.container_modes, container_name, &ModeOverride::code_gate)) return *g;
    if (auto* g = first_match(c.image_modes, image, &ModeOverride::code_gate)) return *g;
    return c.code_gate;
}

model::MountAction mount_action_for(const Config& c, std::string_view path, std::string_view container_name,
                                    std::string_view image) {
    for (const auto& rule : c.mounts.rules)
        if (::fnmatch(rule.path.c_str(), std::string(path).c_str(), 0) == 0 && glob_match(rule.image, image) &&
            glob_match(rule.container, container_name))
            return rule.action;
    return c.mounts.default_action;
}

}  // namespace layerlock::config
