// SPDX-License-Identifier: Apache-2.0
// `layerlock events [--since 1h] [--container NAME] [--kind KIND]
// [--min-severity S] [--json] [--follow]`: reads the event table the daemon
// writes (works without the daemon). --follow keeps printing new events.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include <boost/json.hpp>

#include "layerlock/alert/record.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/config/config.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace {

using base::escape;
using base::json_escape;

std::string time_text(std::int64_t us) {
    std::time_t t = us / 1'000'000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void print(const model::DriftEvent& e, bool json) {
    if (json) {   // the one event record (alert/record.hpp), as the JSON-lines sink writes it
        std::printf("%s\n", boost::json::serialize(alert::record(e, alert::host_name())).c_str());
        return;
    }
    const std::string count = e.count > 1 ? "  x" + std::to_string(e.count) : std::string();
    std::printf("%s %-8s %-8s %-8s %-9s %-20s %s%s%s\n", time_text(e.time_us).c_str(), e.kind.c_str(),
                std::string(model::to_string(e.severity)).c_str(), e.action.c_str(),
                (e.change.empty() ? "exec" : e.change).c_str(), escape(e.container_name.empty() ? "unknown" : e.container_name).c_str(),
                base::quote_if_needed(e.path).c_str(), count.c_str(),
                e.detail.empty() ? "" : ("  (" + escape(e.detail) + ")").c_str());
}

}  // namespace

int events(const Options& o) {
    auto min = model::parse_severity(o.min_severity);
    if (!min) {
        error("--min-severity must be info, low, medium, high or critical");
        return kFailure;
    }
    baseline::EventFilter f;
    f.min_severity = *min;
    f.kind = o.kind;
    f.container = o.container_filter;
    if (!o.since.empty()) {
        auto age = parse_age(o.since);
        if (!age) {
            error("--since takes an age such as 30s, 15m, 1h or 7d");
            return kFailure;
        }
        f.since_us = (static_cast<std::int64_t>(std::time(nullptr)) - *age) * 1'000'000;
    }
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    // Read-only: this verb never creates the database (nor its directory).
    bool absent = false;
    std::optional<baseline::EventStore> store;
    for (;;) {
        if (!store) store = open_events_read_only(*cfg, &absent);
        if (!store && !absent) return kFailure;
        bool any = false;
        if (store)
            for (const auto& s : store->query(f)) {
                print(s.event, o.json);
                f.after_id = s.id;
                any = true;
            }
        if (!any && !o.json && !o.follow)
            std::printf(absent ? "no events (no event table yet at %s)\n" : "no events\n",
                        base::escape(cfg->baseline.database).c_str());
        std::fflush(stdout);
        if (!o.follow) return kOk;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

}  // namespace layerlock::cli
