// SPDX-License-Identifier: Apache-2.0
// File drift benchmark (root not needed). Two figures for the watch module:
//  1. reconcile scan of a writable layer holding N files (default 100,000) in
//     1,000 directories, against an image that holds none of them (every file
//     is hashed and reported): seconds and files/s, warm page cache;
//  2. the event rate the inotify watcher sustains while one writer creates and
//     appends to files as fast as it can for a few seconds, and the watcher
//     thread's CPU time over the same span (its share of one core).
//   usage: drift_bench [FILES] [SECONDS]
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/watch/reconcile.hpp"
#include "layerlock/watch/watcher.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double thread_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void make_tree(const fs::path& root, int files) {
    for (int i = 0; i < files; ++i) {
        fs::path dir = root / ("d" + std::to_string(i % 1000));
        if (i < 1000) fs::create_directories(dir);
        int fd = ::open((dir / ("f" + std::to_string(i))).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        std::string body = "file " + std::to_string(i) + "\n";
        [[maybe_unused]] auto n = ::write(fd, body.data(), body.size());
        ::close(fd);
    }
}

void bench_reconcile(const fs::path& root, int files) {
    make_tree(root, files);
    layerlock::base::UniqueFd upper(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto none = [](std::string_view) { return std::optional<layerlock::baseline::Entry>(); };
    (void)layerlock::watch::reconcile(upper.get(), none);   // warm the caches
    auto t0 = Clock::now();
    auto r = layerlock::watch::reconcile(upper.get(), none);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("reconcile: %zu entries (%d files in 1000 directories) in %.3f s: %.0f files/s\n",
                r ? r->size() : 0, files, s, files / s);
}

void bench_watcher(const fs::path& root, double seconds) {
    fs::create_directories(root);
    auto w = layerlock::watch::UpperWatcher::open(8192);
    if (!w) return;
    w->add("c", root.string());
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    std::thread writer([&] {
        for (std::uint64_t i = 0; !stop; ++i) {
            auto p = root / ("w" + std::to_string(i % 512));
            int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            [[maybe_unused]] auto n = ::write(fd, "x\n", 2);
            ::close(fd);
            writes.fetch_add(1, std::memory_order_relaxed);
        }
    });
    std::uint64_t folded = 0, raw = 0;
    double cpu0 = thread_cpu_seconds();
    auto t0 = Clock::now();
    auto next_flush = t0 + std::chrono::milliseconds(500);
    while (Clock::now() - t0 < std::chrono::duration<double>(seconds)) {
        pollfd p{w->fd(), POLLIN, 0};
        ::poll(&p, 1, 100);
        w->read_events();
        if (Clock::now() >= next_flush) {
            auto batch = w->take();
            folded += batch.touched.size();
            for (const auto& t : batch.touched) raw += t.events;
            next_flush += std::chrono::milliseconds(500);
        }
    }
    stop = true;
    writer.join();
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = thread_cpu_seconds() - cpu0;
    std::printf("watcher: %.0f writes/s by one writer -> %.0f inotify events/s read and folded into %.0f "
                "path changes/s; watcher thread CPU %.1f%% of one core\n",
                writes / wall, raw / wall, folded / wall, 100.0 * cpu / wall);
}

}  // namespace

int main(int argc, char** argv) {
    int files = argc > 1 ? std::atoi(argv[1]) : 100000;
    double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
    char tmpl[] = "/var/tmp/layerlock-drift-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) return 1;
    fs::path root = tmpl;
    bench_reconcile(root / "upper", files);
    bench_watcher(root / "watched", seconds);
    std::error_code ec;
    fs::remove_all(root, ec);
    return 0;
}
