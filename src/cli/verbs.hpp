// SPDX-License-Identifier: Apache-2.0
// The layerlock verbs. Each takes the parsed options and returns the exit status;
// each prints its own errors once, to stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"

namespace layerlock::cli {

struct Options {
    std::string config = "/etc/layerlock/layerlock.toml";
    std::string check_file;
    bool all = false;
    bool json = false;
    std::vector<std::string> containers;
    std::string container;
    std::string path;
    std::string mode;
    std::string min_severity = "low";
    std::string since, kind, container_filter;
    bool follow = false;
};

// Shared by the verbs: each prints its failure once and returns nullopt.
std::optional<config::Config> load_config(const Options& o);
std::optional<baseline::Store> open_store(const config::Config& c);        // creates the directory
std::optional<baseline::EventStore> open_events(const config::Config& c);

int config_check(const Options& o);
int baseline_build(const Options& o);
int baseline_show(const Options& o);
int status(const Options& o);
int reload(const Options& o);
int mode(const Options& o);
int scan(const Options& o);
int events(const Options& o);

}  // namespace layerlock::cli
