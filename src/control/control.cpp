// SPDX-License-Identifier: Apache-2.0
#include "layerlock/control/control.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>

#include "layerlock/base/thread.hpp"

namespace layerlock::control {
namespace {

constexpr std::size_t kMaxRequest = 64 * 1024;
constexpr int kIoTimeoutMs = 2000;
constexpr int kMaxConnections = 32;

base::Result<sockaddr_un> address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return base::unexpected(base::Error::invalid(path + ": socket path too long"));
    path.copy(addr.sun_path, path.size());
    return addr;
}

// Reads up to the first '\n' (or EOF), within the deadline and the size bound.
base::Result<std::string> read_line(int fd, int timeout_ms) {
    std::string out;
    char buf[4096];
    while (out.find('\n') == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, timeout_ms);
        if (r == 0) return base::unexpected(base::Error::from_errno("control socket", ETIMEDOUT));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return base::unexpected(base::Error::from_errno("poll"));
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return base::unexpected(base::Error::from_errno("read"));
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxRequest) return base::unexpected(base::Error::invalid("message too large"));
    }
    if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
    return out;
}

bool write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

base::Result<void> ControlServer::start(const std::string& path, ControlHandler handler) {
    path_ = path;
    handler_ = std::move(handler);
    auto addr = address(path);
    if (!addr) return base::unexpected(addr.error());
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!std::filesystem::exists(dir, ec)) {   // created private; systemd's RuntimeDirectory is 0700 too
        std::filesystem::create_directories(dir, ec);
        ::chmod(dir.c_str(), 0700);
    }
    if (control_socket_answers(path))
        return base::unexpected(base::Error::plain(
            "another process answers on " + path + " (a layerlockd with another lock file?): not taking its socket"));
    ::unlink(path.c_str());   // stale socket of a previous run: nobody answers on it
    listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listen_fd_) return base::unexpected(base::Error::from_errno("socket"));
    mode_t old = ::umask(0177);   // the socket file is created 0600
    int r = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
    ::umask(old);
    if (r != 0) return base::unexpected(base::Error::from_errno("bind " + path));
    ::chmod(path.c_str(), 0600);
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) bound_ino_ = st.st_ino;
    if (::listen(listen_fd_.get(), 16) != 0) return base::unexpected(base::Error::from_errno("listen " + path));
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_) return base::unexpected(base::Error::from_errno("eventfd"));   // stop() could not end the thread
    thread_ = std::thread([this] {
        base::name_this_thread("ll-control");
        run();
    });
    return {};
}

void ControlServer::stop() noexcept {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
    {
        std::unique_lock lock(active_->mu);
        active_->cv.wait(lock, [&] { return active_->count == 0; });
    }
    // Only our own socket: another daemon's, bound at the path since, stays.
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == bound_ino_) ::unlink(path_.c_str());
}

base::Result<ControlRequest> parse_control_request(std::string_view line) {
    boost::system::error_code ec;
    auto value = boost::json::parse(line, ec);
    if (ec || !value.is_object()) return base::unexpected(base::Error::plain("request is not a JSON object"));
    const auto& obj = value.as_object();
    auto str = [&](const char* key) -> std::string {
        auto it = obj.find(key);
        return it != obj.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
    };
    return ControlRequest{str("verb"), str("container"), str("mode")};
}

std::string control_error_reply(const std::string& why, const char* code) {
    return boost::json::serialize(boost::json::object{{"ok", false}, {"error", why}, {"code", code}});
}

bool control_socket_answers(const std::string& path) {
    auto addr = address(path);
    if (!addr) return false;
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) == 0;
}

void ControlServer::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        base::UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) continue;
        {
            std::lock_guard lock(active_->mu);
            if (active_->count >= kMaxConnections) {   // answered at once, not queued behind idle peers
                write_all(conn.get(), "{\"ok\":false,\"error\":\"busy: too many control connections\"}\n");
                continue;
            }
            ++active_->count;
        }
        std::thread([this, active = active_, c = std::move(conn)]() mutable {
            base::name_this_thread("ll-control-c");
            serve(std::move(c));
            std::lock_guard lock(active->mu);
            --active->count;
            active->cv.notify_all();
        }).detach();
    }
}

void ControlServer::serve(base::UniqueFd conn) {
    ucred cred{};
    socklen_t len = sizeof cred;
    bool root = ::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0;
    auto request = read_line(conn.get(), kIoTimeoutMs);   // bounded in size and time
    if (!request) return;
    if (!root) {   // the request is read and discarded, so the peer gets the answer, not EPIPE
        write_all(conn.get(), "{\"ok\":false,\"error\":\"permission denied: the control socket serves root only\"}\n");
        return;
    }
    std::string answer;
    {
        std::lock_guard lock(handler_mu_);
        answer = handler_(*request);
    }
    write_all(conn.get(), answer + "\n");
}

base::Result<std::string> control_request(const std::string& path, const std::string& request,
                                          std::chrono::milliseconds timeout) {
    auto addr = address(path);
    if (!addr) return base::unexpected(addr.error());
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return base::unexpected(base::Error::from_errno("socket"));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
        int err = errno;
        if (err == ENOENT || err == ECONNREFUSED)
            return base::unexpected(base::Error::plain("layerlockd is not running (no daemon listening on " + path + ")"));
        if (err == EACCES || err == EPERM)
            return base::unexpected(base::Error::plain("permission denied on " + path + ": layerlock talks to the daemon as root only"));
        return base::unexpected(base::Error::from_errno("connect " + path, err));
    }
    if (!write_all(fd.get(), request + "\n")) return base::unexpected(base::Error::from_errno("send"));
    ::shutdown(fd.get(), SHUT_WR);
    auto line = read_line(fd.get(), static_cast<int>(timeout.count()));
    if (!line) return base::unexpected(line.error());
    if (line->empty()) return base::unexpected(base::Error::plain("layerlockd closed the connection without answering"));
    return line;
}

}  // namespace layerlock::control
