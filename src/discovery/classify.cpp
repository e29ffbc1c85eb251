// SPDX-License-Identifier: Apache-2.0
// Decides which container engine created an overlay mount, from its mount point and
// upper directory alone (no I/O). It must never call a host filesystem a container:
// a mark on the wrong overlay would gate the host's own execs, so every rule
// requires both the engine's mount-point shape and the matching upper directory,
// clean absolute paths, a whole-overlay mount (root "/") and a writable layer.
// Anything else is Runtime::Unknown. Engine metadata lives in docker.cpp and friends.
//
// Layouts recognised (per engine defaults; the Docker root is configurable):
//   Docker overlay2      <root>/overlay2/<id>/merged, upper <root>/overlay2/<id>/diff
//   Docker + containerd  <root>/rootfs/overlayfs/<id>, upper a containerd snapshot
//   containerd           .../io.containerd.runtime.v2.task/<ns>/<id>/rootfs,
//                        upper .../io.containerd.snapshotter.v1.overlayfs/snapshots/<n>/fs
//   Podman / CRI-O       .../containers/storage/overlay/<id>/merged, upper .../<id>/diff
#include <optional>
#include <string>
#include <string_view>

#include "layerlock/discovery/mounts.hpp"

namespace layerlock::discovery {
namespace {

constexpr std::string_view kDefaultDockerRoot = "/var/lib/docker";
constexpr std::string_view kTaskDir = "/io.containerd.runtime.v2.task/";
constexpr std::string_view kSnapshotDir = "/io.containerd.snapshotter.v1.overlayfs/snapshots/";
constexpr std::string_view kStorageDir = "/containers/storage/overlay/";

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

// A single path component an engine could have chosen as an id or a namespace.
bool is_id(std::string_view s) {
    if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
    for (char c : s)
        if (!is_id_char(c)) return false;
    return true;
}

bool is_digits(std::string_view s) {
    if (s.empty() || s.size() > 20) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Absolute, without empty, "." or ".." components and without a trailing '/'.
bool is_clean_absolute(std::string_view p) {
    if (p.size() < 2 || p.front() != '/' || p.back() == '/') return false;
    for (std::size_t i = 1; i <= p.size();) {
        std::size_t end = p.find('/', i);
        if (end == std::string_view::npos) end = p.size();
        std::string_view comp = p.substr(i, end - i);
        if (comp.empty() || comp == "." || comp == "..") return false;
        i = end + 1;
    }
    return true;
}

// If path is exactly "<prefix><id>/<leaf>" (prefix ends with '/'), the id.
std::optional<std::string_view> id_between(std::string_view path, std::string_view prefix,
                                           std::string_view leaf) {
    if (!path.starts_with(prefix)) return std::nullopt;
    path.remove_prefix(prefix.size());
    if (!leaf.empty()) {
        if (path.size() < leaf.size() + 1 || !path.ends_with(leaf)) return std::nullopt;
        path.remove_suffix(leaf.size());
        if (path.back() != '/') return std::nullopt;
        path.remove_suffix(1);
    }
    return is_id(path) ? std::optional(path) : std::nullopt;
}

// The directory "<...>/<name>" for a path ending in "/<name>/<leaf>", else empty.
std::string_view dir_of_leaf(std::string_view path, std::string_view leaf) {
    if (path.size() <= leaf.size() + 1 || !path.ends_with(leaf)) return {};
    path.remove_suffix(leaf.size());
    return path.back() == '/' ? path.substr(0, path.size() - 1) : std::string_view{};
}

// ".../io.containerd.snapshotter.v1.overlayfs/snapshots/<n>/fs"
bool is_containerd_snapshot(std::string_view upper) {
    std::string_view dir = dir_of_leaf(upper, "fs");
    std::size_t at = dir.rfind(kSnapshotDir);
    return at != std::string_view::npos && is_digits(dir.substr(at + kSnapshotDir.size()));
}

std::string normal_docker_root(std::string_view docker_root) {
    while (docker_root.size() > 1 && docker_root.back() == '/') docker_root.remove_suffix(1);
    return std::string(docker_root.empty() ? kDefaultDockerRoot : docker_root);
}

bool is_docker(const OverlayMount& m, std::string_view docker_root) {
    std::string root = normal_docker_root(docker_root);
    if (!is_clean_absolute(root)) return false;
    std::string overlay2 = root + "/overlay2/";
    if (auto id = id_between(m.mount_point, overlay2, "merged")) {
        // "<id>-init" is mounted by dockerd alone, for a moment, to write the init
        // layer (/etc/hosts, /.dockerenv): no container process runs there.
        if (id->ends_with("-init")) return false;
        return m.upper == overlay2 + std::string(*id) + "/diff";
    }
    // Docker with the containerd image store mounts containerd snapshots itself.
    return id_between(m.mount_point, root + "/rootfs/overlayfs/", "").has_value() &&
           is_containerd_snapshot(m.upper);
}

// ".../io.containerd.runtime.v2.task/<namespace>/<id>/rootfs"
bool is_containerd(const OverlayMount& m) {
    std::string_view dir = dir_of_leaf(m.mount_point, "rootfs");
    std::size_t at = dir.rfind(kTaskDir);
    if (at == std::string_view::npos) return false;
    std::string_view rest = dir.substr(at + kTaskDir.size());
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return false;
    return is_id(rest.substr(0, slash)) && is_id(rest.substr(slash + 1)) &&
           is_containerd_snapshot(m.upper);
}

// ".../containers/storage/overlay/<id>/merged" over ".../<id>/diff" of the same layer.
bool is_containers_storage(const OverlayMount& m) {
    std::string_view dir = dir_of_leaf(m.mount_point, "merged");
    if (dir.empty() || dir != dir_of_leaf(m.upper, "diff")) return false;
    std::size_t at = dir.rfind(kStorageDir);
    return at != std::string_view::npos && is_id(dir.substr(at + kStorageDir.size()));
}

}  // namespace

model::Runtime classify(const OverlayMount& m, std::string_view docker_root) {
    if (m.upper.empty() || m.root != "/") return model::Runtime::Unknown;
    if (!is_clean_absolute(m.mount_point) || !is_clean_absolute(m.upper))
        return model::Runtime::Unknown;
    if (is_docker(m, docker_root)) return model::Runtime::Docker;
    if (is_containerd(m)) return model::Runtime::Containerd;
    if (is_containers_storage(m)) return model::Runtime::Podman;
    return model::Runtime::Unknown;
}

}  // namespace layerlock::discovery
