// SPDX-License-Identifier: Apache-2.0
// The control socket: a unix stream socket (mode 0600 in a 0700 directory) that
// serves one JSON request per connection to root peers only (SO_PEERCRED), for
// `layerlock status | reload | mode`. The server never blocks the gate: it runs
// on its own thread, with a read deadline per connection and a bounded request.
// The client half is here too so that the CLI and the daemon share the framing.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::daemon {

// Request and response are single JSON objects, each followed by '\n'.
using ControlHandler = std::function<std::string(const std::string& request)>;

class ControlServer {
public:
    ControlServer() = default;
    ~ControlServer() { stop(); }
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Binds `path` (an existing stale socket file is replaced: the caller holds
    // the single-instance lock) and starts serving on its own thread.
    base::Result<void> start(const std::string& path, ControlHandler handler);
    void stop() noexcept;

private:
    void run();
    void serve(base::UniqueFd conn);
    std::string path_;
    ControlHandler handler_;
    base::UniqueFd listen_fd_, stop_fd_;
    std::thread thread_;
};

// Client: sends one request, returns the response line. Errors name the cause
// plainly: the daemon is not running, or the caller is not allowed.
base::Result<std::string> control_request(const std::string& path, const std::string& request,
                                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace layerlock::daemon
