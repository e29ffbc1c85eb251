// SPDX-License-Identifier: Apache-2.0
// Podman containers from containers/storage's own files: the overlay mounted at
// "<graphroot>/overlay/<layer>/merged" is a container's read-write layer; the
// container that owns it, its names and image come from overlay-containers/
// containers.json (libpod's "metadata" string adds the image reference the user ran),
// image names from overlay-images/images.json, the init pid from the pidfile Podman
// keeps under its run root. Both JSON files are replaced atomically by the engine, so
// reading them without its lock sees one version or the other. Owns no state.
#include <exception>

#include "engine_paths.hpp"
#include "json_fields.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/discovery/engines.hpp"

namespace layerlock::discovery {
namespace {

namespace json = detail::json;

constexpr std::string_view kOverlayDir = "/overlay/";
constexpr std::size_t kMaxStoreBytes = 64u << 20;

bool is_layer_id(std::string_view s) { return detail::is_plain_name(s); }

// libpod stores {"image-name": ..., "name": ...} as a JSON string inside the record;
// CRI-O stores {"pod-name", "pod-id", "image-name", "name", "metadata-name", ...}.
void read_metadata(const json::object* record, StorageContainer& c) {
    std::string meta = detail::string_at(record, "metadata");
    if (meta.empty()) return;
    boost::system::error_code ec;
    json::value v = json::parse(meta, ec);
    if (ec) return;
    c.image_name = detail::string_at(v.if_object(), "image-name");
    c.pod_id = detail::string_at(v.if_object(), "pod-id");
    c.metadata_name = detail::string_at(v.if_object(), "metadata-name");
}

StorageContainer container_from(const json::object* o) {
    StorageContainer c;
    c.id = detail::string_at(o, "id");
    c.names = detail::strings_at(o, "names");
    c.image_id = detail::string_at(o, "image");
    c.layer = detail::string_at(o, "layer");
    read_metadata(o, c);
    return c;
}

std::string first_or_empty(const std::vector<std::string>& v) { return v.empty() ? std::string() : v.front(); }

// The image's reference: what the user ran, else the image's first name.
std::string image_reference(const StorageContainer& c, const std::string& graph_root) {
    if (!c.image_name.empty()) return c.image_name;
    auto text = base::read_file(graph_root + "/overlay-images/images.json", kMaxStoreBytes);
    if (!text) return {};
    auto images = parse_storage_images(*text);
    if (!images) return {};
    auto it = images->find(c.image_id);
    return it == images->end() ? std::string() : first_or_empty(it->second);
}

}  // namespace

std::optional<StorageLayer> storage_layer(std::string_view mount_point) {
    auto parts = detail::split_marked(mount_point, kOverlayDir, "merged");
    if (!parts || parts->root.empty() || !is_layer_id(parts->tail)) return std::nullopt;
    return StorageLayer{std::string(parts->root), std::string(parts->tail)};
}

base::Result<std::vector<StorageContainer>> parse_storage_containers(std::string_view text) {
    try {
        auto v = detail::parse_json(text, "containers.json");
        if (!v) return base::unexpected(v.error());
        const json::array* arr = v->if_array();
        if (!arr) return base::unexpected(base::Error::plain("containers.json: not a JSON array"));
        std::vector<StorageContainer> out;
        for (const json::value& e : *arr) {
            auto c = container_from(e.if_object());
            if (!c.id.empty()) out.push_back(std::move(c));
        }
        return out;
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("containers.json: ") + e.what()));
    }
}

base::Result<std::map<std::string, std::vector<std::string>>> parse_storage_images(std::string_view text) {
    try {
        auto v = detail::parse_json(text, "images.json");
        if (!v) return base::unexpected(v.error());
        const json::array* arr = v->if_array();
        if (!arr) return base::unexpected(base::Error::plain("images.json: not a JSON array"));
        std::map<std::string, std::vector<std::string>> out;
        for (const json::value& e : *arr) {
            std::string id = detail::string_at(e.if_object(), "id");
            if (!id.empty()) out[id] = detail::strings_at(e.if_object(), "names");
        }
        return out;
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("images.json: ") + e.what()));
    }
}

base::Result<EngineContainer> parse_crio_spec(std::string_view text) {
    try {
        auto v = detail::parse_json(text, "CRI-O spec");
        if (!v) return base::unexpected(v.error());
        if (!v->is_object()) return base::unexpected(base::Error::plain("CRI-O spec: not a JSON object"));
        const json::object* ann = detail::object_at(v->if_object(), "annotations");
        EngineContainer c;
        c.k8s_pod = detail::string_at(ann, "io.kubernetes.pod.name");
        c.k8s_namespace = detail::string_at(ann, "io.kubernetes.pod.namespace");
        c.k8s_container = detail::string_at(ann, "io.kubernetes.container.name");
        c.image = detail::string_at(ann, "io.kubernetes.cri-o.ImageName");
        return c;
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("CRI-O spec: ") + e.what()));
    }
}

base::Result<EngineContainer> read_storage_container(const StorageLayer& layer, const std::string& run_root) {
    const std::string path = layer.graph_root + "/overlay-containers/containers.json";
    auto text = base::read_file(path, kMaxStoreBytes);
    if (!text) return base::unexpected(text.error());
    auto all = parse_storage_containers(*text);
    if (!all) return base::unexpected(all.error());
    for (const auto& s : *all) {
        if (s.layer != layer.layer || !is_layer_id(s.id)) continue;
        EngineContainer c;
        c.id = s.id;
        c.name = first_or_empty(s.names);
        c.image_id = s.image_id;
        c.image = image_reference(s, layer.graph_root);
        const std::string userdata = run_root + "/overlay-containers/" + s.id + "/userdata/";
        auto pid = base::read_file(userdata + "pidfile", 64);
        if (pid) c.pid = parse_pid(*pid);
        if (!s.pod_id.empty()) {
            c.cri_o = true;
            c.k8s_container = s.metadata_name;
            if (auto spec = base::read_file(userdata + "config.json", kMaxStoreBytes))
                if (auto k = parse_crio_spec(*spec)) {
                    c.k8s_pod = k->k8s_pod;
                    c.k8s_namespace = k->k8s_namespace;
                    if (!k->k8s_container.empty()) c.k8s_container = k->k8s_container;
                    if (c.image.empty()) c.image = k->image;
                }
        }
        return c;
    }
    return base::unexpected(base::Error{std::make_error_code(std::errc::no_such_file_or_directory),
                                        path + ": no container with layer " + layer.layer});
}

}  // namespace layerlock::discovery
