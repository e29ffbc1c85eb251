// SPDX-License-Identifier: Apache-2.0
// layerlockd's wiring: start-up as a list of named steps, the discovery loop
// (mount table → marks → registry), metadata and baseline workers, signals
// (SIGTERM/SIGINT stop, SIGHUP reload) and systemd notification.
#pragma once

#include <memory>

#include "layerlock/config/config.hpp"

namespace layerlock::daemon {

// Runs until SIGTERM/SIGINT. Returns the process exit status.
int run(config::Config cfg);

}  // namespace layerlock::daemon
