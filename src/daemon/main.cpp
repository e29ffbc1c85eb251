// SPDX-License-Identifier: Apache-2.0
// layerlockd: the container drift daemon. Foreground; systemd runs it as a
// Type=notify service. Exit status: 0 stopped by signal, 1 runtime failure,
// 2 bad command line or configuration.
#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <cstdio>

#include "layerlock/config/config.hpp"
#include "layerlock/daemon/daemon.hpp"

int main(int argc, char** argv) {
    CLI::App app{"layerlockd: detect and block container drift (fanotify exec gate)", "layerlockd"};
    std::string config_path = "/etc/layerlock/layerlock.toml";
    std::string log_level;
    app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
    app.add_option("--log-level", log_level, "override daemon.log_level (trace debug info warn error)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    app.set_version_flag("-V,--version", std::string("layerlockd ") + LAYERLOCK_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "layerlockd: %s\nRun \"layerlockd --help\" for usage.\n", e.what());
        return 2;
    }
    ::umask(077);   // state it creates is root-only, as under the unit's UMask=0077
    auto cfg = layerlock::config::load(config_path);
    if (!cfg) {
        std::fprintf(stderr, "layerlockd: configuration error: %s\n", cfg.error().message().c_str());
        return 2;
    }
    try {
        return layerlock::daemon::run(std::move(*cfg), log_level);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "layerlockd: fatal: %s\n", e.what());
        return 1;
    }
}
