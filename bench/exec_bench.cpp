// SPDX-License-Identifier: Apache-2.0
// Exec latency benchmark (root). Mounts one overlay per variant over the same lower
// layer and times fork+exec+exit (posix_spawn + waitpid) of a small static binary,
// interleaving the variants exec by exec so that machine noise hits them alike:
//   plain      no fanotify mark at all
//   listener   a bare fanotify group in its own process that answers FAN_ALLOW at once
//   listener-2 the same again on its own overlay: the resolution of the ratios
//   listener+fstat  the bare listener that also fstat()s each event's fd
//   gated      layerlockd (enforce) on an image binary, warm verdict cache
//   ignored    layerlockd (enforce, gate.ignore_marks = true), warm
//   gated-alt  with BENCH_ALT_DAEMON=PATH: another layerlockd binary set up as
//              `gated`, for a before/after comparison measured in the same run
// Beside each latency, the CPU time of the thread that answers (schedstat).
// Then the same variants timing only an exec attempt that the kernel refuses after
// the gate's answer (ENOEXEC, no fork): the gate's round trip without the ~1.3 ms
// fork+exec+exit whose spread hides a few microseconds, in three CPU layouts
// (unpinned; answerers on the other CPU; everything on one CPU).
// Then the first exec of new 1 MiB and 100 MiB upper-layer binaries under layerlockd
// in monitor mode (a cache miss: drift, alerted, runs), at a new path (decided
// without hashing) and over an image file of the same size (hashed before the
// answer), against the same files on the listener overlay, and the SHA-256
// throughput of this machine.
// The overlays of the gated variants sit in a directory laid out like Docker's
// overlay2 so the real daemon discovers them; the daemon binary comes from argv.
//   usage: exec_bench LAYERLOCKD [ITERATIONS=3000] [FIRST_EXEC_ROUNDS=300]
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "layerlock/digest/sha256.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace bench;

namespace {

// One execve() of a file the kernel opens for exec (so the gate is asked, and
// answers allow) and then refuses to run: its first bytes are printable text, no
// "#!", no ELF magic, so execve returns ENOEXEC in the calling process. No fork,
// no new image, no exit: the open for exec and the gate's round trip, nothing else.
// The fork+exec+exit it leaves out costs ~1.3 ms with a spread that hides a few
// microseconds of gate work; this isolates them.
double exec_attempt_us(const std::string& path) {
    char* argv[] = {const_cast<char*>("noexec"), nullptr};
    auto t0 = Clock::now();
    ::execve(path.c_str(), argv, environ);
    auto t1 = Clock::now();
    if (errno != ENOEXEC) die("exec attempt " + path + " (expected ENOEXEC)");
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double spawn_us(const std::string& path, int* err = nullptr) {
    char* argv[] = {const_cast<char*>("true"), nullptr};
    auto t0 = Clock::now();
    pid_t pid;
    int e = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ);
    if (e == 0) ::waitpid(pid, nullptr, 0);
    auto t1 = Clock::now();
    if (err) *err = e;
    else if (e != 0) { errno = e; die("exec " + path); }
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

// "p50x/meanx": a variant's overhead over `base` as a multiple of the listener's.
std::string overhead_ratio(const Stats& s, const Stats& base, const Stats& listener) {
    return std::to_string((s.p50 - base.p50) / (listener.p50 - base.p50)).substr(0, 5) + "x/" +
           std::to_string((s.mean - base.mean) / (listener.mean - base.mean)).substr(0, 5) + "x";
}

// CPU of the thread that answers a variant's events: the daemon's reader, or the
// listener's only thread.
double answerer_cpu_ns(const std::string& variant, pid_t pid) {
    return cpu_ns(pid, variant.rfind("gated", 0) == 0 || variant == "ignored" ? "ll-gate-read" : "");
}

void cleanup() {
    if (std::getenv("BENCH_VERBOSE")) {
        std::error_code ec;
        fs::copy_file(g_root / "d1/daemon.log", "/tmp/bench-d1.log", fs::copy_options::overwrite_existing, ec);
    }
    for (pid_t p : g_daemons) { ::kill(p, SIGTERM); ::waitpid(p, nullptr, 0); }
    for (auto it = g_mounts.rbegin(); it != g_mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(g_root, ec);
}

void write_binary(const std::string& src, const std::string& dst, std::size_t size) {
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
    std::ofstream f(dst, std::ios::app | std::ios::binary);
    std::string chunk(1 << 20, '\x5a');
    for (auto have = fs::file_size(src); have < size;) {
        auto n = std::min<std::size_t>(chunk.size(), size - have);
        chunk[0] = static_cast<char>(rand());   // distinct content per file: no cross-file cache
        f.write(chunk.data(), static_cast<std::streamsize>(n));
        have += n;
    }
    f.close();
    ::chmod(dst.c_str(), 0755);
}

double sha256_gbps(const std::string& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    (void)layerlock::digest::sha256_fd(fd);   // warm the page cache
    auto t0 = Clock::now();
    std::uint64_t bytes = 0;
    for (int i = 0; i < 3; ++i) {
        std::uint64_t b = 0;
        (void)layerlock::digest::sha256_fd(fd, {}, &b);
        bytes += b;
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(fd);
    return bytes / s / 1e9;
}

// Time from an overlay's mount() returning to the first exec the daemon denies:
// how long a new container runs ungated. Exec attempts back to back (each ~1 ms).
void discovery_latency(const fs::path& docker_overlay2, const fs::path& lower) {
    std::vector<double> ms;
    for (int i = 0; i < 20; ++i) {
        fs::path dir = docker_overlay2 / ("start" + std::to_string(i));
        for (const char* d : {"diff", "work", "merged"}) fs::create_directories(dir / d);
        write_binary(lower / "bin/true", (dir / "diff/evil").string(), 0);
        std::string opts = "lowerdir=" + lower.string() + ",upperdir=" + (dir / "diff").string() +
                           ",workdir=" + (dir / "work").string();
        if (::mount("overlay", (dir / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) die("mount");
        auto t0 = Clock::now();
        int err = 0;
        while (err != EPERM && Clock::now() - t0 < std::chrono::seconds(5)) spawn_us((dir / "merged/evil").string(), &err);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (std::getenv("BENCH_VERBOSE")) std::fprintf(stderr, "mount %d: %.1f ms\n", i, ms.back());
        ::umount2((dir / "merged").c_str(), MNT_DETACH);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::sort(ms.begin(), ms.end());
    std::printf("\ndiscovery: mount -> first denied exec over %zu mounts: median %.1f ms, worst %.1f ms (target <= 50 ms)\n",
                ms.size(), ms[ms.size() / 2], ms.back());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || ::geteuid() != 0) {
        std::fprintf(stderr, "usage (as root): exec_bench LAYERLOCKD [ITERATIONS] [FIRST_EXEC_ROUNDS]\n");
        return 2;
    }
    const std::string daemon = argv[1];
    const int iterations = argc > 2 ? std::atoi(argv[2]) : 3000;
    const int first_exec_rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 300;
    const fs::path self_dir = fs::canonical("/proc/self/exe").parent_path();
    char tmpl[] = "/var/tmp/layerlock-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) die("mkdtemp");
    g_root = tmpl;
    std::atexit(cleanup);

    const fs::path lower = g_root / "lower";
    fs::create_directories(lower / "bin");
    fs::copy_file(self_dir / "bench_true", lower / "bin/true");
    ::chmod((lower / "bin/true").c_str(), 0755);
    std::ofstream(lower / "bin/noexec") << std::string(4096, 'x') << '\n';
    ::chmod((lower / "bin/noexec").c_str(), 0755);
    fs::create_directories(lower / "img");   // image files that new upper files replace, same size
    for (std::size_t mib : {std::size_t{1}, std::size_t{100}})
        write_binary(lower / "bin/true", (lower / "img/m").string() + std::to_string(mib), mib << 20);
    std::map<std::string, std::string> merged;
    // Every overlay at the same depth, DIR/docker/overlay2/NAME/merged, as the
    // daemons' overlays must be for discovery: an exec's path walk then costs the
    // same on each. (Three components deeper cost an identical bare listener 2-4 %
    // of its overhead with pinned warm caches, 0.4-1 us, and up to 9 % with cold ones:
    // the gated variants paid it alone until the sixth session.) Only each daemon's
    // own DIR/docker is its docker root.
    merged["plain"] = mount_overlay(g_root / "p0/docker/overlay2/bench0", lower);
    merged["listener"] = mount_overlay(g_root / "l1/docker/overlay2/bench5", lower);
    merged["listener+fstat"] = mount_overlay(g_root / "l2/docker/overlay2/bench6", lower);
    merged["listener-2"] = mount_overlay(g_root / "l3/docker/overlay2/bench7", lower);
    merged["listener-open"] = mount_overlay(g_root / "l4/docker/overlay2/bench8", lower);
    const std::string exec_only = "code_gate = \"off\"";
    g_answerer["gated"] = start_daemon(daemon, g_root / "d1", false, "enforce", exec_only);
    g_answerer["ignored"] = start_daemon(daemon, g_root / "d2", true, "enforce", exec_only);
    g_answerer["gated-open"] = start_daemon(daemon, g_root / "d5", false);
    start_daemon(daemon, g_root / "d3", false, "monitor", exec_only);
    const char* alt_daemon = std::getenv("BENCH_ALT_DAEMON");
    // BENCH_ALT_EXTRA: TOML lines for it (`code_gate = "off"` for a daemon that has
    // the code gate, to compare with `gated`; nothing for one from before it).
    const char* alt_extra = std::getenv("BENCH_ALT_EXTRA");
    if (alt_daemon) g_answerer["gated-alt"] = start_daemon(alt_daemon, g_root / "d4", false, "enforce",
                                                           alt_extra ? alt_extra : "");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    merged["gated"] = mount_overlay(g_root / "d1/docker/overlay2/bench1", lower);
    merged["ignored"] = mount_overlay(g_root / "d2/docker/overlay2/bench2", lower);
    merged["gated-open"] = mount_overlay(g_root / "d5/docker/overlay2/bench9", lower);
    merged["monitor"] = mount_overlay(g_root / "d3/docker/overlay2/bench3", lower);
    if (alt_daemon) merged["gated-alt"] = mount_overlay(g_root / "d4/docker/overlay2/bench4", lower);
    g_answerer["listener"] = start_bare_listener(merged["listener"]);
    g_answerer["listener+fstat"] = start_bare_listener(merged["listener+fstat"], true);
    g_answerer["listener-2"] = start_bare_listener(merged["listener-2"]);
    g_answerer["listener-open"] = start_bare_listener(merged["listener-open"], false, FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));   // discovery marks the new mounts

    std::vector<std::string> variants = {"plain", "listener", "listener-2", "listener+fstat", "gated", "ignored",
                                         "listener-open", "gated-open"};
    if (alt_daemon) variants.push_back("gated-alt");
    Samples samples;
    for (const auto& v : variants)
        for (int i = 0; i < 50; ++i) spawn_us(merged[v] + "/bin/true");   // warm: caches, ignore marks
    // CPU time of the thread that answers each variant's events (the daemon's reader,
    // the listener's only thread), and of the whole answering process: low-noise
    // figures beside the latencies, since the answerer's work sits in the exec's path.
    std::map<std::string, double> cpu0, proc0;
    for (const auto& [v, pid] : g_answerer) {
        cpu0[v] = answerer_cpu_ns(v, pid);
        proc0[v] = cpu_ns(pid);
    }
    // A new random order every round (fixed seed): each variant runs first, last and
    // after each other variant alike. A fixed rotation would give every variant the
    // same predecessor each round, whose leftover work (the previous answerer
    // closing its event fd, say) would always land on it.
    std::mt19937 rng(20261123);
    auto order = variants;
    for (int i = 0; i < iterations; ++i) {
        std::shuffle(order.begin(), order.end(), rng);
        for (const auto& v : order) samples[v].push_back(spawn_us(merged[v] + "/bin/true"));
    }
    std::map<std::string, double> cpu_us, proc_us;
    for (const auto& [v, pid] : g_answerer) {
        cpu_us[v] = (answerer_cpu_ns(v, pid) - cpu0[v]) / 1e3 / iterations;
        proc_us[v] = (cpu_ns(pid) - proc0[v]) / 1e3 / iterations;
    }

    std::printf("exec latency: fork+exec+exit of a %ju-byte static binary on overlayfs, %d interleaved rounds\n",
                static_cast<std::uintmax_t>(fs::file_size(lower / "bin/true")), iterations);
    std::printf("%-15s %9s %9s %9s %10s %13s %13s %12s\n", "variant", "p50_us", "p99_us", "mean_us", "execs/s",
                "overhead_p50", "overhead_mean", "vs_listener");
    auto base = stats(samples["plain"]);
    auto lst = stats(samples["listener"]);
    double listener_over = lst.p50 - base.p50, listener_over_mean = lst.mean - base.mean;
    for (const auto& v : variants) {
        auto s = stats(samples[v]);
        double over = s.p50 - base.p50, over_mean = s.mean - base.mean;
        std::string ratio = v == "plain" ? "-" : overhead_ratio(s, base, lst);
        std::printf("%-15s %9.1f %9.1f %9.1f %10.0f %13.1f %13.1f %12s\n", v.c_str(), s.p50, s.p99, s.mean,
                    1e6 / s.mean, over, over_mean, ratio.c_str());
    }

    auto paired = [&](const std::string& v) { return paired_median(samples, v); };
    double pl = paired("listener");
    std::printf("paired per round (median of variant - plain): listener %.1f us, listener+fstat %.1f us = %.3fx, "
                "gated %.1f us = %.3fx (%.3fx listener+fstat), ignored %.1f us = %.3fx\n", pl,
                paired("listener+fstat"), paired("listener+fstat") / pl, paired("gated"), paired("gated") / pl,
                paired("gated") / paired("listener+fstat"), paired("ignored"), paired("ignored") / pl);
    std::printf("code-open gate on: gated-open %.1f us = %.3fx listener-open (%.1f us, the floor for two events per "
                "exec); listener-open = %.3fx listener\n", paired("gated-open"),
                paired("gated-open") / paired("listener-open"), paired("listener-open"), paired("listener-open") / pl);
    // listener-2 is the same bare listener again, on its own overlay: how far two
    // identical floors land apart in this run is the resolution of every ratio above.
    auto l2 = stats(samples["listener-2"]);
    std::printf("resolution: a second, identical bare listener = %.3fx/%.3fx of the first (p50/mean), paired %.3fx\n",
                (l2.p50 - base.p50) / listener_over, (l2.mean - base.mean) / listener_over_mean,
                paired("listener-2") / pl);

    std::printf("answerer CPU per exec (schedstat): answering thread / whole process, us:");
    for (const auto& v : variants)
        if (cpu_us.count(v)) std::printf(" %s %.1f/%.1f", v.c_str(), cpu_us[v], proc_us[v]);
    std::printf("; gated/listener+fstat thread %.3fx, gated/listener %.3fx\n",
                cpu_us["gated"] / cpu_us["listener+fstat"], cpu_us["gated"] / cpu_us["listener"]);
    if (alt_daemon)
        std::printf("gated-alt (%s): paired %.1f us = %.3fx, answerer CPU %.1f us; gated / gated-alt: paired %.3fx, "
                    "answerer CPU %.3fx\n", alt_daemon, paired("gated-alt"), paired("gated-alt") / pl,
                    cpu_us["gated-alt"], paired("gated") / paired("gated-alt"), cpu_us["gated"] / cpu_us["gated-alt"]);

    // The same variants again, timing only the exec attempt (exec_attempt_us): the
    // gate's overhead without fork+exec+exit around it. Interleaved the same way, in
    // a new random order every round. Where the scheduler places each answerer
    // (on the exec'ing process's CPU or the other) changes its cost by up to 2x
    // between two identical listeners, so this runs in three layouts: as the
    // scheduler likes, every answerer on the other CPU than the exec'ing process,
    // and everything on one CPU.
    const int attempts = std::getenv("BENCH_ATTEMPTS") ? std::atoi(std::getenv("BENCH_ATTEMPTS")) : iterations * 5;
    const int ncpu = static_cast<int>(std::thread::hardware_concurrency());
    // With `churn`, an untimed fork+exec+exit of the plain overlay's binary runs
    // before each attempt, as between two execs of the rounds above: caches and TLBs
    // as cold as a gate finds them on a busy host (a fifth of the rounds: slower).
    struct Layout { const char* name; std::vector<int> bench, answerers; bool churn = false; };
    std::vector<Layout> layouts = {{"unpinned", {}, {}}};
    if (ncpu >= 2) layouts.push_back({"other CPU", {0}, {1}});
    layouts.push_back({"same CPU", {0}, {0}});
    layouts.push_back({"unpinned, after a fork+exec", {}, {}, true});
    layouts.push_back({"same CPU, after a fork+exec", {0}, {0}, true});
    std::vector<int> all_cpus;
    for (int c = 0; c < ncpu; ++c) all_cpus.push_back(c);
    for (const auto& layout : layouts) {
        pin(0, layout.bench.empty() ? all_cpus : layout.bench);
        for (const auto& [v, pid] : g_answerer) pin(pid, layout.answerers.empty() ? all_cpus : layout.answerers);
        Samples att;
        for (const auto& v : variants)
            for (int i = 0; i < 200; ++i) exec_attempt_us(merged[v] + "/bin/noexec");
        for (const auto& [v, pid] : g_answerer) cpu0[v] = answerer_cpu_ns(v, pid);
        const int rounds = layout.churn ? std::max(1, attempts / 5) : attempts;
        for (int i = 0; i < rounds; ++i) {
            std::shuffle(order.begin(), order.end(), rng);
            for (const auto& v : order) {
                if (layout.churn) spawn_us(merged["plain"] + "/bin/true");
                att[v].push_back(exec_attempt_us(merged[v] + "/bin/noexec"));
            }
        }
        for (const auto& [v, pid] : g_answerer)
            cpu_us[v] = (answerer_cpu_ns(v, pid) - cpu0[v]) / 1e3 / rounds;
        std::printf("\nexec attempt (open for exec + gate round trip, ENOEXEC, no fork), %d interleaved rounds, %s\n",
                    rounds, layout.name);
        std::printf("%-15s %9s %9s %9s %13s %13s %12s %10s %12s\n", "variant", "p50_us", "p99_us", "mean_us",
                    "overhead_p50", "overhead_mean", "vs_listener", "paired_us", "answerer_cpu");
        auto abase = stats(att["plain"]);
        auto alst = stats(att["listener"]);
        auto apaired = [&](const std::string& v) { return paired_median(att, v); };
        for (const auto& v : variants) {
            auto st = stats(att[v]);
            double over = st.p50 - abase.p50, over_mean = st.mean - abase.mean;
            std::string ratio = v == "plain" ? "-" : overhead_ratio(st, abase, alst);
            std::printf("%-15s %9.1f %9.1f %9.1f %13.1f %13.1f %12s %10.1f %12.1f\n", v.c_str(), st.p50, st.p99, st.mean,
                        over, over_mean, ratio.c_str(), v == "plain" ? 0.0 : apaired(v), cpu_us.count(v) ? cpu_us[v] : 0.0);
        }
        std::printf("exec attempt, %s: gated overhead = %.3fx the bare listener's (p50), paired %.3fx, mean %.3fx; "
                    "listener+fstat %.3fx; resolution (listener-2) %.3fx, paired %.3fx\n", layout.name,
                    (stats(att["gated"]).p50 - abase.p50) / (alst.p50 - abase.p50), apaired("gated") / apaired("listener"),
                    (stats(att["gated"]).mean - abase.mean) / (alst.mean - abase.mean),
                    (stats(att["listener+fstat"]).p50 - abase.p50) / (alst.p50 - abase.p50),
                    (stats(att["listener-2"]).p50 - abase.p50) / (alst.p50 - abase.p50),
                    apaired("listener-2") / apaired("listener"));
        std::printf("exec attempt, %s: code gate on: gated-open = %.3fx listener-open (paired), listener-open = %.3fx "
                    "listener\n", layout.name, apaired("gated-open") / apaired("listener-open"),
                    apaired("listener-open") / apaired("listener"));
        if (alt_daemon)
            std::printf("exec attempt, %s: gated-alt (%s) = %.3fx the bare listener's (p50), paired %.3fx; "
                        "gated / gated-alt overhead %.3fx (p50), paired %.3fx\n", layout.name, alt_daemon,
                        (stats(att["gated-alt"]).p50 - abase.p50) / (alst.p50 - abase.p50),
                        apaired("gated-alt") / apaired("listener"),
                        (stats(att["gated"]).p50 - abase.p50) / (stats(att["gated-alt"]).p50 - abase.p50),
                        apaired("gated") / apaired("gated-alt"));
    }
    pin(0, all_cpus);
    for (const auto& [v, pid] : g_answerer) pin(pid, all_cpus);

    // Each round writes two new files of the same size (distinct content: no cache
    // can help), then executes one on each overlay, the order alternating by round;
    // the files are removed after use. Two cases:
    //   new path    a file at a path the image does not have: drift whatever its
    //               bytes, so the daemon answers before hashing (and hashes after,
    //               for the alert);
    //   image path  a file renamed over an image file of the same size, other bytes:
    //               it could be a copy-up, so the daemon compares it with the image's
    //               file before answering (up to the first difference, here at the
    //               end of the static binary both start with), then hashes it after;
    //   copy-up     the image file's own bytes written at its path (what a copy-up
    //               holds): compared whole before the answer, allowed.
    // Printed: p50 of each, the overhead from the two p50s, and the paired statistic
    // (median over rounds of gated - listener), each plus the listener's own
    // overhead measured above.
    std::printf("\nfirst exec of a new upper-layer binary: layerlockd in monitor mode (alerted, runs)\n");
    std::printf("%-11s %-7s %6s %10s %12s %12s %12s %15s %10s\n", "case", "size", "rounds", "gated_us",
                "listener_us", "overhead_us", "paired_us", "sha256_us@1GB/s", "target_us");
    for (const char* what : {"new path", "image path", "copy-up"})
        for (std::size_t mib : {std::size_t{1}, std::size_t{100}}) {
            const std::string kind = what;
            std::vector<double> gated, plain_listener, paired_diff;
            int reps = mib == 1 ? first_exec_rounds : 5;
            for (int r = 0; r < reps; ++r) {
                auto image = "/img/m" + std::to_string(mib);
                auto name = kind == "new path" ? "/new-" + std::to_string(mib) + "-" + std::to_string(r) : image;
                for (const char* v : {"monitor", "listener"}) {
                    if (kind == "copy-up") fs::copy_file(lower.string() + image, merged[v] + name + ".tmp");
                    else write_binary(lower / "bin/true", merged[v] + name + ".tmp", mib << 20);
                    fs::rename(merged[v] + name + ".tmp", merged[v] + name);
                }
                double g, l;
                if (r % 2 == 0) {
                    g = spawn_us(merged["monitor"] + name);
                    l = spawn_us(merged["listener"] + name);
                } else {
                    l = spawn_us(merged["listener"] + name);
                    g = spawn_us(merged["monitor"] + name);
                }
                gated.push_back(g);
                plain_listener.push_back(l);
                paired_diff.push_back(g - l);
                fs::remove(merged["monitor"] + name);
                fs::remove(merged["listener"] + name);
            }
            double g = stats(gated).p50, l = stats(plain_listener).p50;
            double hash_at_1gbps = static_cast<double>(mib << 20) / 1e3;   // µs at 1 GB/s
            std::printf("%-11s %-7s %6d %10.1f %12.1f %12.1f %12.1f %15.1f %10.1f\n",
                        what, (std::to_string(mib) + "MiB").c_str(), reps, g, l,
                        g - l + listener_over, stats(paired_diff).p50 + listener_over, hash_at_1gbps,
                        listener_over + hash_at_1gbps);
        }
    discovery_latency(g_root / "d1/docker/overlay2", lower);
    std::printf("\nSHA-256 (OpenSSL EVP, one thread, warm page cache): %.2f GB/s\n",
                sha256_gbps((lower / "img/m1").string()));
    return 0;
}
