// SPDX-License-Identifier: Apache-2.0
// The kernel's process events connector (netlink NETLINK_CONNECTOR, CN_IDX_PROC,
// CONFIG_PROC_EVENTS): every fork, exec and exit on the host, without eBPF. A thin
// RAII wrapper: it owns the socket, subscribes, and turns datagrams into events;
// it decides nothing. linux/cn_proc.h stays in src/process.
//
// The connector drops events when the socket's receive buffer is full; the next
// read then fails with ENOBUFS. That is reported (Batch::lost), never hidden: the
// caller recovers what it missed from a /proc scan.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::process {

struct ProcEvent {
    enum class What { Fork, Exec, Exit };
    What what = What::Exec;
    pid_t pid = 0;          // the thread (the child for a fork)
    pid_t tgid = 0;         // its process
    pid_t parent_tgid = 0;  // fork: the parent process; exec/exit: 0 (read /proc)
};

struct Batch {
    std::vector<ProcEvent> events;
    bool lost = false;      // the kernel dropped events before these (ENOBUFS)
};

class Connector {
public:
    // Opens the socket (receive buffer `rcvbuf` bytes) and subscribes to the events.
    static base::Result<Connector> open(int rcvbuf = 4 << 20);
    int fd() const noexcept { return fd_.get(); }
    // Reads what is queued (non-blocking; empty when nothing is). Only processes
    // (thread group leaders) are kept for exec and exit; forks of threads are dropped.
    base::Result<Batch> read();

private:
    explicit Connector(base::UniqueFd fd) : fd_(std::move(fd)) {}
    base::UniqueFd fd_;
};

}  // namespace layerlock::process
