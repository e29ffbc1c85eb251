// SPDX-License-Identifier: Apache-2.0
// What every verb needs first: the configuration, and the database it names.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "verbs.hpp"

namespace layerlock::cli {

void error(const std::string& message) { std::fprintf(stderr, "layerlock: %s\n", message.c_str()); }

std::optional<config::Config> load_config(const Options& o) {
    struct stat st {};
    if (!o.config_given && ::stat(o.config.c_str(), &st) != 0 && errno == ENOENT) {
        error("no configuration file at " + o.config + ": using the built-in defaults");
        return config::Config{};
    }
    auto c = config::load(o.config);
    if (!c) {
        error("configuration error: " + c.error().message());
        return std::nullopt;
    }
    return std::move(*c);
}

std::optional<baseline::Store> open_store(const config::Config& c) {
    auto s = baseline::Store::open(c.baseline.database);
    if (!s) {
        error("baseline database: " + s.error().message());
        return std::nullopt;
    }
    return std::move(*s);
}

std::optional<baseline::Store> open_store_read_only(const config::Config& c, bool* absent) {
    auto s = baseline::Store::open(c.baseline.database, baseline::Access::ReadOnly);
    *absent = !s && s.error().code == std::errc::no_such_file_or_directory;
    if (!s && !*absent) error("baseline database: " + s.error().message());
    if (!s) return std::nullopt;
    return std::move(*s);
}

std::optional<baseline::EventStore> open_events_read_only(const config::Config& c, bool* absent) {
    auto s = baseline::EventStore::open(c.baseline.database, baseline::Access::ReadOnly);
    *absent = !s && s.error().code == std::errc::no_such_file_or_directory;
    if (!s && !*absent) error("event table: " + s.error().message());
    if (!s) return std::nullopt;
    return std::move(*s);
}

std::optional<std::int64_t> parse_age(const std::string& s) {
    if (s.size() < 2) return std::nullopt;
    std::int64_t n = 0;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9' || n > 100'000'000) return std::nullopt;
        n = n * 10 + (s[i] - '0');
    }
    switch (s.back()) {
        case 's': return n;
        case 'm': return n * 60;
        case 'h': return n * 3600;
        case 'd': return n * 86400;
        default: return std::nullopt;
    }
}

}  // namespace layerlock::cli
