// SPDX-License-Identifier: Apache-2.0
// The daemon's counters and gauges in the Prometheus text exposition format
// (prometheus-cpp's TextSerializer), written atomically to a file that
// node_exporter's textfile collector reads ([metrics] textfile_path). The
// daemon has no network listener; this is the whole of its metrics surface.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "layerlock/base/result.hpp"

namespace layerlock::daemon {

// One reading of everything exported (a snapshot: counters are read once).
struct MetricsSnapshot {
    double start_time_seconds = 0;               // CLOCK_REALTIME of the daemon's start
    // The gate.
    std::uint64_t exec_events = 0, open_events = 0;
    std::uint64_t allowed = 0, denied = 0;
    std::map<std::string, std::uint64_t> fallback;   // by reason: timeout, overload, unknown_container, error
    std::uint64_t queue_overflows = 0, answer_failures = 0, allowlisted = 0, prohibited = 0, untrusted_image = 0;
    std::uint64_t hashed_files = 0, hashed_bytes = 0;
    std::uint64_t cache_hits = 0, cache_misses = 0, cache_entries = 0;
    std::vector<double> latency_bounds_seconds;  // upper bounds
    std::vector<std::uint64_t> latency_buckets;  // one per bound, then +Inf (not cumulative)
    double latency_sum_seconds = 0;
    // Alerts.
    std::uint64_t alerts_delivered = 0, alerts_dropped = 0, alerts_suppressed = 0, alert_summaries = 0;
    std::uint64_t alert_sink_failures = 0;
    // Containers gated, by (runtime, mode).
    std::map<std::pair<std::string, std::string>, std::uint64_t> containers;
    std::uint64_t baseline_layers = 0, baseline_files = 0;
    // Behaviour.
    bool process_monitor = false;
    std::uint64_t process_events = 0, process_events_lost = 0, behaviour_alerts = 0, fileless_killed = 0;
};

// The exposition text of a snapshot.
std::string metrics_text(const MetricsSnapshot& m);

// Writes `text` to `path` atomically (a temporary file in the same directory,
// renamed over it; mode 0644: node_exporter reads it as its own user).
base::Result<void> write_textfile(const std::string& path, const std::string& text);

}  // namespace layerlock::daemon
