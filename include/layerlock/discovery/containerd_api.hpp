// SPDX-License-Identifier: Apache-2.0
// containerd's gRPC API on its unix socket, for what its files do not hold: the
// image reference a task's container was created from (a plain `ctr run` or
// nerdctl spec does not carry it; containerd keeps it in its metadata database) and
// the digest that image name points at. gRPC stays behind this interface
// (containerd_api.cpp); one channel per socket, reconnected by gRPC itself when the
// engine restarts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "layerlock/base/result.hpp"

namespace layerlock::discovery {

struct ContainerdImage {
    std::string reference;  // e.g. "docker.io/library/busybox:1"
    std::string digest;     // the image's target (manifest or index) digest, "sha256:..."; may be empty
};

class ContainerdApi {
public:
    explicit ContainerdApi(std::chrono::milliseconds timeout = std::chrono::seconds(2));
    ~ContainerdApi();
    ContainerdApi(const ContainerdApi&) = delete;
    ContainerdApi& operator=(const ContainerdApi&) = delete;

    // The image of container `id` in containerd namespace `ns`, asked of the
    // containerd listening on `socket`. An error when the engine does not answer
    // within the timeout or does not know the container.
    base::Result<ContainerdImage> image_of(const std::string& socket, const std::string& ns, const std::string& id);

    // The digest an image name points at in namespace `ns`.
    base::Result<std::string> image_digest(const std::string& socket, const std::string& ns, const std::string& name);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The socket of the containerd whose task state lives in `task_dir`'s state root:
// "<state>/containerd.sock" for ".../<state>/io.containerd.runtime.v2.task/<ns>/<id>"
// (containerd's default state /run/containerd gives /run/containerd/containerd.sock).
std::string containerd_socket_for(const std::string& task_dir);

}  // namespace layerlock::discovery
