// SPDX-License-Identifier: Apache-2.0
// What the image holds at a path, for the gate's workers. From the baseline
// database when every layer of the container is hashed; until then straight from
// the layer directories (overlay rules applied, the one file hashed on demand), so
// the gate never waits for a whole-image build to answer an exec.
#pragma once

#include <chrono>
#include <string>

#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::daemon {

// Opens this thread's baseline connection ahead of its first use.
void open_thread_store(const std::string& database);

gate::ImageFacts image_facts(const std::string& database, const gate::GatedContainer& c,
                             const std::string& path, const model::Sha256& content,
                             std::chrono::steady_clock::time_point deadline);

}  // namespace layerlock::daemon
