// SPDX-License-Identifier: Apache-2.0
// Offline verbs: config check, baseline build, baseline show. They find
// containers the same way the daemon does (mount table + engine metadata) and
// open the same database; a concurrent daemon build of a layer is respected.
#include <cstdio>
#include <filesystem>
#include <thread>

#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/discovery/layers.hpp"
#include "layerlock/daemon/containers.hpp"
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
    daemon::Metadata meta(cfg.discovery);
    auto found = daemon::scan_containers(cfg, &meta);
    if (all) return found;
    std::vector<std::string> missing;
    auto out = daemon::select_containers(found, wanted, &missing);
    for (const auto& m : missing) std::fprintf(stderr, "layerlock: no running container \"%s\"\n", escape(m).c_str());
    return missing.empty() ? out : std::vector<model::Container>{};
}

}  // namespace

int config_check(const Options& o) {
    auto c = config::load(o.check_file);
    if (!c) {
        std::fprintf(stderr, "%s\n", c.error().message().c_str());
        return 1;
    }
    std::printf("%s: ok (mode=%s, on_error=%s)\n", o.check_file.c_str(),
                std::string(model::to_string(c->mode)).c_str(), std::string(model::to_string(c->gate.on_error)).c_str());
    return 0;
}

int baseline_build(const Options& o) {
    if (!o.all && o.containers.empty()) {
        std::fprintf(stderr, "layerlock: baseline build needs --all or container names\n");
        return 2;
    }
    auto cfg = load_config(o);
    if (!cfg) return 2;
    auto store = open_store(*cfg);
    if (!store) return 2;
    auto containers = find(*cfg, o.containers, o.all);
    if (containers.empty() && !o.all) return 2;
    int status = 0;
    for (const auto& c : containers) {
        for (const auto& layer : c.lowers) {
            auto stats = store->import_layer(layer, cfg->baseline.threads, discovery::layer_content_id(layer));
            if (!stats) {
                std::fprintf(stderr, "layerlock: layer %s: %s\n", escape(layer).c_str(), stats.error().message().c_str());
                status = 2;
                continue;
            }
            if (stats->files > 0)
                std::printf("layer %s: %llu files, %llu bytes, %.3f s%s%s\n", escape(layer).c_str(),
                            static_cast<unsigned long long>(stats->files),
                            static_cast<unsigned long long>(stats->bytes), stats->seconds,
                            stats->copied_from.empty() ? "" : ", copied from ",
                            stats->copied_from.empty() ? "" : escape(stats->copied_from).c_str());
        }
        std::printf("container %s (%s): baseline %s\n", escape(c.name.empty() ? c.id : c.name).c_str(),
                    escape(c.image).c_str(), store->all_complete(c.lowers) ? "complete" : "incomplete");
    }
    return status;
}

int baseline_show(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return 2;
    auto store = open_store(*cfg);
    if (!store) return 2;
    auto containers = find(*cfg, {o.container}, false);
    if (containers.empty()) return 2;
    const auto& c = containers.front();
    if (!store->all_complete(c.lowers)) {
        std::fprintf(stderr, "layerlock: baseline of %s is not built yet (run: layerlock baseline build %s)\n",
                     escape(o.container).c_str(), escape(o.container).c_str());
        return 2;
    }
    bool first = true;
    if (o.json) std::printf("[");
    if (!o.path.empty()) {
        auto e = store->lookup(c.lowers, o.path);
        if (!e) {
            if (o.json) std::printf("]\n");
            std::fprintf(stderr, "layerlock: %s is not in the image\n", escape(o.path).c_str());
            return 1;
        }
        print_entry(*e, o.json, first);
    } else {
        for (const auto& e : store->effective_entries(c.lowers)) print_entry(e, o.json, first);
    }
    if (o.json) std::printf("\n]\n");
    return 0;
}

}  // namespace layerlock::cli
