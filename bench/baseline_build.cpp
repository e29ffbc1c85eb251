// SPDX-License-Identifier: Apache-2.0
// Measures a baseline build: imports one directory as a layer into a scratch
// database and prints files/s and MB/s. The first import warms the page cache
// (and is discarded); then RUNS imports, each into a fresh database, are measured
// and the median is reported (this VM's run-to-run spread is about ±10 %).
// Usage: baseline_build DIR [THREADS=2] [RUNS=5] [SCRATCH_DIR=/tmp]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <algorithm>

#include "layerlock/baseline/store.hpp"
#include "layerlock/digest/sha256.hpp"

namespace {

struct Run {
    layerlock::baseline::LayerStats stats;
    double wall = 0;
    double cpu = 0;  // user + system seconds of this process during the import
};

double cpu_seconds() {
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return secs(ru.ru_utime) + secs(ru.ru_stime);
}

bool import_once(const std::string& dir, unsigned threads, const std::string& db, Run& out) {
    auto store = layerlock::baseline::Store::open(db);
    if (!store) {
        std::fprintf(stderr, "open %s: %s\n", db.c_str(), store.error().message().c_str());
        return false;
    }
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_seconds();
    auto r = store->import_layer(dir, threads);
    out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.cpu = cpu_seconds() - c0;
    if (!r) {
        std::fprintf(stderr, "import %s: %s\n", dir.c_str(), r.error().message().c_str());
        return false;
    }
    out.stats = *r;
    return true;
}

// SHA-256 of one core over a 256 KiB buffer (in cache) for about half a second:
// the reference the import is compared with, measured in the same run.
double one_core_sha256_mbps() {
    std::vector<unsigned char> buf(256 << 10, 0x5a);
    auto t0 = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    double secs = 0;
    do {
        for (int i = 0; i < 64; ++i) {
            auto d = layerlock::digest::sha256_bytes(buf.data(), buf.size());
            buf[0] ^= d[0];
            bytes += buf.size();
        }
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (secs < 0.5);
    return static_cast<double>(bytes) / 1e6 / secs;
}

void remove_db(const std::string& db) {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db + suffix).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [THREADS=2] [RUNS=5] [SCRATCH_DIR=/tmp]\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    unsigned threads = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 2;
    int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
    std::string scratch = argc > 4 ? argv[4] : "/tmp";
    std::string db = scratch + "/layerlock-bench-" + std::to_string(::getpid()) + ".db";
    Run warm;
    bool ok = import_once(dir, threads, db, warm);
    remove_db(db);
    std::vector<Run> measured;
    for (int i = 0; ok && i < runs; ++i) {
        Run run;
        ok = import_once(dir, threads, db, run);  // a fresh database each time
        remove_db(db);
        if (!ok) break;
        const auto& s = run.stats;
        std::printf("run %d: wall_s=%.3f (walk+hash %.3f, database after it %.3f) cpu_s=%.3f MB/s=%.0f files/s=%.0f\n",
                    i + 1, run.wall, s.scan_seconds, run.wall - s.scan_seconds, run.cpu,
                    static_cast<double>(s.bytes) / 1e6 / run.wall, static_cast<double>(s.files) / run.wall);
        measured.push_back(run);
    }
    if (!ok) return 1;
    double sha = one_core_sha256_mbps();
    std::sort(measured.begin(), measured.end(), [](const Run& a, const Run& b) { return a.wall < b.wall; });
    const Run& median = measured[measured.size() / 2];
    const Run& best = measured.front();
    const auto& s = median.stats;
    std::printf("dir=%s threads=%u files=%llu entries=%llu bytes=%llu runs=%zu (after a warm-up run of %.3f s)\n"
                "median: wall_s=%.3f cpu_s=%.3f MB/s=%.0f files/s=%.0f | best: MB/s=%.0f files/s=%.0f\n"
                "SHA-256 of one core in this run: %.0f MB/s; the median import = %.2fx that (%u threads)\n",
                dir.c_str(), threads, static_cast<unsigned long long>(s.files),
                static_cast<unsigned long long>(s.entries), static_cast<unsigned long long>(s.bytes), measured.size(),
                warm.wall, median.wall, median.cpu, static_cast<double>(s.bytes) / 1e6 / median.wall,
                static_cast<double>(s.files) / median.wall, static_cast<double>(s.bytes) / 1e6 / best.wall,
                static_cast<double>(s.files) / best.wall, sha, static_cast<double>(s.bytes) / 1e6 / median.wall / sha,
                threads);
    return 0;
}
