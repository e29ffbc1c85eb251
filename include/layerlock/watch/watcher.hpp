// SPDX-License-Identifier: Apache-2.0
// Live file drift: inotify on each container's writable (upper) directory,
// recursive. A directory created later is watched and then listed, so nothing
// written into it before its watch existed is missed. Raw events are folded per
// path over a short window (a log appended 10,000 times a second is one change
// with a count); renames are paired by cookie. Watches per container are capped:
// past the cap the container is reported as degraded and the caller falls back
// to periodic reconcile scans; a queue overflow asks for a full reconcile.
// sys/inotify.h stays in this module. Not thread-safe: one thread drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::watch {

struct TouchedPath {
    std::string container;       // the key given to add()
    std::string path;            // inside the container
    std::uint64_t events = 0;    // raw inotify events folded into this one
    std::string renamed_from;    // set when the path was the target of a rename
};

struct WatchBatch {
    std::vector<TouchedPath> touched;
    std::set<std::string> reconcile;    // containers needing a full scan (overflow, cap reached)
    std::set<std::string> degraded;     // containers that hit the watch cap in this batch
    bool overflow = false;              // the kernel dropped events (IN_Q_OVERFLOW)
};

class UpperWatcher {
public:
    static base::Result<UpperWatcher> open(std::size_t max_watches_per_container);
    int fd() const noexcept { return fd_.get(); }   // poll for POLLIN

    // Watches `upper_dir` and every directory below it (up to the cap).
    void add(const std::string& container, const std::string& upper_dir);
    void remove(const std::string& container);

    // Reads what is queued (non-blocking) into the pending set.
    void read_events();
    // Hands out what accumulated; call every window.
    WatchBatch take();
    // Whether take() would hand out anything: a window should be open.
    bool has_pending() const noexcept {
        return !pending_.empty() || !moved_from_.empty() || !batch_.touched.empty() || !batch_.reconcile.empty() ||
               !batch_.degraded.empty() || batch_.overflow;
    }
    std::size_t watch_count(const std::string& container) const;

private:
    explicit UpperWatcher(base::UniqueFd fd, std::size_t cap) : fd_(std::move(fd)), cap_(cap) {}
    struct Dir {
        std::string container, path;   // path inside the container ("" for the root)
    };
    struct Container {
        std::string upper;
        std::set<int> wds;
        bool degraded = false;
    };
    void watch_tree(const std::string& container, const std::string& rel);
    bool watch_one(const std::string& container, const std::string& rel);
    void touch(const std::string& container, const std::string& path, const std::string& from = {});

    base::UniqueFd fd_;
    std::size_t cap_;
    std::map<int, Dir> dirs_;
    std::map<std::string, Container> containers_;
    std::map<std::pair<std::string, std::string>, TouchedPath> pending_;
    std::map<std::uint32_t, std::pair<std::string, std::string>> moved_from_;   // cookie → (container, path)
    WatchBatch batch_;
};

}  // namespace layerlock::watch
