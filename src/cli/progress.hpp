// SPDX-License-Identifier: Apache-2.0
// A progress line on stderr while a long step runs ("hashing LAYER: 1234 files,
// 56.7 MiB"), redrawn at most every 200 ms and only when stderr is a terminal:
// redirected output and logs never see it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::cli {

class ProgressLine {
public:
    explicit ProgressLine(const std::string& what)
        : what_(base::escape(what)), on_(::isatty(STDERR_FILENO) == 1) {}
    ~ProgressLine() { clear(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    baseline::ImportProgress callback() {
        if (!on_) return {};
        return [this](std::uint64_t files, std::uint64_t bytes) { update(files, bytes); };
    }
    void update(std::uint64_t files, std::uint64_t bytes) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(200)) return;
        last_ = now;
        shown_ = true;
        std::fprintf(stderr, "\r\033[Khashing %s: %llu files, %.1f MiB", what_.c_str(),
                     static_cast<unsigned long long>(files), static_cast<double>(bytes) / (1 << 20));
        std::fflush(stderr);
    }
    void clear() {
        if (!shown_) return;
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
        shown_ = false;
    }

private:
    std::string what_;
    bool on_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace layerlock::cli
