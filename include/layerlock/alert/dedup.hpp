// SPDX-License-Identifier: Apache-2.0
// Alert deduplication: the same alert (container, kind, path, content, action,
// reason, change, package) repeated within a window goes out once at once; the
// repeats are counted, and when the window closes one summary goes out: the first
// occurrence's record with `count` the total of the window (first included) and
// `last_ns` the time of the last repeat. A window with no repeat closes silently.
// Pure (the caller passes the time): unit-tested without threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "layerlock/model/types.hpp"

namespace layerlock::alert {

class Deduper {
public:
    using Clock = std::chrono::steady_clock;
    // window 0: off (every event goes out). At most `max_keys` windows are open;
    // beyond, events go out undeduplicated (counted in overflow()).
    explicit Deduper(std::chrono::seconds window, std::size_t max_keys = 65536)
        : window_(window), max_keys_(max_keys) {}
    void set_window(std::chrono::seconds w) { window_ = w; }

    // True: deliver `ev` now (the first of its window). False: counted as a repeat.
    bool admit(const model::DriftEvent& ev, Clock::time_point now);
    // The summaries of the windows closed by `now` that saw repeats; `all`: every
    // open window (on shutdown).
    std::vector<model::DriftEvent> due(Clock::time_point now, bool all = false);
    // When the next window closes.
    std::optional<Clock::time_point> next_due() const;

    std::uint64_t suppressed() const { return suppressed_; }
    std::uint64_t overflow() const { return overflow_; }
    std::size_t open_windows() const { return open_.size(); }

    static std::string key_of(const model::DriftEvent& ev);

private:
    struct Window {
        model::DriftEvent first;
        std::uint64_t count = 0;         // occurrences, first included (sum of their counts)
        std::int64_t last_ns = 0;
        Clock::time_point closes;
    };
    std::chrono::seconds window_;
    std::size_t max_keys_;
    std::unordered_map<std::string, Window> open_;
    std::multimap<Clock::time_point, std::string> closing_;
    std::uint64_t suppressed_ = 0, overflow_ = 0;
};

}  // namespace layerlock::alert
