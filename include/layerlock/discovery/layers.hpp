// SPDX-License-Identifier: Apache-2.0
// Which image layer a layer directory holds, by the engine's own record of it: the
// layer's diff id (SHA-256 of its uncompressed tar), the same for every engine that
// unpacked the same layer. Lets the baseline hash a layer once for all engines.
#pragma once

#include <string>
#include <string_view>

namespace layerlock::discovery {

// The diff id ("sha256:<64 hex>") of a layer directory (a real path, as in
// model::Container::lowers), or empty when the engine keeps none for it:
//   Docker overlay2     <root>/overlay2/<cache id>/diff: the layerdb entry under
//                       <root>/image/overlay2/layerdb/sha256/ whose cache-id names it
//   containers/storage  <graph root>/overlay/<layer id>/diff: "diff-digest" of that
//                       layer in <graph root>/overlay-layers/layers.json
std::string layer_content_id(std::string_view layer_dir);

// The diff id recorded in containers/storage's layers.json text for `layer_id`
// (empty when absent or not a sha256 digest). Exposed for unit tests.
std::string storage_layer_diff(std::string_view layers_json, std::string_view layer_id);

}  // namespace layerlock::discovery
