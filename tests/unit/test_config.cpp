// SPDX-License-Identifier: Apache-2.0
// Unit tests for config: defaults, the full fixture, the shipped
// conf/layerlock.toml, one test per error class (each checks FILE:LINE: KEY in
// the message), the range/path/enum rules of every key, and mode_for
// precedence. Fixtures live in tests/fixtures/config/; the source tree comes
// from LAYERLOCK_SOURCE_ROOT (set by meson test) or is found above the binary.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "layerlock/config/config.hpp"

namespace cfg = layerlock::config;
namespace fs = std::filesystem;
using layerlock::model::Action;
using layerlock::model::Mode;

namespace {

fs::path source_root() {
    if (const char* env = std::getenv("LAYERLOCK_SOURCE_ROOT")) return env;
    std::error_code ec;
    for (auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path(); !dir.empty();
         dir = dir.parent_path()) {
        if (fs::exists(dir / "tests/fixtures/config/full.toml", ec)) return dir;
        if (dir == dir.root_path()) break;
    }
    FAIL("set LAYERLOCK_SOURCE_ROOT to the source tree");
    return {};
}

std::string fixture(const std::string& name) {
    return (source_root() / "tests/fixtures/config" / name).string();
}

std::string shipped_conf() { return (source_root() / "conf/layerlock.toml").string(); }

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The error message of a load that must fail.
std::string load_error(const std::string& path) {
    auto r = cfg::load(path);
    REQUIRE_FALSE(r.has_value());
    return r.error().message();
}

std::string parse_error(const std::string& text) {
    auto r = cfg::parse(text, "test.toml");
    REQUIRE_FALSE(r.has_value());
    return r.error().message();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

void check_same_settings(const cfg::Config& a, const cfg::Config& b) {
    CHECK(a.mode == b.mode);
    CHECK(a.container_modes.size() == b.container_modes.size());
    CHECK(a.image_modes.size() == b.image_modes.size());
    CHECK(a.gate.on_error == b.gate.on_error);
    CHECK(a.gate.hash_timeout == b.gate.hash_timeout);
    CHECK(a.gate.workers == b.gate.workers);
    CHECK(a.gate.max_pending == b.gate.max_pending);
    CHECK(a.gate.cache_entries == b.gate.cache_entries);
    CHECK(a.gate.ignore_marks == b.gate.ignore_marks);
    CHECK(a.gate.ignore_marks_max == b.gate.ignore_marks_max);
    CHECK(a.baseline.database == b.baseline.database);
    CHECK(a.baseline.threads == b.baseline.threads);
    CHECK(a.discovery.docker_socket == b.discovery.docker_socket);
    CHECK(a.discovery.docker_root == b.discovery.docker_root);
    CHECK(a.alerts.journald == b.alerts.journald);
    CHECK(a.alerts.stderr_output == b.alerts.stderr_output);
    CHECK(a.alerts.json_path == b.alerts.json_path);
    CHECK(a.alerts.queue_size == b.alerts.queue_size);
    CHECK(a.events.max_age_days == b.events.max_age_days);
    CHECK(a.events.max_rows == b.events.max_rows);
    CHECK(a.watch.max_watches_per_container == b.watch.max_watches_per_container);
    CHECK(a.watch.reconcile_interval_s == b.watch.reconcile_interval_s);
    CHECK(a.daemon.lock_file == b.daemon.lock_file);
    CHECK(a.daemon.control_socket == b.daemon.control_socket);
    CHECK(a.daemon.log_level == b.daemon.log_level);
    CHECK(a.gate.binary == b.gate.binary);
    CHECK(a.gate.script == b.gate.script);
    CHECK(a.gate.library == b.gate.library);
    CHECK(a.gate.allow.size() == b.gate.allow.size());
    CHECK(a.gate.prohibit.size() == b.gate.prohibit.size());
    CHECK(a.alerts.format == b.alerts.format);
    CHECK(a.alerts.dedup_window_s == b.alerts.dedup_window_s);
    CHECK(a.metrics.textfile_path == b.metrics.textfile_path);
    CHECK(a.metrics.interval_s == b.metrics.interval_s);
    CHECK(a.behaviour.allow.size() == b.behaviour.allow.size());
}

const char* const kAllKeys[] = {
    "mode",          "on_error",     "hash_timeout_ms", "workers",   "max_pending",
    "cache_entries", "ignore_marks", "ignore_marks_max", "database", "threads",
    "require_signed", "unsigned", "verify", "verify_interval_s", "verify_sample",
    "docker_socket", "docker_root",  "journald",        "stderr",    "json_path",
    "queue_size",    "lock_file",    "control_socket", "log_level", "max_age_days", "max_rows", "max_watches_per_container", "reconcile_interval_s", "quiet", "binary", "package", "sensitive", "setuid", "file",
    "script", "library", "format", "dedup_window_s", "textfile_path", "interval_s",
};

}  // namespace

TEST_SUITE("config") {

// ---- defaults and valid files ----------------------------------------------

TEST_CASE("an empty file yields the built-in defaults") {
    auto r = cfg::parse("", "empty.toml");
    REQUIRE(r.has_value());
    check_same_settings(*r, cfg::Config{});
    CHECK(r->source == "empty.toml");
    CHECK(r->mode == Mode::Monitor);
    CHECK(r->gate.on_error == Action::Allow);
}

TEST_CASE("keys left out keep their defaults while the keys given are applied") {
    auto r = cfg::parse("[gate]\nworkers = 7\n[alerts]\nstderr = \"always\"\n", "part.toml");
    REQUIRE(r.has_value());
    CHECK(r->gate.workers == 7);
    CHECK(r->alerts.stderr_output == "always");
    CHECK(r->gate.max_pending == cfg::Config{}.gate.max_pending);
    CHECK(r->baseline.database == cfg::Config{}.baseline.database);
}

TEST_CASE("the full fixture sets every key and keeps override order") {
    auto r = cfg::load(fixture("full.toml"));
    REQUIRE_MESSAGE(r.has_value(), r.error().message());
    const cfg::Config& c = *r;
    CHECK(c.source == fixture("full.toml"));
    CHECK(c.mode == Mode::Enforce);
    CHECK(c.gate.on_error == Action::Deny);
    CHECK(c.gate.hash_timeout == std::chrono::milliseconds(500));
    CHECK(c.gate.workers == 4);
    CHECK(c.gate.max_pending == 1024);
    CHECK(c.gate.cache_entries == 1024);
    CHECK(c.gate.ignore_marks);
    CHECK(c.gate.ignore_marks_max == 100);
    CHECK(c.baseline.database == "/srv/layerlock/base.db");
    CHECK(c.baseline.threads == 8);
    CHECK(c.discovery.docker_socket == "/var/run/docker-alt.sock");
    CHECK(c.discovery.docker_root == "/srv/docker");
    CHECK_FALSE(c.alerts.journald);
    CHECK(c.alerts.stderr_output == "never");
    CHECK(c.alerts.json_path == "/var/log/layerlock/alerts.jsonl");
    CHECK(c.alerts.queue_size == 64);
    CHECK(c.daemon.lock_file == "/tmp/layerlockd.lock");
    CHECK(c.daemon.control_socket == "/tmp/layerlock.sock");
    CHECK(c.daemon.log_level == "debug");
    REQUIRE(c.container_modes.size() == 2);
    CHECK(c.container_modes[0].glob == "payments-*");
    CHECK(c.container_modes[0].mode == Mode::Enforce);
    CHECK(c.container_modes[1].glob == "dev-*");
    CHECK(c.container_modes[1].mode == Mode::Monitor);
    REQUIRE(c.image_modes.size() == 1);
    CHECK(c.image_modes[0].glob == "registry.example/prod/*");
    CHECK(c.image_modes[0].mode == Mode::Monitor);
}

TEST_CASE("the shipped layerlock.toml loads and equals the built-in defaults") {
    auto r = cfg::load(shipped_conf());
    REQUIRE_MESSAGE(r.has_value(), r.error().message());
    // No documented differences: the struct default mode is already "monitor".
    check_same_settings(*r, cfg::Config{});
    CHECK(r->mode == Mode::Monitor);
}

TEST_CASE("the shipped layerlock.toml writes out every key") {
    std::string text = slurp(shipped_conf());
    for (const char* key : kAllKeys)
        CHECK_MESSAGE(contains(text, "\n" + std::string(key) + " = "), key);
    CHECK(contains(text, "# [[override]]"));
}

TEST_CASE("the override examples in the shipped file are valid once uncommented") {
    std::string text = slurp(shipped_conf());
    auto at = text.find("# [[override]]");
    REQUIRE(at != std::string::npos);
    std::string tail = text.substr(at);
    for (std::size_t p; (p = tail.find("# ")) != std::string::npos;) tail.erase(p, 2);
    auto r = cfg::parse(text.substr(0, at) + tail, "uncommented.toml");
    REQUIRE_MESSAGE(r.has_value(), r.error().message());
    CHECK(r->container_modes.size() == 1);
    CHECK(r->image_modes.size() == 1);
}

TEST_CASE("an empty json_path means the JSON sink is off and is accepted") {
    auto r = cfg::parse("[alerts]\njson_path = \"\"\n", "t.toml");
    REQUIRE(r.has_value());
    CHECK(r->alerts.json_path.empty());
}

// ---- one test per error class ----------------------------------------------

TEST_CASE("a missing file is an error that names the file") {
    std::string path = fixture("does-not-exist.toml");
    std::string msg = load_error(path);
    CHECK(contains(msg, path));
    CHECK(contains(msg, "No such file"));
}

TEST_CASE("a directory given as the config file is an error that names it") {
    layerlock::test::TempDir dir;
    CHECK(contains(load_error(dir.str()), dir.str()));
}

TEST_CASE("a TOML syntax error reports the file and toml11's line") {
    std::string path = fixture("syntax_error.toml");
    std::string msg = load_error(path);
    CHECK(msg.rfind(path + ":5: syntax error: ", 0) == 0);
}

TEST_CASE("a key defined twice is a syntax error on the second line") {
    CHECK(contains(parse_error("[gate]\nworkers = 1\n\nworkers = 2\n"), "test.toml:4: "));
}

TEST_CASE("an unknown key inside a table is reported with its dotted name and line") {
    std::string path = fixture("unknown_key.toml");
    CHECK(load_error(path) == path + ":4: gate.worker: unknown key");
}

TEST_CASE("an unknown table is reported with its name and the line of its header") {
    std::string path = fixture("unknown_table.toml");
    CHECK(load_error(path) == path + ":3: gates: unknown table");
}

TEST_CASE("an unknown top-level key is reported") {
    CHECK(parse_error("\nmdoe = \"enforce\"\n") == "test.toml:2: mdoe: unknown key");
}

TEST_CASE("of several unknown keys the first in the file is reported") {
    CHECK(parse_error("[gate]\nzzz = 1\naaa = 2\nmmm = 3\n") ==
          "test.toml:2: gate.zzz: unknown key");
}

TEST_CASE("a value of the wrong type is reported with the expected type") {
    std::string path = fixture("wrong_type.toml");
    CHECK(load_error(path) == path + ":5: gate.hash_timeout_ms: expected an integer, got a string");
}

TEST_CASE("a float where an integer is expected is a wrong type") {
    CHECK(parse_error("[gate]\nworkers = 2.0\n") ==
          "test.toml:2: gate.workers: expected an integer, got a float");
}

TEST_CASE("a section that is not a table is a wrong type") {
    CHECK(parse_error("gate = 5\n") == "test.toml:1: gate: expected a table, got an integer");
}

TEST_CASE("an integer out of range is reported with its bounds") {
    std::string path = fixture("out_of_range.toml");
    CHECK(load_error(path) == path + ":6: gate.workers: must be between 1 and 64, got 0");
}

TEST_CASE("an enum value that is not allowed is reported with the allowed values") {
    std::string path = fixture("bad_enum.toml");
    CHECK(load_error(path) == path +
                                  ":3: alerts.stderr: \"sometimes\" is not one of \"auto\", "
                                  "\"always\", \"never\"");
}

TEST_CASE("a relative path where an absolute one is required is reported") {
    std::string path = fixture("relative_path.toml");
    CHECK(load_error(path) ==
          path + ":5: baseline.database: must be an absolute path, got \"baseline.db\"");
}

TEST_CASE("an override with both container and image is reported at its block") {
    std::string path = fixture("override_both.toml");
    CHECK(load_error(path) ==
          path + ":5: override[2]: needs exactly one of \"container\" or \"image\"");
}

TEST_CASE("an override with neither container nor image is reported at its block") {
    std::string path = fixture("override_neither.toml");
    CHECK(load_error(path) ==
          path + ":3: override[1]: needs exactly one of \"container\" or \"image\"");
}

TEST_CASE("an override without a mode is reported") {
    std::string path = fixture("override_missing_mode.toml");
    std::string msg = load_error(path);
    CHECK(msg.rfind(path + ":5: override[2].mode: missing", 0) == 0);
}

TEST_CASE("an unknown key inside an override is reported with the override's index") {
    CHECK(parse_error("[[override]]\nimage = \"a\"\nmode = \"enforce\"\nnote = \"x\"\n") ==
          "test.toml:4: override[1].note: unknown key");
}

TEST_CASE("a bad mode inside an override is reported with the override's index") {
    CHECK(contains(parse_error("[[override]]\nimage = \"a\"\n\n\nmode = \"block\"\n"),
                   "test.toml:5: override[1].mode: \"block\" is not one of"));
}

TEST_CASE("an override with an empty glob is rejected") {
    CHECK(contains(parse_error("[[override]]\ncontainer = \"\"\nmode = \"enforce\"\n"),
                   "override[1].container: must not be empty"));
}

TEST_CASE("override written as a single table instead of [[override]] is rejected") {
    CHECK(contains(parse_error("[override]\nimage = \"a\"\nmode = \"enforce\"\n"),
                   "test.toml:1: override: expected an array"));
}

TEST_CASE("an override list entry that is not a table is rejected") {
    CHECK(contains(parse_error("override = [1]\n"), "test.toml:1: override[1]: expected a table"));
}

TEST_CASE("a path containing a NUL character is rejected") {
    CHECK(contains(parse_error("[daemon]\nlock_file = \"/run/a\\u0000b\"\n"),
                   "test.toml:2: daemon.lock_file: must not contain a NUL"));
}

// ---- the rules of every key ------------------------------------------------

struct RangeCase {
    const char* table;
    const char* key;
    std::int64_t lo;
    std::int64_t hi;
};

TEST_CASE("every integer key accepts its bounds and rejects one past them") {
    const RangeCase cases[] = {
        {"gate", "hash_timeout_ms", 1, 600000}, {"gate", "workers", 1, 64},
        {"gate", "max_pending", 1, 65536},      {"gate", "cache_entries", 16, 16777216},
        {"gate", "ignore_marks_max", 0, 1048576}, {"baseline", "threads", 0, 256},
        {"baseline", "verify_interval_s", 0, 604800}, {"baseline", "verify_sample", 0, 1000000},
        {"alerts", "queue_size", 16, 1048576},
    };
    for (const auto& c : cases) {
        auto text = [&](std::int64_t v) {
            return "[" + std::string(c.table) + "]\n" + c.key + " = " + std::to_string(v) + "\n";
        };
        std::string key = std::string(c.table) + "." + c.key;
        CAPTURE(key);
        CHECK(cfg::parse(text(c.lo), "t.toml").has_value());
        CHECK(cfg::parse(text(c.hi), "t.toml").has_value());
        CHECK(contains(parse_error(text(c.lo - 1)), "test.toml:2: " + key + ": must be between"));
        CHECK(contains(parse_error(text(c.hi + 1)), "test.toml:2: " + key + ": must be between"));
    }
}

TEST_CASE("an integer too large for 64 bits is out of range, not wrapped") {
    CHECK(contains(parse_error("[gate]\nworkers = 99999999999999999999\n"),
                   "test.toml:2: gate.workers: must be between 1 and 64"));
}

TEST_CASE("every path key rejects a relative path") {
    const std::vector<std::pair<std::string, std::string>> keys = {
        {"baseline", "database"},    {"discovery", "docker_socket"}, {"discovery", "docker_root"},
        {"alerts", "json_path"},     {"daemon", "lock_file"},     {"daemon", "control_socket"},
    };
    for (const auto& [table, key] : keys) {
        CAPTURE(key);
        std::string msg = parse_error("[" + table + "]\n" + key + " = \"relative/x\"\n");
        CHECK(msg == "test.toml:2: " + table + "." + key +
                         ": must be an absolute path, got \"relative/x\"");
    }
}

TEST_CASE("an in-memory baseline database is not allowed in a file") {
    CHECK(contains(parse_error("[baseline]\ndatabase = \":memory:\"\n"),
                   "baseline.database: must be an absolute path"));
}

TEST_CASE("every enum key rejects a value outside its list") {
    const char* const texts[][2] = {
        {"mode = \"block\"\n", "test.toml:1: mode: "},
        {"[gate]\non_error = \"maybe\"\n", "test.toml:2: gate.on_error: "},
        {"[alerts]\nstderr = \"AUTO\"\n", "test.toml:2: alerts.stderr: "},
        {"[daemon]\nlog_level = \"verbose\"\n", "test.toml:2: daemon.log_level: "},
        {"[baseline]\nunsigned = \"allow\"\n", "test.toml:2: baseline.unsigned: "},
        {"[baseline]\nverify = \"some\"\n", "test.toml:2: baseline.verify: "},
    };
    for (const auto& t : texts) {
        CAPTURE(t[0]);
        CHECK(contains(parse_error(t[0]), std::string(t[1]) + "\""));
    }
}

TEST_CASE("signed baselines: defaults and every key read") {
    const cfg::BaselineConfig d;
    CHECK_FALSE(d.require_signed);
    CHECK(d.unsigned_policy == "on_error");
    CHECK(d.verify == "sample");
    auto c = cfg::parse("[baseline]\nrequire_signed = true\nunsigned = \"host\"\nverify = \"full\"\n"
                        "verify_interval_s = 60\nverify_sample = 5\n", "t.toml");
    REQUIRE(c.has_value());
    CHECK(c->baseline.require_signed);
    CHECK(c->baseline.unsigned_policy == "host");
    CHECK(c->baseline.verify == "full");
    CHECK(c->baseline.verify_interval_s == 60);
    CHECK(c->baseline.verify_sample == 5);
    CHECK(parse_error("[baseline]\nrequire_signed = 1\n") ==
          "test.toml:2: baseline.require_signed: expected a boolean, got an integer");
}

TEST_CASE("text that is not UTF-8 is refused before the TOML parser runs") {
    // Found by tests/fuzz/fuzz_config: toml11 read past its buffer reporting invalid
    // UTF-8 in a literal string (an ASan report in build-asan before this check).
    const std::string fuzzed = "mode = 'm[gat\xe9ignore_mars''\xe9onitor\"\n\n[gat\xe9\xe9\xff\xff" "00\"\nG3\n";
    CHECK(parse_error(fuzzed) == "test.toml:1: not UTF-8 (byte 14 of the file)");
    CHECK(parse_error("[gate]\n# caf\xc3\xa9\non_error = 'x\xc0\xaf'\n") == "test.toml:3: not UTF-8 (byte 29 of the file)");
    // Valid multi-byte UTF-8 (in comments and strings) is TOML.
    CHECK(cfg::parse("# caf\xc3\xa9 \xf0\x9f\x94\x92\n[gate]\ninterpreters = ['\xc3\xa9x']\n", "t.toml").has_value());
}

TEST_CASE("nesting and line length are bounded before the TOML parser runs") {
    // 10,000 levels over short lines: the parser would recurse once per level.
    std::string deep = "a = ";
    for (int i = 0; i < 10000; ++i) deep += (i % 64 == 63) ? "[\n" : "[";
    for (int i = 0; i < 10000; ++i) deep += (i % 64 == 63) ? "]\n" : "]";
    CHECK(contains(parse_error(deep), "test.toml:1: arrays and inline tables nested deeper than 16 levels"));
    CHECK(contains(parse_error("[gate]\nx = " + std::string(17, '[') + std::string(17, ']') + "\n"),
                   "test.toml:2: arrays and inline tables nested deeper than 16"));
    CHECK(contains(parse_error("[gate]\nx = {a = {b = {c = {d = {e = {f = {g = {h = {i = {j = {k = {l = {m = {n = {o = "
                               "{p = {q = 1}}}}}}}}}}}}}}}}}\n"),
                   "nested deeper than 16"));
    // Brackets in strings and comments are not nesting.
    CHECK(cfg::parse("# " + std::string(100, '[') + "\n[gate]\ninterpreters = [\"" + std::string(100, '[') +
                         "\", '" + std::string(50, '{') + "', \"\"\"" + std::string(30, '[') + "\"\"\"]\n",
                     "t.toml")
              .has_value());
    // One line of 50,000 array items: minutes in the parser; refused at once.
    std::string items = "[gate]\ninterpreters = [";
    for (int i = 0; i < 50000; ++i) items += "\"x" + std::to_string(i) + "\", ";
    items += "]\n";
    CHECK(contains(parse_error(items), "test.toml:2: line longer than 8192 bytes"));
    // The same items over several lines are fine.
    std::string lines = "[gate]\ninterpreters = [\n";
    for (int i = 0; i < 2000; ++i) lines += "\"x" + std::to_string(i) + "\",\n";
    lines += "]\n";
    CHECK(cfg::parse(lines, "t.toml").has_value());
}

TEST_CASE("a boolean key rejects a string") {
    CHECK(parse_error("[alerts]\njournald = \"yes\"\n") ==
          "test.toml:2: alerts.journald: expected a boolean, got a string");
}

TEST_CASE("hostile input never throws out of parse") {
    const char* const inputs[] = {"\xff\xfe\x00", "[[", "a = [", "x = \"\\u12\"", "= 1",
                                  "[gate]\n[gate]\n", "mode = 1979-05-27T07:32:00Z\n"};
    for (const char* in : inputs) {
        CAPTURE(in);
        CHECK_NOTHROW((void)cfg::parse(in, "t.toml"));
        CHECK_FALSE(cfg::parse(in, "t.toml").has_value());
    }
}

// ---- mode_for ---------------------------------------------------------------

cfg::Config with_overrides() {
    cfg::Config c;
    c.mode = Mode::Monitor;
    c.container_modes = {{"payments-*", Mode::Enforce}, {"payments-dev*", Mode::Monitor}};
    c.image_modes = {{"registry.example/prod/*", Mode::Enforce}, {"*", Mode::Monitor}};
    return c;
}

TEST_CASE("mode_for uses the global mode when nothing matches") {
    cfg::Config c;
    c.mode = Mode::Enforce;
    CHECK(cfg::mode_for(c, "web", "nginx:1") == Mode::Enforce);
    c.image_modes = {{"postgres:*", Mode::Monitor}};
    CHECK(cfg::mode_for(c, "web", "nginx:1") == Mode::Enforce);
}

TEST_CASE("mode_for takes the first matching container override") {
    auto c = with_overrides();
    CHECK(cfg::mode_for(c, "payments-dev1", "other") == Mode::Enforce);
}

TEST_CASE("mode_for checks container overrides before image overrides") {
    cfg::Config c;
    c.mode = Mode::Enforce;
    c.image_modes = {{"nginx:*", Mode::Enforce}};
    c.container_modes = {{"sandbox-*", Mode::Monitor}};
    CHECK(cfg::mode_for(c, "sandbox-1", "nginx:1") == Mode::Monitor);
}

TEST_CASE("mode_for falls back to image overrides in file order") {
    auto c = with_overrides();
    CHECK(cfg::mode_for(c, "web", "registry.example/prod/api:1.2") == Mode::Enforce);
    CHECK(cfg::mode_for(c, "web", "docker.io/library/nginx") == Mode::Monitor);
}

TEST_CASE("mode_for globs without flags, so * also matches a slash") {
    cfg::Config c;
    c.image_modes = {{"registry.example/*", Mode::Enforce}};
    CHECK(cfg::mode_for(c, "", "registry.example/team/app:1") == Mode::Enforce);
    CHECK(cfg::mode_for(c, "", "registry.example") == Mode::Monitor);
}

TEST_CASE("mode_for applies overrides loaded from a file") {
    auto r = cfg::load(fixture("full.toml"));
    REQUIRE(r.has_value());
    CHECK(cfg::mode_for(*r, "dev-1", "registry.example/prod/x") == Mode::Monitor);
    CHECK(cfg::mode_for(*r, "payments-1", "x") == Mode::Enforce);
    CHECK(cfg::mode_for(*r, "web", "registry.example/prod/x") == Mode::Monitor);
    CHECK(cfg::mode_for(*r, "web", "x") == Mode::Enforce);
}

}  // TEST_SUITE

TEST_CASE("the events table's retention keys are read and range-checked") {
    auto c = layerlock::config::parse("[events]\nmax_age_days = 7\nmax_rows = 5000\n", "test.toml");
    REQUIRE(c);
    CHECK(c->events.max_age_days == 7);
    CHECK(c->events.max_rows == 5000);
    CHECK(contains(parse_error("[events]\nmax_age_days = 0\n"), "test.toml:2: events.max_age_days"));
    CHECK(contains(parse_error("[events]\nmax_rows = 10\n"), "test.toml:2: events.max_rows"));
    CHECK(parse_error("[events]\nkeep = 1\n") == "test.toml:2: events.keep: unknown key");
}

TEST_CASE("file drift quiet globs and allow rules are read, with their errors located") {
    auto c = layerlock::config::parse(
        "[file_drift]\nquiet = [\"/scratch/*\"]\n\n[[allow]]\npath = \"/app/cache/*\"\nimage = \"app:*\"\n",
        "test.toml");
    REQUIRE(c);
    REQUIRE(c->file_drift.quiet.size() == 1);
    CHECK(c->file_drift.quiet[0] == "/scratch/*");
    REQUIRE(c->file_drift.allow.size() == 1);
    CHECK(c->file_drift.allow[0].path == "/app/cache/*");
    CHECK(c->file_drift.allow[0].image == "app:*");
    CHECK(c->file_drift.allow[0].container.empty());
    CHECK(contains(parse_error("[file_drift]\nquiet = [\"tmp/*\"]\n"), "test.toml:2: file_drift.quiet"));
    CHECK(contains(parse_error("[[allow]]\nimage = \"x\"\n"), "allow[1].path"));
    CHECK(contains(parse_error("[[allow]]\npath = \"/x\"\nmode = \"enforce\"\n"), "test.toml:3: allow[1].mode: unknown key"));
}

TEST_CASE("file drift severities are overridable per kind") {
    auto c = layerlock::config::parse("[file_drift.severity]\nfile = \"medium\"\nconfig = \"high\"\n", "test.toml");
    REQUIRE(c);
    CHECK(c->file_drift.file == layerlock::model::Severity::Medium);
    CHECK(c->file_drift.config == layerlock::model::Severity::High);
    CHECK(c->file_drift.binary == layerlock::model::Severity::High);
    CHECK(contains(parse_error("[file_drift.severity]\nfile = \"severe\"\n"), "test.toml:2: file_drift.severity.file"));
}

TEST_CASE("exec allow, prohibit and behaviour allow blocks are read, with their errors located") {
    auto c = layerlock::config::parse("[[exec_allow]]\npath = \"/tmp/build-*/tool\"\nimage = \"ci:*\"\nalert = \"none\"\n"
                                      "[[exec_allow]]\nprocess = \"gitlab-runner\"\n"
                                      "[[prohibit]]\npath = \"/usr/bin/nc*\"\n"
                                      "[[prohibit]]\nsha256 = \"" + std::string(64, 'a') + "\"\ncontainer = \"web-*\"\n"
                                      "[[behaviour_allow]]\nkind = \"shell\"\nprocess = \"sh\"\nparent = \"entry*\"\n",
                                      "test.toml");
    REQUIRE_MESSAGE(c, c.error().message());
    REQUIRE(c->gate.allow.size() == 2);
    CHECK(c->gate.allow[0].path == "/tmp/build-*/tool");
    CHECK(c->gate.allow[0].image == "ci:*");
    CHECK(c->gate.allow[0].quiet);
    CHECK(c->gate.allow[1].process == "gitlab-runner");
    CHECK_FALSE(c->gate.allow[1].quiet);
    REQUIRE(c->gate.prohibit.size() == 2);
    CHECK(c->gate.prohibit[0].path == "/usr/bin/nc*");
    CHECK(c->gate.prohibit[1].sha256 == std::string(64, 'a'));
    CHECK(c->gate.prohibit[1].container == "web-*");
    REQUIRE(c->behaviour.allow.size() == 1);
    CHECK(c->behaviour.allow[0].kind == "shell");
    CHECK(c->behaviour.allow[0].parent == "entry*");
    CHECK(contains(parse_error("[[exec_allow]]\nimage = \"x\"\n"), "exec_allow[1]: needs \"path\""));
    CHECK(contains(parse_error("[[exec_allow]]\npath = \"tmp/x\"\n"), "exec_allow[1].path: must be a glob"));
    CHECK(contains(parse_error("[[exec_allow]]\npath = \"/x\"\nalert = \"loud\"\n"), "test.toml:3: exec_allow[1].alert"));
    CHECK(contains(parse_error("[[prohibit]]\npath = \"/x\"\nsha256 = \"" + std::string(64, 'a') + "\"\n"),
                   "prohibit[1]: needs exactly one"));
    CHECK(contains(parse_error("[[prohibit]]\nsha256 = \"abc\"\n"), "prohibit[1].sha256: must be 64 hexadecimal"));
    CHECK(contains(parse_error("[[behaviour_allow]]\nkind = \"shell\"\n"), "behaviour_allow[1]: needs \"process\""));
    CHECK(contains(parse_error("[[behaviour_allow]]\nprocess = \"sh\"\nkind = \"fileless\"\n"),
                   "test.toml:3: behaviour_allow[1].kind"));
}

TEST_CASE("gate severities, the alert format, deduplication and metrics keys are read and checked") {
    auto c = layerlock::config::parse("[gate.severity]\nbinary = \"high\"\nscript = \"medium\"\n"
                                      "[alerts]\nformat = \"falco\"\ndedup_window_s = 0\n"
                                      "[metrics]\ntextfile_path = \"/var/lib/prometheus/node-exporter/layerlock.prom\"\n"
                                      "interval_s = 5\n",
                                      "test.toml");
    REQUIRE_MESSAGE(c, c.error().message());
    CHECK(c->gate.binary == layerlock::model::Severity::High);
    CHECK(c->gate.script == layerlock::model::Severity::Medium);
    CHECK(c->gate.library == layerlock::model::Severity::Critical);
    CHECK(c->alerts.format == "falco");
    CHECK(c->alerts.dedup_window_s == 0);
    CHECK(c->metrics.textfile_path == "/var/lib/prometheus/node-exporter/layerlock.prom");
    CHECK(c->metrics.interval_s == 5);
    CHECK(contains(parse_error("[gate.severity]\nbinary = \"severe\"\n"), "test.toml:2: gate.severity.binary"));
    CHECK(contains(parse_error("[alerts]\nformat = \"cef\"\n"), "test.toml:2: alerts.format"));
    CHECK(contains(parse_error("[alerts]\ndedup_window_s = 100000\n"), "test.toml:2: alerts.dedup_window_s"));
    CHECK(contains(parse_error("[metrics]\ntextfile_path = \"layerlock.prom\"\n"), "test.toml:2: metrics.textfile_path"));
    CHECK(contains(parse_error("[metrics]\ninterval_s = 0\n"), "test.toml:2: metrics.interval_s"));
}
