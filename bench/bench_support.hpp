// SPDX-License-Identifier: Apache-2.0
// What the root benchmarks share (exec_bench, open_bench): overlays at the
// depth a daemon discovers them, a bare fanotify listener in its own process (the
// floor of any userspace gate), layerlockd on a configuration of its own, CPU
// pinning and schedstat CPU time, and the statistics printed beside each figure.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace bench {

namespace fs = std::filesystem;

inline fs::path g_root;
inline std::vector<pid_t> g_daemons;
inline std::vector<std::string> g_mounts;

[[noreturn]] inline void die(const std::string& what) {
    std::perror(what.c_str());
    std::exit(1);
}

inline std::string mount_overlay(const fs::path& dir, const fs::path& lower) {
    for (const char* d : {"diff", "work", "merged"}) fs::create_directories(dir / d);
    std::string opts = "lowerdir=" + lower.string() + ",upperdir=" + (dir / "diff").string() +
                       ",workdir=" + (dir / "work").string();
    if (::mount("overlay", (dir / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) die("mount overlay");
    g_mounts.push_back((dir / "merged").string());
    return (dir / "merged").string();
}

// A fanotify listener that allows everything at once: the floor of any userspace
// gate. It runs in its own process, as a gate daemon does (a thread of this
// process would share the exec'ing child's address space and switch cheaper).
// With `fstat_each`, it also fstat()s each event's fd before answering: the least
// a gate that knows which file it allows (and caches by it) must do. `mask`: the
// events its filesystem mark asks for; `answered`, when given, counts them (shared
// memory the caller mapped before).
inline std::map<std::string, pid_t> g_answerer;   // variant -> pid of the process that answers its events

inline pid_t start_bare_listener(const std::string& merged, bool fstat_each = false,
                                 std::uint64_t mask = FAN_OPEN_EXEC_PERM,
                                 std::atomic<std::uint64_t>* answered = nullptr) {
    int ready[2];
    if (::pipe(ready) != 0) die("pipe");
    pid_t pid = ::fork();
    if (pid != 0) {
        ::close(ready[1]);
        char c;
        if (::read(ready[0], &c, 1) != 1) die("listener start");
        ::close(ready[0]);
        g_daemons.push_back(pid);
        return pid;
    }
    int fd = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, merged.c_str()))
        _exit(1);
    [[maybe_unused]] auto w = ::write(ready[1], "r", 1);
    alignas(fanotify_event_metadata) char buf[4096];
    for (;;) {
        ssize_t len = ::read(fd, buf, sizeof buf);
        auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
        for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
            if (fstat_each) {
                struct stat st {};
                [[maybe_unused]] int rc = ::fstat(m->fd, &st);
            }
            fanotify_response r{m->fd, FAN_ALLOW};
            [[maybe_unused]] auto n = ::write(fd, &r, sizeof r);
            ::close(m->fd);
            if (answered) answered->fetch_add(1, std::memory_order_relaxed);
        }
    }
}

// layerlockd on its own configuration in `dir` (its docker root is dir/docker);
// `extra`: more TOML lines.
inline pid_t start_daemon(const std::string& daemon, const fs::path& dir, bool ignore_marks,
                          const char* mode = "enforce", const std::string& extra = {}) {
    fs::create_directories(dir);
    std::ofstream(dir / "layerlock.toml")
        << "mode = \"" << mode << "\"\n" << extra << "\n[gate]\nignore_marks = " << (ignore_marks ? "true" : "false")
        << "\n[baseline]\ndatabase = \"" << (dir / "baseline.db").string() << "\"\n"
        << "[discovery]\ndocker_root = \"" << (dir / "docker").string() << "\"\n"
        << "docker_socket = \"" << (dir / "no-engine.sock").string() << "\"\n"
        << (std::getenv("BENCH_NAMESPACE_SCAN_MS") ? std::string("namespace_scan_ms = ") +
                                                          std::getenv("BENCH_NAMESPACE_SCAN_MS") + "\n"
                                                    : std::string())
        << "[alerts]\njournald = false\nstderr = \"never\"\n"
        << "[daemon]\nlock_file = \"" << (dir / "lock").string() << "\"\nlog_level = \""
        << (std::getenv("BENCH_VERBOSE") ? "debug" : "warn") << "\"\n";
    pid_t pid = ::fork();
    if (pid == 0) {
        int log = ::open((dir / "daemon.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(log, 2);
        ::execl(daemon.c_str(), daemon.c_str(), "--config", (dir / "layerlock.toml").c_str(), nullptr);
        _exit(127);
    }
    g_daemons.push_back(pid);
    return pid;
}

// Pins every thread of `pid` (0: this process's calling thread) to the CPUs in `cpus`.
inline void pin(pid_t pid, const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(c, &set);
    if (pid == 0) { ::sched_setaffinity(0, sizeof set, &set); return; }
    std::error_code ec;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
        ::sched_setaffinity(std::stoi(t.path().filename()), sizeof set, &set);
}

// Nanoseconds a task has run on a CPU (schedstat), summed over the process's
// threads named `comm` (all threads when empty).
inline double cpu_ns(pid_t pid, const std::string& comm = {}) {
    double ns = 0;
    std::error_code ec;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::string name;
        std::getline(std::ifstream(t.path() / "comm"), name);
        if (!comm.empty() && name != comm) continue;
        double run = 0;
        std::ifstream(t.path() / "schedstat") >> run;
        ns += run;
    }
    return ns;
}

struct Stats {
    double p50, p99, mean;
};
inline Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], sum / v.size()};
}

using Samples = std::map<std::string, std::vector<double>>;

// Paired within each round (the variants of one round run back to back, so slow
// drift of the machine cancels): the median over rounds of (variant - plain).
inline double paired_median(Samples& s, const std::string& v) {
    std::vector<double> d;
    for (std::size_t i = 0; i < s[v].size(); ++i) d.push_back(s[v][i] - s["plain"][i]);
    return stats(d).p50;
}

}  // namespace bench
