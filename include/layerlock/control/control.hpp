// SPDX-License-Identifier: Apache-2.0
// The control socket: a unix stream socket (mode 0600 in a 0700 directory) that
// serves one JSON request per connection to root peers only (SO_PEERCRED), for
// `layerlock status | reload | mode`. The server never blocks the gate: it runs
// on its own thread, with a read deadline per connection and a bounded request.
// The client half is here too so that the CLI and the daemon share the framing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::control {

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
    // Refused when another process answers on `path` (a second daemon with another
    // lock file must not take the first one's socket).
    base::Result<void> start(const std::string& path, ControlHandler handler);
    // Stops accepting, waits for the connections being served (each bounded by the
    // I/O timeout), and removes the socket file if it is still the one bound here.
    void stop() noexcept;

private:
    void run();
    void serve(base::UniqueFd conn);
    std::string path_;
    ControlHandler handler_;
    std::mutex handler_mu_;   // requests are read concurrently, answered one at a time
    base::UniqueFd listen_fd_, stop_fd_;
    std::thread thread_;
    ino_t bound_ino_ = 0;
    // Connections served on threads of their own (an idle client must not keep
    // others waiting), at most kMaxConnections at once.
    struct Active {
        std::mutex mu;
        std::condition_variable cv;
        int count = 0;
    };
    std::shared_ptr<Active> active_ = std::make_shared<Active>();
};

// One request line: a JSON object with a "verb" and, for some verbs, "container"
// and "mode" (strings; other members are ignored).
struct ControlRequest {
    std::string verb, container, mode;
};
base::Result<ControlRequest> parse_control_request(std::string_view line);
// The reply refusing a request: one JSON line, `why` escaped by the serializer.
std::string control_error_reply(const std::string& why, const char* code = "refused");

// True when a process accepts connections on the Unix socket at `path`.
bool control_socket_answers(const std::string& path);

// Client: sends one request, returns the response line. Errors name the cause
// plainly: the daemon is not running, or the caller is not allowed.
base::Result<std::string> control_request(const std::string& path, const std::string& request,
                                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace layerlock::control
