// SPDX-License-Identifier: Apache-2.0
// layerlock: the operator's command line. A table of verbs; the offline verbs
// (config check, baseline build/show) work without the daemon. Exit status:
// 0 success, 1 the verb's negative answer (e.g. invalid config), 2 usage or error.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "verbs.hpp"

int main(int argc, char** argv) {
    using namespace layerlock::cli;
    CLI::App app{"layerlock: container drift detection and blocking", "layerlock"};
    app.set_version_flag("-V,--version", std::string("layerlock ") + LAYERLOCK_VERSION);
    app.require_subcommand(1);
    Options opt;
    app.add_option("-c,--config", opt.config, "configuration file")->capture_default_str();

    auto* cfg = app.add_subcommand("config", "configuration verbs");
    cfg->require_subcommand(1);
    auto* check = cfg->add_subcommand("check", "validate a configuration file without starting");
    check->add_option("file", opt.check_file, "file to check")->required();

    auto* base = app.add_subcommand("baseline", "image layer baseline");
    base->require_subcommand(1);
    auto* build = base->add_subcommand("build", "hash the layers of running containers");
    build->add_flag("--all", opt.all, "every running container");
    build->add_option("containers", opt.containers, "container names or ids");
    auto* show = base->add_subcommand("show", "the image's files as the baseline holds them");
    show->add_option("container", opt.container, "container name or id")->required();
    show->add_option("path", opt.path, "one path inside the container");
    show->add_flag("--json", opt.json, "JSON output");

    auto* st = app.add_subcommand("status", "the running daemon: mode, containers, counters");
    st->add_flag("--json", opt.json, "JSON output");
    auto* rl = app.add_subcommand("reload", "reload the daemon's configuration (refused if invalid)");
    auto* md = app.add_subcommand("mode", "live per-container mode; survives reload until cleared");
    md->add_option("container", opt.container, "container name or id")->required();
    md->add_option("mode", opt.mode, "monitor, enforce or clear")->required()
        ->check(CLI::IsMember({"monitor", "enforce", "clear"}));

    auto* sc = app.add_subcommand("scan", "drift report from each container's writable layer (no daemon needed)");
    sc->add_option("containers", opt.containers, "container names or ids (default: all)");
    sc->add_flag("--json", opt.json, "JSON output");
    sc->add_option("--min-severity", opt.min_severity, "report from this severity up (info low medium high critical)")
        ->capture_default_str();

    auto* ev = app.add_subcommand("events", "drift events the daemon recorded (no daemon needed)");
    ev->add_option("--since", opt.since, "only events newer than this age: 30s, 15m, 1h, 7d");
    ev->add_option("--container", opt.container_filter, "container name or id prefix");
    ev->add_option("--kind", opt.kind, "binary, file, config or package")
        ->check(CLI::IsMember({"binary", "file", "config", "package"}));
    auto* ev_min = ev->add_option("--min-severity", opt.min_severity, "info low medium high critical");
    ev_min->default_str("info");
    ev->add_flag("--json", opt.json, "one JSON object per line");
    ev->add_flag("-f,--follow", opt.follow, "keep printing new events");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (check->parsed()) return config_check(opt);
        if (build->parsed()) return baseline_build(opt);
        if (show->parsed()) return baseline_show(opt);
        if (st->parsed()) return status(opt);
        if (rl->parsed()) return reload(opt);
        if (md->parsed()) return mode(opt);
        if (sc->parsed()) return scan(opt);
        if (ev->parsed()) {
            if (ev_min->count() == 0) opt.min_severity = "info";
            return events(opt);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "layerlock: %s\n", e.what());
        return 2;
    }
    return 2;
}
