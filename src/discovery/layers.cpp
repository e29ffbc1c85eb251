// SPDX-License-Identifier: Apache-2.0
// Layer content identity from the engines' records (see layers.hpp). Reads only
// small files the engines write atomically; names taken from a path are checked
// to be plain names before they are used to build another path.
#include "layerlock/discovery/layers.hpp"

#include <dirent.h>

#include <optional>

#include "engine_paths.hpp"
#include "json_fields.hpp"
#include "layerlock/base/fs.hpp"

namespace layerlock::discovery {
namespace {

constexpr std::size_t kMaxLayersJson = 64u << 20;

bool is_diff_id(std::string_view s) {
    if (s.size() != 71 || !s.starts_with("sha256:")) return false;
    for (char c : s.substr(7))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// "<root><marker><id>/diff" → (root, id), when id is a plain name.
std::optional<std::pair<std::string, std::string>> split(std::string_view dir, std::string_view marker) {
    auto parts = detail::split_marked(dir, marker, "diff");
    if (!parts || parts->root.empty() || !detail::is_plain_name(parts->tail)) return std::nullopt;
    return std::pair{std::string(parts->root), std::string(parts->tail)};
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string docker_diff(const std::string& root, const std::string& cache_id) {
    std::string layerdb = root + "/image/overlay2/layerdb/sha256";
    DIR* d = ::opendir(layerdb.c_str());
    if (!d) return {};
    std::string found;
    while (dirent* e = ::readdir(d)) {
        if (!detail::is_plain_name(e->d_name)) continue;
        std::string entry = layerdb + "/" + e->d_name;
        auto id = base::read_file(entry + "/cache-id", 256);
        if (!id || trimmed(*id) != cache_id) continue;
        auto diff = base::read_file(entry + "/diff", 256);
        if (diff && is_diff_id(trimmed(*diff))) found = trimmed(*diff);
        break;
    }
    ::closedir(d);
    return found;
}

}  // namespace

std::string storage_layer_diff(std::string_view layers_json, std::string_view layer_id) try {
    auto v = detail::parse_json(layers_json, "layers.json");
    if (!v) return {};
    const detail::json::array* arr = v->if_array();
    if (!arr) return {};
    for (const detail::json::value& e : *arr) {
        const detail::json::object* o = e.if_object();
        if (detail::string_at(o, "id") != layer_id) continue;
        std::string diff = detail::string_at(o, "diff-digest");
        return is_diff_id(diff) ? diff : std::string();
    }
    return {};
} catch (const std::exception&) {
    return {};  // out of memory on a huge file: no identity, the layer is hashed
}

std::string layer_content_id(std::string_view layer_dir) {
    if (auto d = split(layer_dir, "/overlay2/")) return docker_diff(d->first, d->second);
    if (auto s = split(layer_dir, "/overlay/")) {
        auto text = base::read_file(s->first + "/overlay-layers/layers.json", kMaxLayersJson);
        return text ? storage_layer_diff(*text, s->second) : std::string();
    }
    return {};
}

}  // namespace layerlock::discovery
