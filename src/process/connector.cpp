// SPDX-License-Identifier: Apache-2.0
#include "layerlock/process/connector.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace layerlock::process {
namespace {

using base::Error;
using base::unexpected;

// One netlink message carrying one connector message carrying the operation
// (cn_msg ends in a flexible array: the message is laid out in a byte buffer).
base::Result<void> subscribe(int fd, bool listen) {
    constexpr std::size_t kLen = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
    alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))] = {};
    auto* nl = reinterpret_cast<nlmsghdr*>(buf);
    nl->nlmsg_len = kLen;
    nl->nlmsg_type = NLMSG_DONE;
    nl->nlmsg_pid = static_cast<__u32>(::getpid());
    auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
    cn->id = {CN_IDX_PROC, CN_VAL_PROC};
    cn->len = sizeof(proc_cn_mcast_op);
    const proc_cn_mcast_op op = listen ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE;
    std::memcpy(cn->data, &op, sizeof op);
    if (::send(fd, buf, kLen, 0) != static_cast<ssize_t>(kLen))
        return unexpected(Error::from_errno("proc connector subscribe"));
    return {};
}

// A subscribed connector socket created in the network namespace `ns_path` names
// (the calling thread's own when empty), on a short-lived thread that joins it.
base::Result<base::UniqueFd> subscribed_socket(const std::string& ns_path, int rcvbuf) {
    base::UniqueFd ns;
    if (!ns_path.empty()) {
        ns.reset(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns) return unexpected(Error::from_errno("open " + ns_path));
    }
    base::Result<base::UniqueFd> out = unexpected(Error::plain("not tried"));
    std::thread t([&] {
        if (ns && ::setns(ns.get(), CLONE_NEWNET) != 0) {
            out = unexpected(Error::from_errno("setns " + ns_path));
            return;
        }
        base::UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR));
        if (!fd) {
            out = unexpected(Error::from_errno("socket NETLINK_CONNECTOR"));
            return;
        }
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF is capped by net.core.rmem_max.
        if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
            ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_nl addr{};
        addr.nl_family = AF_NETLINK;
        addr.nl_groups = CN_IDX_PROC;
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            out = unexpected(Error::from_errno("bind proc connector"));
            return;
        }
        if (auto r = subscribe(fd.get(), true); !r) {
            out = unexpected(r.error());
            return;
        }
        out = std::move(fd);
    });
    t.join();
    return out;
}

std::uint64_t ns_inode(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The connector answers in the host's (initial) network namespace only. A daemon in
// a private one (the unit's PrivateNetwork=) subscribes from there: pid 1's, else
// the first other namespace found among the host's processes where it works (an
// engine's, a shell's); the daemon's own threads never leave their namespace.
base::Result<base::UniqueFd> host_subscribed_socket(int rcvbuf) {
    auto here = subscribed_socket({}, rcvbuf);
    if (here) return here;
    const auto own = ns_inode("/proc/self/ns/net");
    std::vector<std::uint64_t> tried = {own};
    std::vector<std::string> candidates = {"/proc/1/ns/net"};
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = e.path().filename().string();
        if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
            candidates.push_back("/proc/" + name + "/ns/net");
        if (candidates.size() > 4096) break;
    }
    for (const auto& path : candidates) {
        const auto ino = ns_inode(path);
        if (ino == 0 || std::find(tried.begin(), tried.end(), ino) != tried.end()) continue;
        tried.push_back(ino);
        if (auto s = subscribed_socket(path, rcvbuf)) return s;
        if (tried.size() > 16) break;
    }
    return unexpected(Error::plain(here.error().message() + " (here and in the host's network namespaces tried)"));
}

}  // namespace

base::Result<Connector> Connector::open(int rcvbuf) {
    auto fd = host_subscribed_socket(rcvbuf);
    if (!fd) return unexpected(fd.error());
    return Connector(std::move(*fd));
}

base::Result<Batch> Connector::read() {
    Batch batch;
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == ENOBUFS) {
            batch.lost = true;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return batch;
        if (n < 0) return unexpected(Error::from_errno("recv proc connector"));
        if (n == 0) return batch;
        int len = static_cast<int>(n);
        for (auto* nl = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nl, static_cast<unsigned>(len));
             nl = NLMSG_NEXT(nl, len)) {
            if (nl->nlmsg_type == NLMSG_NOOP || nl->nlmsg_type == NLMSG_ERROR) continue;
            const auto* cn = static_cast<const cn_msg*>(NLMSG_DATA(nl));
            if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC || cn->len < sizeof(proc_event)) continue;
            const auto* ev = reinterpret_cast<const proc_event*>(cn->data);
            switch (ev->what) {
                case proc_event::PROC_EVENT_FORK:
                    if (ev->event_data.fork.child_pid != ev->event_data.fork.child_tgid) break;   // a thread
                    batch.events.push_back({ProcEvent::What::Fork, ev->event_data.fork.child_pid,
                                            ev->event_data.fork.child_tgid, ev->event_data.fork.parent_tgid});
                    break;
                case proc_event::PROC_EVENT_EXEC:
                    batch.events.push_back({ProcEvent::What::Exec, ev->event_data.exec.process_pid,
                                            ev->event_data.exec.process_tgid, 0});
                    break;
                case proc_event::PROC_EVENT_EXIT:
                    if (ev->event_data.exit.process_pid != ev->event_data.exit.process_tgid) break;
                    batch.events.push_back({ProcEvent::What::Exit, ev->event_data.exit.process_pid,
                                            ev->event_data.exit.process_tgid, ev->event_data.exit.parent_tgid});
                    break;
                default:
                    break;
            }
        }
    }
}

}  // namespace layerlock::process
