// SPDX-License-Identifier: Apache-2.0
// Offline verbs: config check, baseline build, baseline show. They find
// containers the same way the daemon does (mount table + engine metadata) and
// open the same database; a concurrent daemon build of a layer is respected.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/discovery/layers.hpp"
#include "layerlock/discovery/containers.hpp"
#include "progress.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace {

using base::escape;
using base::json_escape;

std::string kind_name(baseline::EntryKind k) {
    switch (k) {
        case baseline::EntryKind::Regular: return "file";
        case baseline::EntryKind::Directory: return "dir";
        case baseline::EntryKind::OpaqueDirectory: return "dir";
        case baseline::EntryKind::Symlink: return "symlink";
        case baseline::EntryKind::Whiteout: return "whiteout";
        case baseline::EntryKind::Other: return "other";
    }
    return "other";
}

void print_entry(const baseline::Entry& e, bool json, bool& first) {
    const bool reg = e.kind == baseline::EntryKind::Regular;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", e.mode & 07777);
    if (json) {
        std::printf("%s\n  {\"path\":\"%s\",\"type\":\"%s\",\"sha256\":\"%s\",\"size\":%llu,\"mode\":\"%s\",\"layer\":\"%s\"}",
                    first ? "" : ",", json_escape(e.path).c_str(), kind_name(e.kind).c_str(),
                    reg ? model::to_hex(e.sha256).c_str() : "", static_cast<unsigned long long>(e.size), mode,
                    json_escape(e.layer).c_str());
    } else {
        std::printf("%-64s %10llu %s %-7s %s %s\n", reg ? model::to_hex(e.sha256).c_str() : "-",
                    static_cast<unsigned long long>(e.size), mode, kind_name(e.kind).c_str(),
                    escape(e.path).c_str(), escape(e.layer).c_str());
    }
    first = false;
}

std::vector<model::Container> find(const config::Config& cfg, const std::vector<std::string>& wanted, bool all) {
    discovery::Metadata meta(cfg.discovery);
    auto found = discovery::scan_containers(cfg, &meta);
    if (all) return found;
    std::vector<std::string> missing;
    auto out = discovery::select_containers(found, wanted, &missing);
    for (const auto& m : missing) error("no running container \"" + escape(m) + "\"");
    return missing.empty() ? out : std::vector<model::Container>{};
}

}  // namespace

int config_check(const Options& o) {
    namespace json = boost::json;
    auto c = config::load(o.check_file);
    // Unreadable (missing, not a regular file): a failure, 2. Readable but invalid: 1.
    const bool unreadable = !c && c.error().code;
    if (o.json) {
        json::object out{{"file", base::escape(o.check_file)}, {"ok", c.has_value()}};
        if (c) {
            out["mode"] = std::string(model::to_string(c->mode));
            out["on_error"] = std::string(model::to_string(c->gate.on_error));
        } else {
            out["error"] = c.error().message();
        }
        std::printf("%s\n", json::serialize(out).c_str());
    } else if (c) {
        std::printf("%s: ok (mode=%s, on_error=%s)\n", base::escape(o.check_file).c_str(),
                    std::string(model::to_string(c->mode)).c_str(), std::string(model::to_string(c->gate.on_error)).c_str());
    } else {
        error(c.error().message());
    }
    if (c) return kOk;
    return unreadable ? kFailure : kNegative;
}

namespace {

// What became of one layer in `baseline build`.
struct LayerOutcome {
    std::string layer;
    std::string state;   // hashed | copied | already built | being built elsewhere | failed
    baseline::LayerStats stats;
    std::string error;
};

LayerOutcome build_layer(baseline::Store& store, const std::string& layer, unsigned threads) {
    ProgressLine progress(layer);
    auto stats = store.import_layer(layer, threads, discovery::layer_content_id(layer), progress.callback());
    progress.clear();
    if (!stats) return {layer, "failed", {}, stats.error().message()};
    std::string state = stats->state == baseline::LayerState::Building ? "being built elsewhere"
                        : !stats->built_now                           ? "already built"
                        : stats->copied_from.empty()                  ? "hashed"
                                                                      : "copied";
    return {layer, state, *stats, {}};
}

void print_layer(const LayerOutcome& l) {
    const auto& s = l.stats;
    if (l.state == "hashed")
        std::printf("layer %s: hashed %llu files, %llu bytes in %.3f s\n", base::escape(l.layer).c_str(),
                    static_cast<unsigned long long>(s.files), static_cast<unsigned long long>(s.bytes), s.seconds);
    else if (l.state == "copied")
        std::printf("layer %s: %llu files, copied from %s (same content)\n", base::escape(l.layer).c_str(),
                    static_cast<unsigned long long>(s.files), base::escape(s.copied_from).c_str());
    else if (l.state != "failed")
        std::printf("layer %s: %s\n", base::escape(l.layer).c_str(), l.state.c_str());
}

boost::json::object layer_json(const LayerOutcome& l) {
    boost::json::object o{{"layer", base::escape(l.layer)}, {"state", l.state}};
    if (l.state == "failed") {
        o["error"] = l.error;
        return o;
    }
    o["files"] = l.stats.files;
    o["bytes"] = l.stats.bytes;
    if (l.stats.built_now) o["seconds"] = l.stats.seconds;
    if (!l.stats.copied_from.empty()) o["copied_from"] = base::escape(l.stats.copied_from);
    return o;
}

}  // namespace

int baseline_build(const Options& o) {
    if (!o.image_archive.empty() || !o.image_name.empty()) {
        if (o.all || !o.containers.empty() || (!o.image_archive.empty() && !o.image_name.empty())) {
            error("baseline build takes one of --image-archive FILE, --image NAME, --all or container names");
            return kFailure;
        }
        return baseline_build_image(o);
    }
    if (!o.all && o.containers.empty()) {
        error("baseline build needs --all, container names, --image-archive FILE or --image NAME");
        return kFailure;
    }
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    auto containers = find(*cfg, o.containers, o.all);
    if (containers.empty() && !o.all) return kFailure;
    if (containers.empty()) {
        if (o.json) std::printf("[]\n");
        else std::printf("no running containers\n");
        return kOk;
    }
    auto store = open_store(*cfg);
    if (!store) return kFailure;
    int status = kOk;
    boost::json::array out;
    for (const auto& c : containers) {
        boost::json::array layers;
        for (const auto& layer : c.lowers) {
            auto l = build_layer(*store, layer, cfg->baseline.threads);
            if (l.state == "failed") {
                error("layer " + base::escape(layer) + ": " + l.error);
                status = kFailure;
            }
            if (o.json) layers.push_back(layer_json(l));
            else print_layer(l);
        }
        const bool complete = store->all_complete(c.lowers);
        if (o.json)
            out.push_back(boost::json::object{{"container", base::escape(c.name.empty() ? c.id : c.name)},
                                              {"id", base::escape(c.id)}, {"image", base::escape(c.image)},
                                              {"baseline", complete ? "complete" : "incomplete"},
                                              {"layers", std::move(layers)}});
        else
            std::printf("container %s (%s): baseline %s\n", base::escape(c.name.empty() ? c.id : c.name).c_str(),
                        base::escape(c.image).c_str(), complete ? "complete" : "incomplete");
    }
    if (o.json) std::printf("%s\n", boost::json::serialize(out).c_str());
    return status;
}

int baseline_show(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    auto containers = find(*cfg, {o.container}, false);
    if (containers.empty()) return kFailure;
    const auto& c = containers.front();
    bool absent = false;
    auto store = open_store_read_only(*cfg, &absent);
    if (!store && !absent) return kFailure;
    if (!store || !store->all_complete(c.lowers)) {
        error("baseline of " + escape(o.container) + " is not built yet (run: layerlock baseline build " +
              escape(o.container) + ")");
        return kFailure;
    }
    bool first = true;
    if (o.json) std::printf("[");
    if (!o.path.empty()) {
        auto e = store->lookup(c.lowers, o.path);
        if (!e) {
            if (o.json) std::printf("]\n");
            error(escape(o.path) + " is not in the image");
            return kNegative;
        }
        print_entry(*e, o.json, first);
    } else {
        for (const auto& e : store->effective_entries(c.lowers)) print_entry(e, o.json, first);
    }
    if (o.json) std::printf("\n]\n");
    return 0;
}

}  // namespace layerlock::cli
