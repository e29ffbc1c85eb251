// SPDX-License-Identifier: Apache-2.0
// The one translation unit that includes Boost.Beast and Boost.Asio: a synchronous
// HTTP/1.1 GET over a unix stream socket, bounded by a single deadline. It runs
// asynchronous connect/write/read on a private io_context so that beast::basic_stream
// can enforce the deadline (it closes the socket when time runs out); a second,
// slightly later backstop stops the io_context and closes the socket itself, so a
// dead or stalled peer can never hold the caller much past the timeout. It knows
// nothing about Docker; docker.cpp builds targets and reads bodies.
#include "unix_http.hpp"

// GCC 12 with -fsanitize reports a false -Wmaybe-uninitialized inside Beast's
// parser (boost::optional<std::uint64_t>); silence it for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#pragma GCC diagnostic pop
#include <sys/socket.h>
#include <sys/un.h>

#include <exception>

namespace layerlock::discovery::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Stream = beast::basic_stream<asio::local::stream_protocol>;

constexpr std::uint64_t kMaxBody = 64u << 20;
constexpr std::uint32_t kMaxHeader = 64u << 10;
constexpr std::chrono::milliseconds kBackstopSlack{250};

// One request in flight; lives on the caller's stack while the io_context runs.
struct Exchange {
    explicit Exchange(asio::io_context& ioc) : stream(ioc) {}
    Stream stream;
    http::request<http::empty_body> req;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    beast::error_code ec;
    const char* stage = "connect";
};

void start(Exchange& x, const asio::local::stream_protocol::endpoint& ep) {
    x.stream.async_connect(ep, [&x](beast::error_code ec) {
        if (ec) return void(x.ec = ec);
        x.stage = "write";
        http::async_write(x.stream, x.req, [&x](beast::error_code ec, std::size_t) {
            if (ec) return void(x.ec = ec);
            x.stage = "read";
            http::async_read(x.stream, x.buffer, x.parser,
                             [&x](beast::error_code ec, std::size_t) { x.ec = ec; });
        });
    });
}

// Runs the exchange to completion or until the backstop, whichever is first.
void run_bounded(asio::io_context& ioc, Exchange& x, std::chrono::milliseconds timeout) {
    ioc.run_for(timeout + kBackstopSlack);
    if (ioc.stopped()) return;
    beast::error_code ignored;
    x.stream.socket().close(ignored);  // completes every pending operation, aborted
    ioc.restart();
    ioc.run();
    x.ec = beast::error::timeout;
}

base::Error to_error(const Exchange& x, const std::string& context,
                     std::chrono::milliseconds timeout) {
    std::string where = context + ": " + x.stage;
    if (x.ec == beast::error::timeout || x.ec == asio::error::operation_aborted)
        return {std::make_error_code(std::errc::timed_out),
                where + ": no answer within " + std::to_string(timeout.count()) + " ms"};
    if (x.ec.category() == boost::system::system_category())
        return base::Error::from_errno(where, x.ec.value());
    return {std::make_error_code(std::errc::protocol_error), where + ": " + x.ec.message()};
}

base::Result<HttpResponse> exchange(const std::string& socket_path, http::verb verb, const std::string& target,
                                    std::chrono::milliseconds timeout) {
    std::string context = std::string(http::to_string(verb)) + " " + target + " on " + socket_path;
    if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path))
        return base::unexpected(base::Error::from_errno(context, ENAMETOOLONG));
    asio::io_context ioc(1);
    Exchange x(ioc);
    x.req = {verb, target, 11};
    x.req.set(http::field::host, "docker");
    x.req.set(http::field::user_agent, "layerlock");
    x.req.keep_alive(false);
    if (verb == http::verb::post) x.req.content_length(0);
    x.parser.body_limit(kMaxBody);
    x.parser.header_limit(kMaxHeader);
    x.stream.expires_after(timeout);
    start(x, asio::local::stream_protocol::endpoint(socket_path));
    run_bounded(ioc, x, timeout);
    if (x.ec) return base::unexpected(to_error(x, context, timeout));
    HttpResponse r;
    r.status = x.parser.get().result_int();
    r.body = std::move(x.parser.get().body());
    return r;
}

}  // namespace

base::Result<HttpResponse> http_get_unix(const std::string& socket_path, const std::string& target,
                                         std::chrono::milliseconds timeout) noexcept {
    try {
        return exchange(socket_path, http::verb::get, target, timeout);
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain("GET " + target + " on " + socket_path + ": " +
                                                   e.what()));
    }
}

base::Result<HttpResponse> http_post_unix(const std::string& socket_path, const std::string& target,
                                          std::chrono::milliseconds timeout) noexcept {
    try {
        return exchange(socket_path, http::verb::post, target, timeout);
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain("POST " + target + " on " + socket_path + ": " +
                                                   e.what()));
    }
}

base::Result<unsigned> http_get_stream_unix(const std::string& socket_path, const std::string& target,
                                            std::chrono::milliseconds idle,
                                            const std::function<bool(const char*, std::size_t)>& on_data,
                                            std::string* error_body) noexcept {
    const std::string context = "GET " + target + " on " + socket_path;
    try {
        if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path))
            return base::unexpected(base::Error::from_errno(context, ENAMETOOLONG));
        asio::io_context ioc(1);
        asio::local::stream_protocol::socket sock(ioc);
        beast::error_code ec;
        sock.connect(asio::local::stream_protocol::endpoint(socket_path), ec);
        if (ec) return base::unexpected(base::Error::from_errno(context + ": connect", ec.value()));
        // Plain blocking I/O, each wait bounded by the socket's own timeouts.
        timeval tv{static_cast<time_t>(idle.count() / 1000), static_cast<suseconds_t>((idle.count() % 1000) * 1000)};
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, "docker");
        req.set(http::field::user_agent, "layerlock");
        req.keep_alive(false);
        http::write(sock, req, ec);
        if (ec) return base::unexpected(base::Error::from_errno(context + ": write", ec.value()));
        beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        parser.header_limit(kMaxHeader);
        http::read_header(sock, buffer, parser, ec);
        if (ec) return base::unexpected(base::Error::plain(context + ": read: " + ec.message()));
        const unsigned status = parser.get().result_int();
        std::vector<char> chunk(std::size_t{1} << 20);
        std::size_t kept = 0;
        while (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            http::read(sock, buffer, parser, ec);
            if (ec == http::error::need_buffer) ec = {};
            if (ec) return base::unexpected(base::Error::plain(context + ": read: " + ec.message()));
            const std::size_t n = chunk.size() - parser.get().body().size;
            if (status != 200) {
                if (error_body && kept < (64u << 10)) error_body->append(chunk.data(), std::min(n, (64u << 10) - kept));
                kept += n;
                continue;
            }
            if (n > 0 && !on_data(chunk.data(), n)) return base::unexpected(base::Error::plain(context + ": stopped"));
        }
        return status;
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(context + ": " + e.what()));
    }
}

}  // namespace layerlock::discovery::detail
