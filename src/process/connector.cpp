// SPDX-License-Identifier: Apache-2.0
#include "layerlock/process/connector.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace

base::Result<Connector> Connector::open(int rcvbuf) {
    base::UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR));
    if (!fd) return unexpected(Error::from_errno("socket NETLINK_CONNECTOR"));
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF is capped by net.core.rmem_max.
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = CN_IDX_PROC;
    addr.nl_pid = 0;   // the kernel assigns a port id
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return unexpected(Error::from_errno("bind proc connector"));
    if (auto r = subscribe(fd.get(), true); !r) return unexpected(r.error());
    return Connector(std::move(fd));
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
