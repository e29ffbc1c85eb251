// SPDX-License-Identifier: Apache-2.0
// `layerlock scan [CONTAINER...] [--json] [--min-severity S]`: a drift report per
// container from its writable layer compared with the image baseline (built on
// the spot for layers not hashed yet). Works without the daemon. Exit status:
// 0 no drift at or above the threshold, 1 drift found, 2 error.
#include <fcntl.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>

#include "layerlock/alert/record.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/discovery/layers.hpp"
#include "layerlock/discovery/containers.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/watch/file_drift.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace {

using base::escape;
using base::json_escape;

using watch::Finding;

base::Result<std::vector<Finding>> scan_one(baseline::Store& store, const model::Container& c, unsigned threads,
                                            const policy::FileRules& rules) {
    for (const auto& layer : c.lowers)
        if (auto r = store.import_layer(layer, threads, discovery::layer_content_id(layer)); !r)
            return base::unexpected(r.error());
    if (!store.all_complete(c.lowers)) return base::unexpected(base::Error::plain("baseline is being built by another process"));
    base::UniqueFd upper(::open(c.upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!upper) return base::unexpected(base::Error::from_errno("open " + c.upper));
    std::vector<Finding> out;
    auto scanned = watch::scan_drift(upper.get(), c, store, rules, {}, [&](Finding&& f) {
        out.push_back(std::move(f));
        return true;
    });
    if (!scanned) return base::unexpected(scanned.error());
    return out;
}

std::string hex_or_empty(const watch::FileChange& c) { return c.sha256 ? model::to_hex(*c.sha256) : std::string(); }

void print_text(const model::Container& c, const std::vector<Finding>& found, model::Severity min) {
    std::printf("container %s (%s, image %s)\n", escape(c.name.empty() ? c.id : c.name).c_str(),
                std::string(model::to_string(c.runtime)).c_str(), escape(c.image.empty() ? "unknown" : c.image).c_str());
    std::size_t shown = 0;
    for (const auto& f : found) {
        if (f.verdict.severity < min) continue;
        ++shown;
        std::printf("  %-8s %-8s %-9s %s%s%s%s\n", std::string(policy::name(f.verdict.kind)).c_str(),
                    std::string(model::to_string(f.verdict.severity)).c_str(),
                    std::string(model::to_string(f.change.change)).c_str(), base::quote_if_needed(f.change.path).c_str(),
                    f.change.detail.empty() ? "" : ("  (" + escape(f.change.detail) + ")").c_str(),
                    f.change.sha256 && f.change.change != watch::Change::Metadata ? "  sha256=" : "",
                    f.change.change != watch::Change::Metadata ? hex_or_empty(f.change).c_str() : "");
        for (const auto& p : f.packages) std::printf("           package  %s\n", escape(p.text()).c_str());
    }
    if (shown == 0) std::printf("  no drift\n");
}

// One object per container; each change is the one event record (alert/record.hpp)
// the daemon would store for it, plus what only a scan reports: the entry's type,
// its mode, and the packages a package database change is about.
boost::json::object json_container(const model::Container& c, const std::vector<Finding>& found, model::Severity min) {
    namespace json = boost::json;
    json::array changes;
    const auto now = base::now_ns();
    for (const auto& f : found) {
        if (f.verdict.severity < min) continue;
        auto rec = alert::record(watch::file_event(c, f.change, f.verdict, now), alert::host_name());
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", f.change.mode & 07777);
        rec["type"] = std::string(1, model::type_code(f.change.type));
        rec["mode"] = mode;
        rec["quiet"] = f.verdict.quiet;
        json::array packages;
        for (const auto& p : f.packages)
            packages.push_back(json::object{{"name", base::escape(p.name)}, {"change", p.change()},
                                            {"old_version", base::escape(p.old_version)},
                                            {"new_version", base::escape(p.new_version)}});
        rec["packages"] = std::move(packages);
        changes.push_back(std::move(rec));
    }
    return {{"container", base::escape(c.name)}, {"id", base::escape(c.id)},
            {"runtime", std::string(model::to_string(c.runtime))}, {"image", base::escape(c.image)},
            {"changes", std::move(changes)}};
}

}  // namespace

int scan(const Options& o) {
    auto min = model::parse_severity(o.min_severity);
    if (!min) {
        error("--min-severity must be info, low, medium, high or critical");
        return kFailure;
    }
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    discovery::Metadata meta(cfg->discovery);
    auto all = discovery::scan_containers(*cfg, &meta);
    std::vector<std::string> missing;
    auto containers = o.containers.empty() ? all : discovery::select_containers(all, o.containers, &missing);
    for (const auto& m : missing) error("no running container \"" + escape(m) + "\"");
    if (!missing.empty()) return kFailure;
    if (containers.empty()) {
        std::printf(o.json ? "[]\n" : "no running containers\n");
        return kOk;
    }
    // Scanning builds the baseline of layers not hashed yet: the database is written.
    auto store = open_store(*cfg);
    if (!store) return kFailure;
    int status = 0;
    boost::json::array json;
    for (const auto& c : containers) {
        auto found = scan_one(*store, c, cfg->baseline.threads, watch::file_rules(*cfg));
        if (!found) {
            error(escape(c.name.empty() ? c.id : c.name) + ": " + found.error().message());
            return kFailure;
        }
        for (const auto& f : *found)
            if (f.verdict.severity >= *min && !f.verdict.quiet) status = 1;
        if (o.json) json.push_back(json_container(c, *found, *min));
        else print_text(c, *found, *min);
    }
    if (o.json) std::printf("%s\n", boost::json::serialize(json).c_str());
    return status;
}

}  // namespace layerlock::cli
