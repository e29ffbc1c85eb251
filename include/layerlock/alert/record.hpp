// SPDX-License-Identifier: Apache-2.0
// The one event record. Every output is a view of it, built with Boost.JSON here
// and nowhere else: the JSON-lines sink (layerlock or Falco format), `layerlock
// events --json`, `layerlock scan --json`, the journald fields and the human text
// line. Fields that are not known are left out and named in "unknown" (never an
// empty string standing for "unknown"). Every value taken from a container is
// escaped (base/escape.hpp) before it enters a record.
//
// The layerlock record (docs/events.md has the schema):
//   time (RFC 3339, nanoseconds, UTC), hostname, kind, severity, action, reason,
//   rule and tags (the Falco rule name and MITRE ATT&CK tags of the detection),
//   runtime, container_id, container_name, image, image_id, k8s_namespace, k8s_pod,
//   k8s_container, path, location, mount, sha256, change, detail, package, count,
//   last_time (a summary of repeats), quiet, pid, ppid, comm, exe, cmdline, uid, user, parent_comm, process_tree, unknown
// The Falco record: time, rule, priority, output, output_fields (Falco's dotted
// names where one exists, layerlock.* for the rest), source, tags, hostname.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/model/types.hpp"

namespace layerlock::alert {

// The Falco rule name of a detection (Falco's own where one exists).
std::string_view rule_of(const model::DriftEvent& ev);
// Falco's priority for a severity (Emergency ... Debug).
std::string_view falco_priority(model::Severity s);
// Tags: the area, and MITRE ATT&CK technique and tactic ids.
std::vector<std::string> tags_of(const model::DriftEvent& ev);
// "2026-12-05T06:01:08.123456789Z"
std::string rfc3339(std::int64_t time_ns);
// What the record leaves out because it is not known.
std::vector<std::string> unknowns_of(const model::DriftEvent& ev);

boost::json::object record(const model::DriftEvent& ev, const std::string& hostname);
boost::json::object falco_record(const model::DriftEvent& ev, const std::string& hostname);

// The host's name, once.
const std::string& host_name();

}  // namespace layerlock::alert
