// SPDX-License-Identifier: Apache-2.0
// The daemon's log. Every line names the part of the daemon it comes from, its
// category (libcamera's per-file categories are the model):
//   TIME LEVEL layerlockd[category]: message
// so that `journalctl -u layerlockd | grep 'layerlockd\[gate\]'` reads one part.
// Categories: daemon (start, stop, reload, signals), discovery (containers found,
// named, lost), gate (marks, containers gated or released, code gate), baseline
// (layers hashed, trust, the database), drift (reconcile and live file drift),
// alerts (sinks), behaviour (process monitor, network), control (control socket,
// metrics). Levels, all categories alike:
//   critical, error  something does not work: start refused, a container or mount
//                    not gated, a sink failing, the database gone
//   warn             it works, degraded: metadata unavailable, a watch limit, a
//                    priority not lowered
//   info             what changed: a container gated or released, a layer hashed,
//                    a reload, a mode changed
//   debug            the steps behind those: retries, deferred marks, discovery
//                    passes, control requests
//   trace            per file: each change the live watch or a reconcile examined
// Internal to src/daemon.
#pragma once

#include <spdlog/spdlog.h>

namespace layerlock::daemon::log {

enum class Category { Daemon, Discovery, Gate, Baseline, Drift, Alerts, Behaviour, Control };

// One logger per category, all writing to stderr (journald under systemd).
spdlog::logger& get(Category c);
// The level of every category (the configuration's daemon.log_level).
void set_level(spdlog::level::level_enum level);

}  // namespace layerlock::daemon::log
