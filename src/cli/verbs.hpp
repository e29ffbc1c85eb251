// SPDX-License-Identifier: Apache-2.0
// The layerlock verbs. Each takes the parsed options and returns the exit status
// (layerlock(8), EXIT STATUS): 0 success, 1 the verb's negative answer (invalid
// configuration, drift found, path not in the image, request refused by the
// daemon), 2 usage error or failure (unreadable file, unknown container, database
// error, daemon not reachable). Each prints its own errors once, to stderr, with
// the "layerlock: " prefix.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/config/config.hpp"

namespace layerlock::cli {

inline constexpr const char* kDefaultConfig = "/etc/layerlock/layerlock.toml";

enum Exit : int { kOk = 0, kNegative = 1, kFailure = 2 };

struct Options {
    std::string config = kDefaultConfig;
    bool config_given = false;   // --config on the command line (a missing file is then an error)
    std::string check_file;
    bool all = false;
    bool json = false;
    std::vector<std::string> containers;
    std::string container;
    std::string path;
    std::string mode;
    std::string min_severity = "low";
    std::string since, kind, container_filter, image_filter;
    bool follow = false;
    std::string sha256, dest;
    // Baselines before deploy.
    std::string image_archive, image_name, output, key, signature, bundle;
    std::vector<std::string> trust;
};

// Shared by the verbs: each prints its failure once and returns nullopt. Without
// --config and without a file at the default path, the built-in defaults apply
// (said once on stderr).
std::optional<config::Config> load_config(const Options& o);
// Opens the database for writing (creates it and its directory root-only).
std::optional<baseline::Store> open_store(const config::Config& c);
// Opens an existing database read-only; creates nothing. `absent` is set (and
// nothing printed) when there is no database yet.
std::optional<baseline::Store> open_store_read_only(const config::Config& c, bool* absent);
std::optional<baseline::EventStore> open_events_read_only(const config::Config& c, bool* absent);

// Prints "layerlock: MESSAGE" on stderr.
void error(const std::string& message);
// "90s", "15m", "1h", "7d" -> seconds; nullopt when malformed.
std::optional<std::int64_t> parse_age(const std::string& s);

int config_check(const Options& o);
int baseline_build(const Options& o);
int baseline_show(const Options& o);
int status(const Options& o);
int reload(const Options& o);
int mode(const Options& o);
int scan(const Options& o);
int events(const Options& o);
int thaw(const Options& o);
int quarantine_list(const Options& o);
int quarantine_export(const Options& o);
int forensics_list(const Options& o);
int allowlist_suggest(const Options& o);
int baseline_build_image(const Options& o);
int baseline_images(const Options& o);
int baseline_export(const Options& o);
int baseline_keygen(const Options& o);
int baseline_sign(const Options& o);
int baseline_import(const Options& o);

}  // namespace layerlock::cli
