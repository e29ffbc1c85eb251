// SPDX-License-Identifier: Apache-2.0
// layerlockd's wiring: start-up as a list of named steps, the discovery loop
// (mount table → marks → registry), metadata and baseline workers, signals
// (SIGTERM/SIGINT stop, SIGHUP reload) and systemd notification.
#pragma once

#include <memory>
#include <string>

#include "layerlock/config/config.hpp"

namespace layerlock::daemon {

// Runs until SIGTERM/SIGINT. Returns the process exit status.
// `log_level_override` (--log-level, already validated) outranks daemon.log_level,
// also after a reload.
int run(config::Config cfg, const std::string& log_level_override = {});

}  // namespace layerlock::daemon
