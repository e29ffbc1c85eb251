// SPDX-License-Identifier: Apache-2.0
// What the image holds at a path, for the gate's workers. From the baseline
// database when every layer of the container is hashed; until then straight from
// the layer directories (overlay rules applied), so the gate never waits for a
// whole-image build to answer an exec.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::daemon {

// Opens this thread's baseline connection ahead of its first use.
void open_thread_store(const std::string& database);

// The image's regular file at `path` (from the baseline, or from the layers while
// it is incomplete: then without a digest).
gate::ImageFile image_file(const std::string& database, const gate::GatedContainer& c, const std::string& path);

// Whether some regular file of the image has exactly this size (true while the
// baseline is incomplete: not known).
bool image_has_size(const std::string& database, const gate::GatedContainer& c, std::uint64_t size);

// Whether some file of the image has this content (false while the baseline is incomplete).
bool content_in_image(const std::string& database, const gate::GatedContainer& c, const model::Sha256& content);

}  // namespace layerlock::daemon
