// SPDX-License-Identifier: Apache-2.0
// The validated configuration: a plain struct, filled from TOML by load().
// toml11 stays inside src/config. Every problem (unknown key, wrong type, bad
// value) is reported as "FILE:LINE: KEY: problem" and stops the load; nothing
// is half-applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::config {

// One [[override]] block: a glob on the container name or image, and the mode
// and/or code gate it sets (at least one).
struct ModeOverride {
    std::string glob;     // fnmatch(3) pattern
    std::optional<model::Mode> mode;
    std::optional<model::CodeGate> code_gate{};
};

// [[exec_allow]]: drift that may run (Sysdig/Defender style exceptions), narrowed
// by image and container globs: files by path glob, and/or processes (the caller's
// parent for an exec, the opener for a code open) by comm or executable name glob.
struct ExecAllow {
    std::string path, process;                     // at least one
    std::string image, container;                  // empty: any
    bool quiet = false;                            // alert = "none"; else a low alert
};

// [[prohibit]]: files denied even when they are the image's, by path glob or sha256.
struct Prohibit {
    std::string path, sha256;                      // exactly one
    std::string image, container;
};

struct GateConfig {
    // Answer when the gate cannot decide (internal error, hash timeout, overload,
    // unknown container). "allow" is fail-open; "deny" fails closed.
    model::Action on_error = model::Action::Allow;
    std::chrono::milliseconds hash_timeout{2000};  // deadline for one verdict that needs hashing
    std::uint32_t workers = 2;                     // hashing threads
    std::uint32_t max_pending = 256;               // permission events waiting for a worker
    std::uint32_t cache_entries = 65536;           // verdict cache capacity
    bool ignore_marks = false;                     // kernel ignore marks for verified image files
    std::uint32_t ignore_marks_max = 16384;
    // The code-open gate (policy/code_rules.hpp): which processes are interpreters
    // (fnmatch globs on comm or executable name) and which file name extensions
    // are an interpreter's source.
    // (Not "busybox": every applet of it, cat included, has that executable; its
    // shells are told apart by comm, "sh" or "ash".)
    std::vector<std::string> interpreters = {"sh", "ash", "dash", "bash", "zsh", "ksh", "mksh", "python*",
                                             "perl*", "ruby*", "irb*", "node", "nodejs", "php*", "lua*", "luajit",
                                             "tclsh*", "wish*", "Rscript", "pwsh", "awk", "gawk", "mawk", "expect"};
    std::vector<std::string> script_extensions = {".sh", ".bash", ".zsh", ".ksh", ".py", ".pyc", ".pyo", ".pyz",
                                                  ".pl", ".pm", ".rb", ".js", ".mjs", ".cjs", ".php", ".phar",
                                                  ".lua", ".tcl", ".r", ".R", ".ps1", ".awk", ".exp"};
    // Severity of each kind of exec and code drift ([gate.severity]).
    model::Severity binary = model::Severity::Critical, script = model::Severity::High,
                    library = model::Severity::Critical;
    std::vector<ExecAllow> allow;                  // [[exec_allow]]
    std::vector<Prohibit> prohibit;                // [[prohibit]]
};

// [[mount_rule]]: what a container may do with code on its tmpfs and volume mounts,
// by the path inside the container (fnmatch glob) and optional image/container globs.
struct MountRule {
    std::string path;
    std::string image, container;                  // empty: any
    model::MountAction action = model::MountAction::Deny;
};

struct MountsConfig {
    // An exec or code open from a tmpfs or volume of a container (none of them are
    // in the image): drift by default.
    model::MountAction default_action = model::MountAction::Deny;
    std::vector<MountRule> rules;                  // first match wins
};

struct BaselineConfig {
    std::string database = "/var/lib/layerlock/baseline.db";
    std::uint32_t threads = 0;                     // 0: one per online CPU
    // Baselines made before deploy (layerlock baseline import): a container whose
    // layers have no trusted (signed, verified) baseline is reported; with
    // unsigned = "on_error", its image files are also not trusted by the gate
    // (unknown: gate.on_error decides in enforce mode); "host" trusts the host's
    // own hashing of such layers (report only).
    bool require_signed = false;
    std::string unsigned_policy = "on_error";      // key "unsigned": "on_error" | "host"
    // A host layer whose records came from a signed baseline is checked against
    // them when first used and every verify_interval_s: "sample" hashes every
    // executable and verify_sample other files at random, "full" every file.
    std::string verify = "sample";                 // "sample" | "full" | "off"
    std::uint32_t verify_interval_s = 3600;        // 0: only when first used
    std::uint32_t verify_sample = 64;
};

struct DiscoveryConfig {
    std::string docker_socket = "/run/docker.sock";
    std::string docker_root = "/var/lib/docker";
    std::uint32_t namespace_scan_ms = 1000;        // other mount namespaces; 0: only the host's table
};

struct AlertConfig {
    bool journald = true;
    std::string stderr_output = "auto";            // "auto" (when a terminal), "always", "never"
    std::string json_path;                         // JSON lines file; empty: off
    std::string format = "layerlock";              // of the JSON lines: "layerlock" | "falco"
    std::uint32_t queue_size = 4096;
    // The same (container, kind, path, content, action, reason) alerts once per this
    // many seconds; the repeats are counted and summed up when the window closes.
    // 0: every occurrence alerts.
    std::uint32_t dedup_window_s = 300;
};

// [metrics]: Prometheus text exposition written to a file for node_exporter's
// textfile collector (no listener: the unit has no network).
struct MetricsConfig {
    std::string textfile_path;                     // empty: off
    std::uint32_t interval_s = 15;
};

struct EventConfig {                               // the event table behind `layerlock events`
    std::uint32_t max_age_days = 30;
    std::uint32_t max_rows = 1000000;
};

struct WatchConfig {                               // live file drift (inotify on upper dirs)
    std::uint32_t max_watches_per_container = 8192; // past this: periodic reconcile instead
    std::uint32_t reconcile_interval_s = 60;        // period of that fallback
};

struct AllowRule {                                 // [[allow]]: expected change, stored not alerted
    std::string path;                              // fnmatch glob on the path inside the container
    std::string image, container;                  // optional globs narrowing the rule; empty: any
};

struct FileDriftConfig {
    // Expected runtime changes: stored and queryable, never alerted.
    std::vector<std::string> quiet = {"/tmp/*", "/var/tmp/*", "/var/log/*", "/var/cache/*", "/run/*"};
    std::vector<AllowRule> allow;
    // Severity per kind of file drift ([file_drift.severity]).
    model::Severity binary = model::Severity::High, package = model::Severity::High,
                    sensitive = model::Severity::Critical, setuid = model::Severity::High,
                    config = model::Severity::Medium, file = model::Severity::Low;
};

// Behaviour drift: the process monitor (kernel process events connector).
// [[behaviour_allow]]: shells and package managers a workload runs by design (an
// entrypoint's `sh -c`, a plugin installer): not alerted. Fileless never is allowed.
struct BehaviourAllow {
    std::string kind;                              // "shell" | "package" | "" (either)
    std::string process, parent;                   // globs on comm or executable name; at least one
    std::string image, container;                  // empty: any
};

struct BehaviourConfig {
    bool enabled = true;
    std::vector<BehaviourAllow> allow;             // [[behaviour_allow]]
    // fnmatch globs on a process's comm or executable name.
    std::vector<std::string> shells = {"sh", "ash", "dash", "bash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish"};
    std::vector<std::string> package_managers = {"apt", "apt-get", "aptitude", "dpkg", "apk", "yum", "dnf",
                                                 "microdnf", "rpm", "zypper", "pip", "pip2*", "pip3*", "npm",
                                                 "yarn", "pnpm", "gem", "bundle"};
    model::Severity fileless = model::Severity::Critical, shell = model::Severity::Medium,
                    package = model::Severity::Medium;
    // Real-time priority (SCHED_FIFO 1) for the thread that reads process events, so
    // that a fileless payload is killed before it gets far; its work per event is bounded.
    bool realtime = true;
};

// One [[listen]] block: listeners declared for an image or container (never drift).
struct ListenRule {
    std::string image, container;                  // globs; empty: any
    std::vector<std::string> ports;                // "tcp/8080", "udp/53"
};

// Network drift: listening sockets not in a container's baseline.
struct NetworkConfig {
    bool enabled = true;
    std::uint32_t learn_seconds = 60;              // a container's first seconds: what it listens on is its baseline
    std::uint32_t check_interval_s = 30;           // slow periodic look (new processes trigger one too)
    model::Severity severity = model::Severity::High;
    std::vector<ListenRule> listen;
};

// One [[response]] block: actions taken when an alert matches (first match wins).
struct ResponseRule {
    std::string kind = "*";                        // glob on the alert's kind
    model::Severity min_severity = model::Severity::Info;
    std::string mode;                              // "monitor" | "enforce" | "" (any)
    std::string image, container;                  // globs; empty: any
    std::vector<std::string> actions;              // kill freeze stop quarantine forensics
};

struct ResponseConfig {
    std::vector<ResponseRule> rules;
    std::uint64_t quarantine_max_bytes = 1ull << 30;   // oldest samples evicted past this
    std::uint64_t forensics_max_bytes = 64ull << 20;   // per bundle
};

struct DaemonConfig {
    std::string lock_file = "/run/layerlock/layerlockd.lock";
    std::string control_socket = "/run/layerlock/control.sock";   // root-only (0600, peer uid checked)
    std::string log_level = "info";                // trace debug info warn error
};

struct Config {
    std::string source;                            // file it was loaded from
    model::Mode mode = model::Mode::Monitor;
    model::CodeGate code_gate = model::CodeGate::On;
    std::vector<ModeOverride> container_modes;     // by container name glob, first match wins
    std::vector<ModeOverride> image_modes;         // by image reference glob, first match wins
    GateConfig gate;
    BaselineConfig baseline;
    DiscoveryConfig discovery;
    AlertConfig alerts;
    EventConfig events;
    WatchConfig watch;
    FileDriftConfig file_drift;
    MountsConfig mounts;
    BehaviourConfig behaviour;
    NetworkConfig network;
    ResponseConfig response;
    MetricsConfig metrics;
    DaemonConfig daemon;
};

// Parses and validates FILE. Errors are Error::plain("FILE:LINE: KEY: problem").
base::Result<Config> load(const std::string& path);
// Same, from text (for tests); `name` stands in for the file name in errors.
base::Result<Config> parse(std::string_view text, const std::string& name);

// The keys whose values differ between `running` and `fresh` but that a running
// daemon cannot change (threads, files and sockets opened at start), as dotted
// names ("gate.workers"). A reload that would change one is refused, naming them.
std::vector<std::string> keys_needing_restart(const Config& running, const Config& fresh);

// The mode for a container: container-name overrides first, then image
// overrides, then the global mode (only overrides that set a mode count).
model::Mode mode_for(const Config& c, std::string_view container_name, std::string_view image);
// The code gate for a container, by the same rules (overrides that set code_gate).
model::CodeGate code_gate_for(const Config& c, std::string_view container_name, std::string_view image);
// What a container may do with code at `path` (inside the container) on one of its
// tmpfs or volume mounts: the first [[mount_rule]] that matches, else [mounts] default.
model::MountAction mount_action_for(const Config& c, std::string_view path, std::string_view container_name,
                                    std::string_view image);

}  // namespace layerlock::config
