// SPDX-License-Identifier: Apache-2.0
#include "layerlock/process/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layerlock/base/clock.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/process/connector.hpp"
#include "layerlock/process/procfs.hpp"

namespace layerlock::process {
namespace {

constexpr std::size_t kMaxJudged = 1u << 16;
constexpr std::size_t kMaxRechecks = 4096;
constexpr auto kRecheckAfter = std::chrono::milliseconds(500);

dev_t root_dev_of(pid_t pid) {
    struct stat st{};
    if (::stat(("/proc/" + std::to_string(pid) + "/root").c_str(), &st) != 0) return 0;
    return st.st_dev;
}

std::string read_exe_link(pid_t pid) {
    char buf[4096];
    ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf);
    return n > 0 && static_cast<std::size_t>(n) < sizeof buf ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

// "pid=12 comm=\"sh\" exe=\"/bin/sh\" uid=0 cmdline=\"sh -c x\"" per ancestor, nearest
// first, joined by " <- " (raw values: the sinks escape the whole field).
std::string tree_text(const std::vector<ProcessInfo>& tree) {
    std::string out;
    for (const auto& p : tree) {
        if (!out.empty()) out += " <- ";
        out += "pid=" + std::to_string(p.pid) + " comm=" + p.comm + " exe=" + p.exe + " uid=" + std::to_string(p.uid) +
               " cmdline=" + cmdline_text(p.cmdline);
    }
    return out;
}

std::string without_deleted(std::string exe) {
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe.ends_with(kDeleted)) exe.resize(exe.size() - kDeleted.size());
    return exe;
}

}  // namespace

ProcessMonitor::ProcessMonitor(MonitorHooks hooks) : hooks_(std::move(hooks)) {}
ProcessMonitor::~ProcessMonitor() { stop(); }

base::Result<void> ProcessMonitor::start(bool realtime) {
    auto connector = Connector::open();
    if (!connector) return base::unexpected(connector.error());
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    scan_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_ || !scan_fd_) return base::unexpected(base::Error::from_errno("eventfd"));
    thread_ = std::thread([this, realtime, c = std::move(*connector)]() mutable {
        base::name_this_thread("ll-proc");
        if (realtime) {
            sched_param sp{};
            sp.sched_priority = 1;
            int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp);
            realtime_ok_ = err == 0;
            if (err) realtime_error_ = std::strerror(err);
        }
        connector_fd_ = std::make_unique<Connector>(std::move(c));
        run();
    });
    return {};
}

void ProcessMonitor::stop() noexcept {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
}

void ProcessMonitor::request_scan() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(scan_fd_.get(), &one, sizeof one);
}

std::string ProcessMonitor::realtime_refused() const { return realtime_ok_ ? std::string() : realtime_error_; }

void ProcessMonitor::run() {
    auto& connector = *connector_fd_;
    for (;;) {
        pollfd fds[] = {{connector.fd(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}, {scan_fd_.get(), POLLIN, 0}};
        int timeout = -1;
        if (!rechecks_.empty())
            timeout = static_cast<int>(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                rechecks_.front().due - std::chrono::steady_clock::now()).count() + 1));
        if (::poll(fds, 3, timeout) < 0 && errno != EINTR) return;
        recheck_due();
        if (fds[1].revents) return;
        if (fds[2].revents) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(scan_fd_.get(), &n, sizeof n);
            scan();
        }
        if (!fds[0].revents) continue;
        auto batch = connector.read();
        if (!batch) continue;
        rules_ = hooks_.rules();   // once per batch, not per event
        counters_.events.fetch_add(batch->events.size(), std::memory_order_relaxed);
        for (const auto& ev : batch->events) {
            if (ev.what == ProcEvent::What::Exec) {
                counters_.execs.fetch_add(1, std::memory_order_relaxed);
                on_exec(ev.tgid);
            } else if (ev.what == ProcEvent::What::Exit) {
                judged_.erase(judged_.lower_bound({ev.tgid, 0}), judged_.upper_bound({ev.tgid, ~std::uint64_t{0}}));
            }
        }
        if (batch->lost) {   // after what was read: the scan sees what the lost events were about
            counters_.lost.fetch_add(1, std::memory_order_relaxed);
            scan();
        }
    }
}

void ProcessMonitor::on_exec(pid_t pid) {
    const dev_t dev = root_dev_of(pid);
    if (dev == 0) return;
    auto c = hooks_.container(dev);
    if (!c) return;   // not a container's process (or a runtime's, before it enters the container's root)
    counters_.container_execs.fetch_add(1, std::memory_order_relaxed);
    // A new program in the same process (same pid and start time): judged again.
    judged_.erase(judged_.lower_bound({pid, 0}), judged_.upper_bound({pid, ~std::uint64_t{0}}));
    judge(pid, *c, false);
}

bool ProcessMonitor::first_time(pid_t pid, std::uint64_t start_time) {
    if (judged_.size() >= kMaxJudged) judged_.clear();   // at worst a process is judged twice
    return judged_.insert({pid, start_time}).second;
}

void ProcessMonitor::recheck_due() {
    const auto now = std::chrono::steady_clock::now();
    if (!rechecks_.empty() && rechecks_.front().due <= now) rules_ = hooks_.rules();
    while (!rechecks_.empty() && rechecks_.front().due <= now) {
        const auto r = rechecks_.front();
        rechecks_.pop_front();
        auto p = read_basic(r.pid);
        if (!p.ok || p.start_time != r.start_time || p.root_dev != r.dev) continue;   // gone, or another process
        if (!is_deleted_exe(read_exe_link(r.pid))) continue;
        auto c = hooks_.container(r.dev);
        if (!c) continue;
        judged_.erase(judged_.lower_bound({r.pid, 0}), judged_.upper_bound({r.pid, ~std::uint64_t{0}}));
        judge(r.pid, *c, false);
    }
}

void ProcessMonitor::scan() {
    counters_.rescans.fetch_add(1, std::memory_order_relaxed);
    rules_ = hooks_.rules();
    for (dev_t dev : hooks_.containers()) {
        auto c = hooks_.container(dev);
        if (!c) continue;
        for (pid_t pid : processes_with_root(dev)) judge(pid, *c, true);
    }
}

void ProcessMonitor::judge(pid_t pid, const ContainerView& c, bool from_scan) {
    auto p = read_basic(pid);
    if (!p.ok || p.root_dev != c.info.dev || !first_time(pid, p.start_time)) return;
    p.exe = read_exe_link(pid);
    // The parent matters only for a shell: read only then.
    ProcessInfo parent;
    std::string parent_exe;
    if (policy::matches_process(p.comm, p.exe, rules_.shells)) {
        parent = read_basic(p.ppid);
        if (parent.ok) parent_exe = read_exe_link(p.ppid);
    }
    const policy::NewProcess np{p.comm, p.exe, parent.ok && parent.root_dev == p.root_dev, parent.comm, parent_exe};
    auto drift = policy::classify_process(np, rules_);
    if (hooks_.new_process && !from_scan) hooks_.new_process(c.info.dev);
    if (!drift && !from_scan && !is_deleted_exe(p.exe) && rechecks_.size() < kMaxRechecks)
        rechecks_.push_back({std::chrono::steady_clock::now() + kRecheckAfter, pid, p.start_time, c.info.dev});
    if (!drift) return;
    if (!rules_.allow.empty() && drift->kind != policy::BehaviourKind::Fileless) {
        if (!parent.ok) {   // a rule may name the parent
            parent = read_basic(p.ppid);
            if (parent.ok) parent_exe = read_exe_link(p.ppid);
        }
        const policy::NewProcess full{p.comm, p.exe, np.parent_in_container, parent.comm, parent_exe};
        if (policy::behaviour_allowed(*drift, full, rules_, c.info.image, c.info.name)) {
            counters_.allowlisted.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    const bool kill = drift->kind == policy::BehaviourKind::Fileless && c.mode == model::Mode::Enforce;
    // Stopped at once (as fast as a kill), read while stopped, then killed: the
    // alert can say what it was.
    if (kill) ::kill(pid, SIGSTOP);
    read_details(p, true);
    model::DriftEvent d;
    d.kind = std::string(policy::name(drift->kind));
    d.severity = drift->severity;
    d.reason = std::string(policy::name(drift->reason));
    d.action = policy::name(kill                             ? policy::Outcome::Killed
                            : c.mode == model::Mode::Learn ? policy::Outcome::Learned
                                                           : policy::Outcome::Alerted);
    d.path = without_deleted(p.exe);
    d.exe = d.path;
    d.pid = pid;
    d.comm = p.comm;
    d.parent_comm = parent.ok ? parent.comm : read_basic(p.ppid).comm;
    d.cmdline = cmdline_text(p.cmdline);
    d.uid = p.uid;
    d.process_tree = tree_text(ancestry(pid, c.info.dev));
    model::stamp(d, base::now_ns());
    model::describe_container(d, c.info);
    if (from_scan) d.detail = "found by a scan of the container's processes (process events were lost)";
    base::UniqueFd exe_fd;
    if (kill && hooks_.sample) exe_fd.reset(::open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_RDONLY | O_CLOEXEC));
    if (kill) {
        ::kill(pid, SIGKILL);
        counters_.killed.fetch_add(1, std::memory_order_relaxed);
    }
    if (exe_fd)
        if (auto sha = hooks_.sample(exe_fd.get(), d)) d.sha256 = *sha;
    counters_.alerts.fetch_add(1, std::memory_order_relaxed);
    hooks_.publish(std::move(d));
}

}  // namespace layerlock::process
