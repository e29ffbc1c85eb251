// SPDX-License-Identifier: Apache-2.0
// Internal to src/discovery: one HTTP/1.1 GET over a unix stream socket with a hard
// deadline. The only place Boost.Beast and Boost.Asio are included (unix_http.cpp),
// because they are slow to compile and no other module should see them.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "layerlock/base/result.hpp"

namespace layerlock::discovery::detail {

struct HttpResponse {
    unsigned status = 0;
    std::string body;
};

// Connects to socket_path, sends "GET target", and reads the whole response. The
// deadline covers connect, write and read together; when it passes the socket is
// closed and the error is std::errc::timed_out. Never throws.
base::Result<HttpResponse> http_get_unix(const std::string& socket_path, const std::string& target,
                                         std::chrono::milliseconds timeout) noexcept;
// The same for a POST with an empty body (an action: stop a container).
base::Result<HttpResponse> http_post_unix(const std::string& socket_path, const std::string& target,
                                          std::chrono::milliseconds timeout) noexcept;

// A GET whose body may be far larger than memory (an image export): the body is
// handed to `on_data` as it arrives (chunked encoding undone); `on_data` returns
// false to stop. `idle` bounds each wait for the peer, not the whole transfer.
// Returns the status; a body of another status than 200 is read whole into
// `error_body` (at most 64 KiB) instead.
base::Result<unsigned> http_get_stream_unix(const std::string& socket_path, const std::string& target,
                                            std::chrono::milliseconds idle,
                                            const std::function<bool(const char*, std::size_t)>& on_data,
                                            std::string* error_body) noexcept;

}  // namespace layerlock::discovery::detail
