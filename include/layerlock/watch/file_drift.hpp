// SPDX-License-Identifier: Apache-2.0
// The file-drift pipeline, one for every caller: the daemon's reconcile of a
// container it discovers, its live watch (one change at a time), and `layerlock
// scan`. A change of the writable layer is classified by the file rules the
// configuration states, package-database changes are expanded into the packages
// they add, remove or change, and each becomes the drift event all three report.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/watch/packages.hpp"
#include "layerlock/watch/reconcile.hpp"

namespace layerlock::watch {

// The file drift rules the configuration asks for ([file_drift] quiet and
// severities, [[file_drift.allow]], path-only [[gate.allow]]).
policy::FileRules file_rules(const config::Config& cfg);

// One change of a container's writable layer, judged by `rules`.
policy::FileVerdict classify(const FileChange& ch, const model::Container& c, const policy::FileRules& rules);

// Whether the change is one to alert on: a directory whose times or owner changed
// (a copy-up of anything beneath it) is drift `docker diff` shows, not news.
bool worth_alerting(const FileChange& ch);

// The drift event one change is. `mode`: the container's; in learn mode the event
// is a candidate exception ("learned").
model::DriftEvent file_event(const model::Container& c, const FileChange& ch, const policy::FileVerdict& v,
                             std::int64_t now_ns, model::Mode mode = model::Mode::Monitor);

struct Finding {
    FileChange change;
    policy::FileVerdict verdict;
    std::vector<PackageChange> packages;   // for a change of a package database
};

// Reconciles the writable layer `upper_fd` with the container's image in `store`
// (which must be complete for c.lowers), classifies every change and hands each to
// `each`, in path order; `each` returns false to stop early. The walk is bounded
// and cancellable by `limits`.
base::Result<void> scan_drift(int upper_fd, const model::Container& c, baseline::Store& store,
                              const policy::FileRules& rules, const ScanLimits& limits,
                              const std::function<bool(Finding&&)>& each);

// The same for one path of the writable layer (after an inotify event): nullopt when
// the layer no longer holds it (a new file deleted again: no drift).
std::optional<Finding> examine_drift(int upper_fd, const std::string& path, const model::Container& c,
                                     baseline::Store& store, const policy::FileRules& rules, const ScanLimits& limits);

}  // namespace layerlock::watch
