// SPDX-License-Identifier: Apache-2.0
// Docker Engine API client over its unix socket (Boost.Beast + Boost.JSON stay in
// src/discovery). Synchronous, short timeouts: callers run it off the gate path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"

namespace layerlock::discovery {

struct DockerContainer {
    std::string id;
    std::string name;          // without the leading '/'
    std::string image;         // Config.Image (the reference the user ran)
    std::string image_id;      // Image ("sha256:...")
    pid_t pid = 0;             // State.Pid
    bool running = false;
    std::string merged_dir;    // GraphDriver.Data.MergedDir
    std::string upper_dir;     // GraphDriver.Data.UpperDir
    std::vector<std::string> lower_dirs;  // GraphDriver.Data.LowerDir split on ':'
};

// Parses the body of GET /containers/{id}/json.
base::Result<DockerContainer> parse_inspect(std::string_view json);
// Parses the body of GET /containers/json: the ids of running containers.
base::Result<std::vector<std::string>> parse_list(std::string_view json);

class DockerClient {
public:
    explicit DockerClient(std::string socket_path,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
    base::Result<std::vector<std::string>> list_running();
    base::Result<DockerContainer> inspect(const std::string& id);
    // GET path → body (status 200 only); exposed for tests and future endpoints.
    base::Result<std::string> get(const std::string& target);
    // POST /containers/{id}/stop?t=SECONDS: the engine stops the container (SIGTERM,
    // then SIGKILL after the grace period). Done also when it was already stopped.
    base::Result<void> stop(const std::string& id, int grace_seconds);
    // GET /images/{name}/get: the image as `docker save` writes it, streamed to
    // `on_data` (false stops). No container is started.
    base::Result<void> save_image(const std::string& name, const std::function<bool(const char*, std::size_t)>& on_data);

private:
    std::string socket_path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace layerlock::discovery
