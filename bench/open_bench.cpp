// SPDX-License-Identifier: Apache-2.0
// The code-open gate's price (root). Every open in a container whose code gate is
// on is a permission event, so the per-open path is a hot path. One overlay per
// variant over the same lower layer, variants interleaved op by op in a new random
// order every round, as exec_bench does:
//   plain       no fanotify mark at all
//   listener    a bare fanotify group (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM, the
//               gated daemon's mask) in its own process that answers FAN_ALLOW at once
//   listener-2  the same again on its own overlay: the resolution of the ratios
//   gated       layerlockd, enforce mode, code gate on
//   code-off    layerlockd, enforce mode, code_gate = "off" (execs still gated)
//   gated-alt   with BENCH_ALT_DAEMON=PATH: another layerlockd binary set up as
//               `gated`, for a before/after in the same run
// 1. open+close of an image file (warm), and of a data file in the writable layer
//    (a log: not code, the common case of a running service).
// 2. A real workload: Python importing standard modules (hundreds of image files
//    opened) in a chroot of each overlay, when the host has Debian's python3.11;
//    its time, the events per import (counted by the listener), and the CPU of the
//    thread that answers (the gate's reader, the listener) per import.
//   usage: open_bench LAYERLOCKD [ROUNDS=20000] [IMPORT_ROUNDS=30]
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <chrono>
#include <random>
#include <thread>

#include "bench_support.hpp"

using namespace bench;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kImport = "import json, email.mime.text, http.client, decimal, argparse, logging, csv";

double open_close_us(const std::string& path) {
    auto t0 = Clock::now();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    ::close(fd);
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Python importing kImport in a chroot of `merged`: wall time, ms.
double import_ms(const std::string& merged) {
    auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::chroot(merged.c_str()) != 0 || ::chdir("/") != 0) _exit(126);
        char* argv[] = {const_cast<char*>("python3"), const_cast<char*>("-c"), const_cast<char*>(kImport), nullptr};
        char* envp[] = {const_cast<char*>("PYTHONDONTWRITEBYTECODE=1"), nullptr};
        ::execve("/usr/bin/python3", argv, envp);
        _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("python import in " + merged);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A lower layer with Debian's python3.11, its standard library, libraries and
// loader, when the host has them (false otherwise).
bool add_python(const fs::path& lower) {
    if (!fs::exists("/usr/bin/python3.11") || !fs::exists("/usr/lib/python3.11/os.py")) return false;
    std::string cmd = "set -e; L='" + lower.string() + "'; mkdir -p \"$L/usr/bin\"; cp /usr/bin/python3.11 \"$L/usr/bin/python3\";"
                      " tar -C / --exclude=usr/lib/python3.11/test -cf - usr/lib/python3.11 | tar -C \"$L\" -xf -;"
                      " for f in $(ldd /usr/bin/python3.11 | awk '$2 == \"=>\" { print $3 } NF == 2 && $1 ~ /^\\// { print $1 }'); do"
                      " cp --parents -L \"$f\" \"$L/\"; done";
    return std::system(cmd.c_str()) == 0;
}

void print_table(const char* what, Samples& s, const std::vector<std::string>& variants, int rounds) {
    std::printf("\n%s, %d interleaved rounds\n", what, rounds);
    std::printf("%-11s %9s %9s %9s %13s %12s %12s\n", "variant", "p50_us", "p99_us", "mean_us", "overhead_p50",
                "paired_us", "vs_listener");
    auto base = stats(s["plain"]);
    auto lst = stats(s["listener"]);
    const double pl = paired_median(s, "listener");
    for (const auto& v : variants) {
        auto st = stats(s[v]);
        double paired = v == "plain" ? 0 : paired_median(s, v);
        std::printf("%-11s %9.2f %9.2f %9.2f %13.2f %12.2f %12s\n", v.c_str(), st.p50, st.p99, st.mean, st.p50 - base.p50,
                    paired, v == "plain" ? "-" : (std::to_string(paired / pl).substr(0, 5) + "x").c_str());
    }
    std::printf("%s: gated overhead = %.3fx the bare listener's (paired), %.3fx (p50); code-off %.3fx; "
                "resolution (listener-2) %.3fx\n", what, paired_median(s, "gated") / pl,
                (stats(s["gated"]).p50 - base.p50) / (lst.p50 - base.p50), paired_median(s, "code-off") / pl,
                paired_median(s, "listener-2") / pl);
    if (s.count("gated-alt"))
        std::printf("%s: gated / gated-alt overhead (paired) %.3fx\n", what,
                    paired_median(s, "gated") / paired_median(s, "gated-alt"));
}

void cleanup() {
    for (pid_t p : g_daemons) { ::kill(p, SIGTERM); ::waitpid(p, nullptr, 0); }
    for (auto it = g_mounts.rbegin(); it != g_mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(g_root, ec);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || ::geteuid() != 0) {
        std::fprintf(stderr, "usage (as root): open_bench LAYERLOCKD [ROUNDS] [IMPORT_ROUNDS]\n");
        return 2;
    }
    const std::string daemon = argv[1];
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 20000;
    const int import_rounds = argc > 3 ? std::atoi(argv[3]) : 30;
    char tmpl[] = "/var/tmp/layerlock-obench-XXXXXX";
    if (!::mkdtemp(tmpl)) die("mkdtemp");
    g_root = tmpl;
    std::atexit(cleanup);

    const fs::path lower = g_root / "lower";
    fs::create_directories(lower / "etc");
    std::ofstream(lower / "etc/app.conf") << "key = value\n";
    const bool python = add_python(lower);
    auto* counted = static_cast<std::atomic<std::uint64_t>*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    new (counted) std::atomic<std::uint64_t>(0);

    std::map<std::string, std::string> merged;
    merged["plain"] = mount_overlay(g_root / "p0/docker/overlay2/obench0", lower);
    merged["listener"] = mount_overlay(g_root / "l1/docker/overlay2/obench1", lower);
    merged["listener-2"] = mount_overlay(g_root / "l2/docker/overlay2/obench2", lower);
    g_answerer["gated"] = start_daemon(daemon, g_root / "d1", false);
    g_answerer["code-off"] = start_daemon(daemon, g_root / "d2", false, "enforce", "code_gate = \"off\"");
    const char* alt = std::getenv("BENCH_ALT_DAEMON");
    if (alt) g_answerer["gated-alt"] = start_daemon(alt, g_root / "d3", false);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    merged["gated"] = mount_overlay(g_root / "d1/docker/overlay2/obench3", lower);
    merged["code-off"] = mount_overlay(g_root / "d2/docker/overlay2/obench4", lower);
    if (alt) merged["gated-alt"] = mount_overlay(g_root / "d3/docker/overlay2/obench5", lower);
    const std::uint64_t mask = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;
    g_answerer["listener"] = start_bare_listener(merged["listener"], false, mask, counted);
    g_answerer["listener-2"] = start_bare_listener(merged["listener-2"], false, mask);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));   // discovery marks the new mounts

    std::vector<std::string> variants = {"plain", "listener", "listener-2", "gated", "code-off"};
    if (alt) variants.push_back("gated-alt");
    for (const auto& v : variants) {   // a data file of the writable layer, written once
        fs::create_directories(merged[v] + "/var/log");
        std::ofstream(merged[v] + "/var/log/app.log") << "a line of a log\n";
    }
    std::mt19937 rng(20261205);
    auto order = variants;
    // Where the scheduler places each answerer (on the opening process's CPU or the
    // other) changes a bare listener's cost up to 2x between two identical ones, so
    // each case runs in three layouts, as exec_bench's exec attempts do.
    const int ncpu = static_cast<int>(std::thread::hardware_concurrency());
    std::vector<int> all_cpus;
    for (int c = 0; c < ncpu; ++c) all_cpus.push_back(c);
    struct Layout { const char* name; std::vector<int> bench, answerers; };
    std::vector<Layout> layouts = {{"unpinned", {}, {}}};
    if (ncpu >= 2) layouts.push_back({"answerers on the other CPU", {0}, {1}});
    layouts.push_back({"same CPU", {0}, {0}});
    for (const char* file : {"/etc/app.conf", "/var/log/app.log"})
        for (const auto& layout : layouts) {
            pin(0, layout.bench.empty() ? all_cpus : layout.bench);
            for (const auto& [v, pid] : g_answerer) pin(pid, layout.answerers.empty() ? all_cpus : layout.answerers);
            Samples s;
            for (const auto& v : variants)
                for (int i = 0; i < 500; ++i) open_close_us(merged[v] + file);   // warm
            std::map<std::string, double> cpu0;
            for (const auto& [v, pid] : g_answerer) cpu0[v] = cpu_ns(pid, v.rfind("gated", 0) == 0 ? "ll-gate-read" : "");
            for (int i = 0; i < rounds; ++i) {
                std::shuffle(order.begin(), order.end(), rng);
                for (const auto& v : order) s[v].push_back(open_close_us(merged[v] + file));
            }
            std::string what = std::string("open+close of ") +
                               (file[1] == 'e' ? "an image file" : "a writable-layer data file") + " (" + file + "), " +
                               layout.name;
            print_table(what.c_str(), s, variants, rounds);
            std::printf("answerer CPU per open, us:");
            for (const auto& [v, pid] : g_answerer)
                std::printf(" %s %.2f", v.c_str(),
                            (cpu_ns(pid, v.rfind("gated", 0) == 0 ? "ll-gate-read" : "") - cpu0[v]) / 1e3 / rounds);
            std::printf("\n");
        }
    pin(0, all_cpus);
    for (const auto& [v, pid] : g_answerer) pin(pid, all_cpus);

    if (!python) {
        std::printf("\nno /usr/bin/python3.11 on this host: the import workload is skipped\n");
        return 0;
    }
    Samples im;
    for (const auto& v : variants) import_ms(merged[v]);   // warm the page cache
    std::map<std::string, double> cpu0;
    for (const auto& [v, pid] : g_answerer) cpu0[v] = cpu_ns(pid, v.rfind("gated", 0) == 0 ? "ll-gate-read" : "");
    const auto events0 = counted->load();
    for (int i = 0; i < import_rounds; ++i) {
        std::shuffle(order.begin(), order.end(), rng);
        for (const auto& v : order) im[v].push_back(import_ms(merged[v]));
    }
    const double events = static_cast<double>(counted->load() - events0) / import_rounds;
    std::printf("\npython3 -c \"%s\" in a chroot of each overlay, %d interleaved rounds, %.0f permission events "
                "per import\n", kImport, import_rounds, events);
    std::printf("%-11s %9s %9s %12s %14s\n", "variant", "p50_ms", "mean_ms", "vs_plain", "answerer_cpu_ms");
    const double base = stats(im["plain"]).p50;
    for (const auto& v : variants) {
        const double cpu = g_answerer.count(v)
            ? (cpu_ns(g_answerer[v], v.rfind("gated", 0) == 0 ? "ll-gate-read" : "") - cpu0[v]) / 1e6 / import_rounds
            : 0.0;
        std::printf("%-11s %9.1f %9.1f %11.3fx %14.2f\n", v.c_str(), stats(im[v]).p50, stats(im[v]).mean,
                    stats(im[v]).p50 / base, cpu);
    }
    std::printf("import: gated = %.3fx no gate (p50; target <= 1.25x), listener %.3fx, code-off %.3fx\n",
                stats(im["gated"]).p50 / base, stats(im["listener"]).p50 / base, stats(im["code-off"]).p50 / base);
    return 0;
}
