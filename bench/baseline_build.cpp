// SPDX-License-Identifier: Apache-2.0
// Measures a baseline build: imports one directory as a layer into a scratch
// database and prints files/s and MB/s. The first import warms the page cache
// (and is discarded); the second, into a fresh database, is the measurement.
// Usage: baseline_build DIR [THREADS=2] [SCRATCH_DIR=/tmp]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "layerlock/baseline/store.hpp"

namespace {

struct Run {
    layerlock::baseline::LayerStats stats;
    double wall = 0;
};

bool import_once(const std::string& dir, unsigned threads, const std::string& db, Run& out) {
    auto store = layerlock::baseline::Store::open(db);
    if (!store) {
        std::fprintf(stderr, "open %s: %s\n", db.c_str(), store.error().message().c_str());
        return false;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto r = store->import_layer(dir, threads);
    out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
        std::fprintf(stderr, "import %s: %s\n", dir.c_str(), r.error().message().c_str());
        return false;
    }
    out.stats = *r;
    return true;
}

void remove_db(const std::string& db) {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db + suffix).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR [THREADS=2] [SCRATCH_DIR=/tmp]\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    unsigned threads = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 2;
    std::string scratch = argc > 3 ? argv[3] : "/tmp";
    std::string warm_db = scratch + "/layerlock-bench-warm-" + std::to_string(::getpid()) + ".db";
    std::string db = scratch + "/layerlock-bench-" + std::to_string(::getpid()) + ".db";
    Run warm, run;
    bool ok = import_once(dir, threads, warm_db, warm) && import_once(dir, threads, db, run);
    remove_db(warm_db);
    remove_db(db);
    if (!ok) return 1;
    const auto& s = run.stats;
    std::printf("dir=%s threads=%u files=%llu entries=%llu bytes=%llu wall_s=%.3f MB/s=%.0f files/s=%.0f "
                "(warm-up run: %.3f s)\n",
                dir.c_str(), threads, static_cast<unsigned long long>(s.files),
                static_cast<unsigned long long>(s.entries), static_cast<unsigned long long>(s.bytes), run.wall,
                static_cast<double>(s.bytes) / 1e6 / run.wall, static_cast<double>(s.files) / run.wall, warm.wall);
    return 0;
}
