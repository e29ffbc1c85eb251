// SPDX-License-Identifier: Apache-2.0
// What every verb needs first: the configuration, and the database it names.
#include <cstdio>
#include <filesystem>

#include "verbs.hpp"

namespace layerlock::cli {

std::optional<config::Config> load_config(const Options& o) {
    auto c = config::load(o.config);
    if (!c) {
        std::fprintf(stderr, "layerlock: configuration error: %s\n", c.error().message().c_str());
        return std::nullopt;
    }
    return std::move(*c);
}

namespace {
void make_parent(const config::Config& c) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(c.baseline.database).parent_path(), ec);
}
}  // namespace

std::optional<baseline::Store> open_store(const config::Config& c) {
    make_parent(c);
    auto s = baseline::Store::open(c.baseline.database);
    if (!s) {
        std::fprintf(stderr, "layerlock: baseline database: %s\n", s.error().message().c_str());
        return std::nullopt;
    }
    return std::move(*s);
}

std::optional<baseline::EventStore> open_events(const config::Config& c) {
    make_parent(c);
    auto s = baseline::EventStore::open(c.baseline.database);
    if (!s) {
        std::fprintf(stderr, "layerlock: event table: %s\n", s.error().message().c_str());
        return std::nullopt;
    }
    return std::move(*s);
}

}  // namespace layerlock::cli
