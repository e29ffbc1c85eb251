// SPDX-License-Identifier: Apache-2.0
// The process monitor: every exec on the host (the kernel's process events
// connector), mapped to its container by the root it runs in (a container's
// processes run with the container's overlay as their root; a runtime process such
// as runc's init, before it enters the container's root, does not), and judged by
// policy/behaviour_rules.hpp: fileless code (killed at once in enforce mode, from
// this thread: detect and kill, not prevention), package managers, and shells
// started by a service. Alerts carry the process tree up to the container's init.
//
// Events the kernel dropped (ENOBUFS) are counted and recovered from a /proc scan
// of every container's processes; every process is judged once (pid and start
// time), whether seen by an event or a scan. One thread, "ll-proc", real-time
// (SCHED_FIFO 1) when allowed: its work per event is a few /proc reads for a
// container's process and one stat for any other, so it cannot starve the host.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/behaviour_rules.hpp"

namespace layerlock::process {

// A container as the monitor needs it.
struct ContainerView {
    model::Container info;
    model::Mode mode = model::Mode::Monitor;
};

struct MonitorHooks {
    // The container whose overlay has this device (a process's root), if gated.
    std::function<std::optional<ContainerView>(dev_t)> container;
    // Every gated container's overlay device (for the recovery scan).
    std::function<std::vector<dev_t>()> containers;
    std::function<policy::BehaviourRules()> rules;
    std::function<void(model::DriftEvent)> publish;
    // A new process in the container (it may listen): the network check looks soon.
    std::function<void(dev_t)> new_process;
    // A fileless process's executable, open (memfd or deleted file), before the kill:
    // kept as a sample when a response asks for it; its SHA-256 when kept. May be empty.
    std::function<std::optional<std::string>(int exe_fd, const model::DriftEvent&)> sample;
};

struct MonitorCounters {
    std::atomic<std::uint64_t> events{0}, execs{0}, container_execs{0}, lost{0}, rescans{0}, alerts{0}, killed{0},
        allowlisted{0};   // shells and package managers a [[behaviour_allow]] rule let run unalerted
};

class ProcessMonitor {
public:
    explicit ProcessMonitor(MonitorHooks hooks);
    ~ProcessMonitor();
    ProcessMonitor(const ProcessMonitor&) = delete;
    ProcessMonitor& operator=(const ProcessMonitor&) = delete;

    // Opens the connector and starts the thread; an error when the kernel has no
    // process events (CONFIG_PROC_EVENTS) or the socket is refused.
    base::Result<void> start(bool realtime);
    void stop() noexcept;
    // Judges every process of every container now (at start, and after a loss).
    void request_scan();
    const MonitorCounters& counters() const { return counters_; }
    // True when the thread runs real-time; why it does not, when it was asked to.
    bool realtime() const { return realtime_ok_; }
    std::string realtime_refused() const;

private:
    void run();
    void on_exec(pid_t pid);
    void judge(pid_t pid, const ContainerView& c, bool from_scan);
    void scan();
    bool first_time(pid_t pid, std::uint64_t start_time);
    // A second look at a new process shortly after its exec: an executable deleted
    // right after it started (fileless, by deletion) is seen then.
    struct Recheck {
        std::chrono::steady_clock::time_point due;
        pid_t pid;
        std::uint64_t start_time;
        dev_t dev;
    };
    void recheck_due();

    MonitorHooks hooks_;
    MonitorCounters counters_;
    std::unique_ptr<class Connector> connector_fd_;   // the thread's own
    base::UniqueFd stop_fd_, scan_fd_;
    std::thread thread_;
    std::set<std::pair<pid_t, std::uint64_t>> judged_;   // the thread's own; bounded
    std::deque<Recheck> rechecks_;                         // the thread's own; bounded, in due order
    policy::BehaviourRules rules_;                         // the thread's copy, refreshed per batch
    std::atomic<bool> realtime_ok_{false};
    std::string realtime_error_;
};

}  // namespace layerlock::process
