// SPDX-License-Identifier: Apache-2.0
// Splitting the paths engines build ("<root><marker><tail>/<leaf>") into the root
// and the part after the marker. Internal to src/discovery; the callers check the
// tail (a plain name, or "<namespace>/<id>") before using it in another path.
#pragma once

#include <optional>
#include <string_view>

namespace layerlock::discovery::detail {

struct MarkedPath {
    std::string_view root;  // before the marker; may be empty
    std::string_view tail;  // between the marker and "/<leaf>"
};

// `marker` starts and ends with '/', `leaf` has no '/'. The last occurrence of the
// marker counts.
inline std::optional<MarkedPath> split_marked(std::string_view path, std::string_view marker,
                                              std::string_view leaf) {
    if (path.size() < leaf.size() + 1 || !path.ends_with(leaf) || path[path.size() - leaf.size() - 1] != '/')
        return std::nullopt;
    std::string_view dir = path.substr(0, path.size() - leaf.size() - 1);
    std::size_t at = dir.rfind(marker);
    if (at == std::string_view::npos) return std::nullopt;
    return MarkedPath{dir.substr(0, at), dir.substr(at + marker.size())};
}

}  // namespace layerlock::discovery::detail
