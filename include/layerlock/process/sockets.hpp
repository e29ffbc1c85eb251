// SPDX-License-Identifier: Apache-2.0
// Listening sockets of a network namespace (netlink NETLINK_SOCK_DIAG), and the
// process that owns one. A sock_diag socket answers for the namespace it was
// created in, whatever namespace the thread asking is in later: diag_socket_in()
// creates it on a short-lived thread that joins the namespace (setns), so no
// daemon thread ever leaves its own. linux/inet_diag.h stays in src/process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::process {

struct Listener {
    std::string proto;      // "tcp" | "udp"
    std::uint16_t port = 0;
    std::string addr;       // local address, e.g. "0.0.0.0", "::", "127.0.0.1"
    std::uint64_t inode = 0;
    std::string remote;     // connections(): "addr:port" of the peer, empty for a listener
    std::string state;      // connections(): the TCP state name ("established", ...); "" for UDP
    std::string key() const { return proto + "/" + std::to_string(port); }
};

// A sock_diag socket of the network namespace that `netns_path` names
// (/proc/<pid>/ns/net).
base::Result<base::UniqueFd> diag_socket_in(const std::string& netns_path);

// TCP sockets in LISTEN and bound, unconnected UDP sockets, IPv4 and IPv6.
base::Result<std::vector<Listener>> listeners(int diag_fd);

// Every TCP and UDP socket, any state (for a forensics bundle).
base::Result<std::vector<Listener>> connections(int diag_fd);

// The first of `pids` with an fd on the socket `inode`; 0 when none.
pid_t socket_owner(std::uint64_t inode, const std::vector<pid_t>& pids);

}  // namespace layerlock::process
