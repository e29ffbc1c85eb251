// SPDX-License-Identifier: Apache-2.0
// Tuning of exec and code drift (pure): [[exec_allow]] exceptions — drift that may
// run, by file path glob and/or by the process that runs or loads it (its parent
// for an exec, the opener for a code open), narrowed to images and containers —
// and [[prohibit]] — files denied even though they are the image's, by path glob
// or SHA-256. An allowed drift is alerted low (or not at all), never denied; a
// prohibited file is drift whatever its origin.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/config/config.hpp"
#include "layerlock/policy/verdict.hpp"

namespace layerlock::policy {

struct Subject {
    std::string_view path;                 // inside the container
    std::vector<std::string_view> process; // names of the process that runs or loads it (comm, exe names)
    std::string_view container, image;
};

// The first [[exec_allow]] block that lets this drift run, or nullptr.
const config::ExecAllow* allowed_drift(const std::vector<config::ExecAllow>& rules, const Subject& s);
// What an allowed drift is answered: allowed, with a low alert or quietly.
Verdict allow_drift(const Verdict& v, const config::ExecAllow& rule);

// True when a [[prohibit]] block names this file (`sha256`: its digest in hex, when
// known; a sha256 rule never matches a file whose digest is not known).
bool prohibited(const std::vector<config::Prohibit>& rules, const Subject& s, std::string_view sha256);
// The classification of a prohibited file: drift, critical.
inline Classification prohibited_file() { return {true, true, model::Severity::Critical, Reason::Prohibited}; }

}  // namespace layerlock::policy
