// SPDX-License-Identifier: Apache-2.0
#include "layerlock/process/sockets.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace layerlock::process {
namespace {

using base::Error;
using base::unexpected;

constexpr int kTcpListen = 10;   // TCP_LISTEN in the kernel's state numbering
constexpr int kTcpClose = 7;     // an unconnected UDP socket

std::string state_name(unsigned s) {
    static const char* names[] = {"", "established", "syn-sent", "syn-recv", "fin-wait1", "fin-wait2", "time-wait",
                                  "close", "close-wait", "last-ack", "listen", "closing"};
    return s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

base::Result<void> query(int fd, std::uint8_t family, std::uint8_t protocol, std::uint32_t states,
                         std::vector<Listener>& out) {
    struct {
        nlmsghdr nl;
        inet_diag_req_v2 req;
    } msg{};
    msg.nl.nlmsg_len = sizeof msg;
    msg.nl.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nl.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = family;
    msg.req.sdiag_protocol = protocol;
    msg.req.idiag_states = states;
    if (::send(fd, &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg))
        return unexpected(Error::from_errno("sock_diag request"));
    alignas(nlmsghdr) char buf[32768];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return unexpected(Error::from_errno("sock_diag reply"));
        int len = static_cast<int>(n);
        for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, static_cast<unsigned>(len));
             nl = NLMSG_NEXT(nl, len)) {
            if (nl->nlmsg_type == NLMSG_DONE) return {};
            if (nl->nlmsg_type == NLMSG_ERROR) return unexpected(Error::plain("sock_diag: the kernel refused the query"));
            const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(nl));
            Listener l;
            l.proto = protocol == IPPROTO_TCP ? "tcp" : "udp";
            l.port = ntohs(d->id.idiag_sport);
            l.inode = d->idiag_inode;
            char text[INET6_ADDRSTRLEN] = {};
            ::inet_ntop(family, d->id.idiag_src, text, sizeof text);
            l.addr = text;
            if (ntohs(d->id.idiag_dport) != 0) {
                char peer[INET6_ADDRSTRLEN] = {};
                ::inet_ntop(family, d->id.idiag_dst, peer, sizeof peer);
                l.remote = std::string(peer) + ":" + std::to_string(ntohs(d->id.idiag_dport));
            }
            if (protocol == IPPROTO_TCP) l.state = state_name(d->idiag_state);
            if (l.port != 0) out.push_back(std::move(l));
        }
    }
}

}  // namespace

base::Result<base::UniqueFd> diag_socket_in(const std::string& netns_path) {
    base::UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return unexpected(Error::from_errno("open " + netns_path));
    int fd = -1, err = 0;
    std::thread t([&] {   // joins the namespace, creates the socket, and ends
        if (::setns(ns.get(), CLONE_NEWNET) != 0) { err = errno; return; }
        fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (fd < 0) err = errno;
    });
    t.join();
    if (fd < 0) return unexpected(Error::from_errno("sock_diag socket in " + netns_path, err));
    return base::UniqueFd(fd);
}

base::Result<std::vector<Listener>> listeners(int diag_fd) {
    std::vector<Listener> out;
    for (std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
        if (auto r = query(diag_fd, family, IPPROTO_TCP, 1u << kTcpListen, out); !r) return unexpected(r.error());
        if (auto r = query(diag_fd, family, IPPROTO_UDP, 1u << kTcpClose, out); !r) return unexpected(r.error());
    }
    return out;
}

base::Result<std::vector<Listener>> connections(int diag_fd) {
    std::vector<Listener> out;
    for (std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}})
        for (std::uint8_t proto : {std::uint8_t{IPPROTO_TCP}, std::uint8_t{IPPROTO_UDP}})
            if (auto r = query(diag_fd, family, proto, ~0u, out); !r) return unexpected(r.error());
    return out;
}

pid_t socket_owner(std::uint64_t inode, const std::vector<pid_t>& pids) {
    const std::string want = "socket:[" + std::to_string(inode) + "]";
    for (pid_t pid : pids) {
        const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
        DIR* d = ::opendir(dir.c_str());
        if (!d) continue;
        bool found = false;
        while (auto* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            char buf[64];
            ssize_t n = ::readlinkat(::dirfd(d), e->d_name, buf, sizeof buf);
            if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)) == want) {
                found = true;
                break;
            }
        }
        ::closedir(d);
        if (found) return pid;
    }
    return 0;
}

}  // namespace layerlock::process
