// SPDX-License-Identifier: Apache-2.0
#include "log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <memory>

namespace layerlock::daemon::log {
namespace {

constexpr std::array<const char*, 8> kNames = {"daemon", "discovery", "gate", "baseline",
                                                "drift", "alerts", "behaviour", "control"};

std::array<std::shared_ptr<spdlog::logger>, kNames.size()>& loggers() {
    static auto all = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l layerlockd[%n]: %v");
        std::array<std::shared_ptr<spdlog::logger>, kNames.size()> out;
        for (std::size_t i = 0; i < kNames.size(); ++i) out[i] = std::make_shared<spdlog::logger>(kNames[i], sink);
        return out;
    }();
    return all;
}

}  // namespace

spdlog::logger& get(Category c) { return *loggers()[static_cast<std::size_t>(c)]; }

void set_level(spdlog::level::level_enum level) {
    for (auto& l : loggers()) l->set_level(level);
}

}  // namespace layerlock::daemon::log
