// SPDX-License-Identifier: Apache-2.0
// Wall-clock time since the epoch: nanoseconds (alert records) and microseconds
// (the event table).
#pragma once

#include <time.h>

#include <cstdint>

namespace layerlock::base {

inline std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

inline std::int64_t now_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1'000'000LL + ts.tv_nsec / 1000;
}

}  // namespace layerlock::base
