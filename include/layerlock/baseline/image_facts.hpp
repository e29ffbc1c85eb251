// SPDX-License-Identifier: Apache-2.0
// What a container's image holds at a path, for the gate's workers. From the baseline
// database when every layer of the image is hashed; until then straight from the layer
// directories (overlay rules applied: whiteouts, opaque directories), so the gate never
// waits for a whole-image build to answer an exec. One database connection per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::baseline {

// The image's regular file at one path, as the exec of an upper-layer file there
// needs to know it.
struct ImageFile {
    bool known = false;                         // false: baseline and layers unreadable (undecided)
    bool present = false;                       // the image has a regular file at the path
    std::uint64_t size = 0;                     // its size
    int layer = -1;                             // index into the layers of the one holding it
    // Its SHA-256, from the baseline; absent while the baseline is incomplete
    // (the gate then compares with the layer's file byte for byte).
    std::optional<model::Sha256> digest;
};

// A container's image layers, top-most first: their directories by path (the
// baseline's keys) and opened O_PATH (read beneath, never through a symlink).
struct ImageLayers {
    const std::vector<std::string>& paths;
    const std::vector<base::UniqueFd>& fds;
};

// Opens this thread's baseline connection ahead of its first use.
void open_thread_store(const std::string& database);

// The image's regular file at `path` (from the baseline, or from the layers while
// it is incomplete: then without a digest).
ImageFile image_file(const std::string& database, ImageLayers layers, const std::string& path);

// Whether some regular file of the image has exactly this size (true while the
// baseline is incomplete: not known).
bool image_has_size(const std::string& database, const std::vector<std::string>& layers, std::uint64_t size);

// Whether some file of the image has this content (false while the baseline is incomplete).
bool content_in_image(const std::string& database, const std::vector<std::string>& layers,
                      const model::Sha256& content);

}  // namespace layerlock::baseline
