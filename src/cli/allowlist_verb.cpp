// SPDX-License-Identifier: Apache-2.0
// `layerlock allowlist suggest [--image GLOB] [--container NAME] [--since AGE]`:
// configuration blocks, ready to paste, that would have kept the drift recorded in
// learn mode from alerting (policy/suggest.hpp). Reads the event table (works
// without the daemon). Exit 0 with blocks printed, 1 when nothing was learned.
#include <fnmatch.h>

#include <cstdio>
#include <ctime>

#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/policy/suggest.hpp"
#include "verbs.hpp"

namespace layerlock::cli {

int allowlist_suggest(const Options& o) {
    baseline::EventFilter f;
    f.container = o.container_filter;
    f.limit = 1'000'000;
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
    bool absent = false;
    auto store = open_events_read_only(*cfg, &absent);
    if (!store && !absent) return kFailure;
    std::vector<model::DriftEvent> learned;
    if (store)
        for (auto& s : store->query(f)) {
            if (s.event.action != "learned") continue;
            if (!o.image_filter.empty() && ::fnmatch(o.image_filter.c_str(), s.event.image.c_str(), 0) != 0) continue;
            learned.push_back(std::move(s.event));
        }
    const auto text = policy::suggest_allowlist(learned);
    if (text.empty()) {
        std::printf("# nothing learned%s: put containers in learn mode first (mode = \"learn\", or "
                    "layerlock mode NAME learn), run the workload, then ask again\n",
                    o.image_filter.empty() ? "" : (" for image " + base::escape(o.image_filter)).c_str());
        return kNegative;
    }
    std::printf("# layerlock allowlist suggest: %zu learned events. Review each block before pasting it into\n"
                "# %s; a block allows what it names in enforce mode too.\n\n%s",
                learned.size(), base::escape(cfg->source.empty() ? std::string(kDefaultConfig) : cfg->source).c_str(),
                text.c_str());
    return kOk;
}

}  // namespace layerlock::cli
