// SPDX-License-Identifier: Apache-2.0
// Finding containers: the mount table says which overlays exist and which engine
// made them; the engine's metadata (Docker Engine API; containerd's task bundle and
// containers/storage's files for containerd and Podman) names them. Shared by the
// daemon (continuously) and the CLI (once, without the daemon).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "layerlock/config/config.hpp"
#include "layerlock/discovery/containerd_api.hpp"
#include "layerlock/discovery/docker.hpp"
#include "layerlock/discovery/mounts.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::discovery {

// A container known from its overlay mount alone: layer paths resolved, metadata empty.
model::Container from_mount(const OverlayMount& m, model::Runtime rt);

// Fills name/image/pid (and the Kubernetes names) from the engine that made the
// container, chosen by c.runtime. Docker: remembers what it learned (by merged dir)
// so that a later call costs one list request. containerd and Podman: reads their
// state files each time, waiting up to kPidWait for an init pid the engine has not
// written yet (the rootfs is mounted before the task's process exists). Thread-safe.
class Metadata {
public:
    static constexpr std::chrono::milliseconds kPidWait{2000};
    explicit Metadata(const config::DiscoveryConfig& c) : docker_(c.docker_socket) {}
    // True when the engine's metadata for this container was found.
    bool enrich(model::Container& c);

private:
    bool enrich_docker(model::Container& c);
    bool enrich_containerd(model::Container& c);
    bool refresh_docker();
    DockerClient docker_;
    ContainerdApi containerd_;
    std::mutex mu_;
    std::map<std::string, DockerContainer> by_merged_;   // MergedDir → container
    std::map<std::string, bool> inspected_;                          // container id → seen
};

// Every container overlay in the host's mount table right now (not the host's own).
std::vector<model::Container> scan_containers(const config::Config& cfg, Metadata* meta);

// Finds containers by name, full id or id prefix (≥ 4 chars).
std::vector<model::Container> select_containers(const std::vector<model::Container>& all,
                                                const std::vector<std::string>& wanted,
                                                std::vector<std::string>* missing);

}  // namespace layerlock::discovery
