// SPDX-License-Identifier: Apache-2.0
// Unit tests of the exec verdict rules and the verdict cache (pure logic, no root).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <atomic>
#include <thread>

#include "layerlock/policy/verdict.hpp"
#include "layerlock/policy/verdict_cache.hpp"
#include "test_support.hpp"

using namespace layerlock;
using policy::ExecFacts;
using policy::Source;

namespace {
model::Sha256 digest(std::uint8_t v) {
    model::Sha256 d{};
    d.fill(v);
    return d;
}
ExecFacts upper(std::optional<model::Sha256> content, std::optional<model::Sha256> at_path,
                bool origin = false, bool in_image = false) {
    ExecFacts f;
    f.source = Source::UpperLayer;
    f.content = content;
    f.image_at_path = at_path;
    f.has_overlay_origin = origin;
    f.content_in_image = in_image;
    return f;
}
// One version of one file, as fstat reports it.
struct stat file_version() {
    struct stat st{};
    st.st_dev = 40; st.st_ino = 7; st.st_size = 100;
    st.st_ctim = {1000, 5}; st.st_mtim = {900, 1};
    return st;
}
}  // namespace

TEST_CASE("an image layer inode is allowed quietly in every mode") {
    ExecFacts f;
    f.source = Source::LowerLayer;
    auto c = policy::classify(f);
    CHECK_FALSE(c.drift);
    CHECK_FALSE(c.alert);
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Deny).action == model::Action::Allow);
}

TEST_CASE("an upper file with the image's content at the same path is a copy-up and allowed") {
    auto c = policy::classify(upper(digest(1), digest(1), false, true));
    CHECK(c.reason == policy::Reason::CopyUp);
    CHECK_FALSE(c.drift);
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Deny).action == model::Action::Allow);
}

TEST_CASE("a new file is binary drift: denied in enforce, alerted in monitor") {
    auto c = policy::classify(upper(digest(2), std::nullopt));
    CHECK(c.drift);
    CHECK(c.reason == policy::Reason::NewFile);
    CHECK(c.severity == model::Severity::High);
    auto enforce = policy::decide(c, model::Mode::Enforce, model::Action::Allow);
    CHECK(enforce.action == model::Action::Deny);
    CHECK(enforce.outcome == policy::Outcome::Denied);
    auto monitor = policy::decide(c, model::Mode::Monitor, model::Action::Deny);
    CHECK(monitor.action == model::Action::Allow);
    CHECK(monitor.outcome == policy::Outcome::Alerted);
}

TEST_CASE("a process's copy of an image binary at a new path is drift even with equal bytes") {
    auto c = policy::classify(upper(digest(3), std::nullopt, false, true));
    CHECK(c.drift);
    CHECK(c.reason == policy::Reason::CopiedImageFile);
}

TEST_CASE("an image binary modified in place is drift") {
    auto c = policy::classify(upper(digest(4), digest(5), true, false));
    CHECK(c.drift);
    CHECK(c.reason == policy::Reason::ModifiedImageFile);
}

TEST_CASE("a kernel copy-up moved to a new path with image content is allowed with a low alert") {
    auto c = policy::classify(upper(digest(6), std::nullopt, true, true));
    CHECK_FALSE(c.drift);
    CHECK(c.alert);
    CHECK(c.severity == model::Severity::Low);
    CHECK(c.reason == policy::Reason::RenamedImageFile);
}

TEST_CASE("the origin marker alone does not excuse content the image does not hold") {
    auto c = policy::classify(upper(digest(7), std::nullopt, true, false));
    CHECK(c.drift);
}

TEST_CASE("an upper file is drift before hashing unless it may be a copy-up or carries the origin marker") {
    using policy::UpperFile;
    auto fresh = policy::classify_unhashed(UpperFile{false, false, false});
    REQUIRE(fresh);
    CHECK(fresh->drift);
    CHECK(fresh->reason == policy::Reason::NewFile);
    auto resized = policy::classify_unhashed(UpperFile{true, false, false});
    REQUIRE(resized);
    CHECK(resized->drift);
    CHECK(resized->reason == policy::Reason::ModifiedImageFile);
    CHECK_FALSE(policy::classify_unhashed(UpperFile{true, true, false}));    // may be a copy-up
    CHECK_FALSE(policy::classify_unhashed(UpperFile{false, false, true}));   // may be a renamed image file
    CHECK_FALSE(policy::classify_unhashed(UpperFile{true, false, true}));
    // A marked copy whose size no image file has cannot hold an image file's bytes.
    auto grown = policy::classify_unhashed(UpperFile{false, false, true, false});
    REQUIRE(grown);
    CHECK(grown->drift);
    CHECK(grown->reason == policy::Reason::NewFile);
    CHECK_FALSE(policy::classify_unhashed(UpperFile{true, true, true, false}));   // same size as at the path
}

TEST_CASE("whatever the content, the hash never turns a drift decided before hashing into an allow") {
    // Every upper file classify_unhashed calls drift, with each thing its content
    // can turn out to be (an image file's bytes or not; when the image has a file
    // at the path its size differs, so its digest is never fetched): classify
    // agrees, with the same severity.
    // A marked copy gets here only with a size no image file has, so its bytes are
    // no image file's either.
    for (bool origin : {false, true})
        for (bool at_path : {false, true})
            for (bool in_image : {false, true}) {
                if (origin && in_image) continue;
                auto before = policy::classify_unhashed({at_path, false, origin, /*size_in_image=*/!origin});
                REQUIRE(before);
                ExecFacts f = upper(digest(1), std::nullopt, origin, in_image);
                f.image_file_at_path = at_path;
                auto after = policy::classify(f);
                CHECK(after.drift);
                CHECK(after.severity == before->severity);
                CHECK(after.reason == (at_path ? policy::Reason::ModifiedImageFile : in_image ? policy::Reason::CopiedImageFile : policy::Reason::NewFile));
            }
}

TEST_CASE("an upper file found equal byte for byte to the image's file at its path is a copy-up") {
    ExecFacts f;
    f.source = Source::UpperLayer;
    f.image_file_at_path = true;
    f.equals_image_file_at_path = true;                     // no digest needed
    auto c = policy::classify(f);
    CHECK(c.reason == policy::Reason::CopyUp);
    CHECK_FALSE(c.drift);
    CHECK_FALSE(c.alert);
}

TEST_CASE("a file that changed while it was judged is drift and never cached") {
    auto c = policy::changed_while_judged();
    CHECK(c.drift);
    CHECK(c.severity == model::Severity::High);
    CHECK_FALSE(policy::cacheable(c));
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Allow).action == model::Action::Deny);
    CHECK(policy::decide(c, model::Mode::Monitor, model::Action::Deny).action == model::Action::Allow);
}

TEST_CASE("an undecided exec gets the configured fallback and is never cached") {
    ExecFacts f;  // Source::Undecided
    auto c = policy::classify(f);
    CHECK_FALSE(policy::cacheable(c));
    CHECK(policy::decide(c, model::Mode::Monitor, model::Action::Deny).action == model::Action::Deny);
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Allow).action == model::Action::Allow);
    auto hashed_without_content = policy::classify(upper(std::nullopt, digest(1)));
    CHECK(hashed_without_content.reason == policy::Reason::Undecided);
}

TEST_CASE("the verdict cache misses when any part of the file's version changes") {
    policy::VerdictCache cache(8);
    struct stat st = file_version();
    auto key = policy::FileKey::of(st);
    cache.put(key, policy::classify(upper(digest(1), digest(1))));
    CHECK(cache.get(key));
    auto changed = st;
    changed.st_ctim.tv_nsec = 6;   // chmod, write, rename, link: all move ctime
    CHECK_FALSE(cache.get(policy::FileKey::of(changed)));
    changed = st;
    changed.st_size = 101;
    CHECK_FALSE(cache.get(policy::FileKey::of(changed)));
    changed = st;
    changed.st_dev = 41;           // same inode number in another container
    CHECK_FALSE(cache.get(policy::FileKey::of(changed)));
}

TEST_CASE("the verdict cache keeps a hashed file's digest for that exact version only") {
    policy::VerdictCache cache(8);
    struct stat st = file_version();
    auto key = policy::FileKey::of(st);
    auto cls = policy::classify(upper(std::nullopt, std::nullopt));
    CHECK_FALSE(cache.digest_of(key));                 // nothing stored
    cache.put(key, cls);
    CHECK_FALSE(cache.digest_of(key));                 // a verdict reached without hashing
    cache.put(key, cls, digest(3));
    REQUIRE(cache.digest_of(key));
    CHECK(*cache.digest_of(key) == digest(3));
    cache.put(key, cls);                               // a later verdict without a hash keeps it
    CHECK(cache.digest_of(key) == digest(3));
    auto changed = st;
    changed.st_mtim.tv_nsec = 2;                       // rewritten: another version
    CHECK_FALSE(cache.digest_of(policy::FileKey::of(changed)));
    auto hits = cache.hits(), misses = cache.misses();
    (void)cache.digest_of(key);
    CHECK(cache.hits() == hits);                       // not a verdict look-up
    CHECK(cache.misses() == misses);
    cache.forget_device(40);
    CHECK_FALSE(cache.digest_of(key));
}

TEST_CASE("the verdict cache evicts the least recently used entry at capacity") {
    policy::VerdictCache cache(2);
    auto key = [](std::uint64_t ino) { policy::FileKey k; k.ino = ino; return k; };
    auto c = policy::classify(upper(digest(1), digest(1)));
    cache.put(key(1), c);
    cache.put(key(2), c);
    CHECK(cache.get(key(1)));      // 1 is now most recent
    cache.put(key(3), c);          // evicts 2
    CHECK(cache.get(key(1)));
    CHECK_FALSE(cache.get(key(2)));
    CHECK(cache.get(key(3)));
    CHECK(cache.size() == 2);
}

TEST_CASE("the verdict cache's counters can be read while the gate's threads count") {
    // `layerlock status` reads hits()/misses() on the control thread while workers
    // look up: a data race before the counters were atomic (a report under build-tsan).
    policy::VerdictCache cache(8);
    policy::FileKey k; k.ino = 7;
    cache.put(k, policy::classify(upper(digest(1), digest(1))));
    std::atomic<bool> done{false};
    std::thread reader([&] {
        for (int i = 0; i < 2000; ++i) cache.get(k), cache.get(policy::FileKey{});
        done = true;
    });
    std::uint64_t seen = 0;
    while (!done) seen = std::max(seen, cache.hits() + cache.misses());
    reader.join();
    CHECK(cache.hits() == 2000);
    CHECK(cache.misses() == 2000);
    CHECK(seen <= 4000);
}

TEST_CASE("forgetting a container's device drops only its entries") {
    policy::VerdictCache cache(8);
    policy::FileKey a; a.dev = 1; a.ino = 1;
    policy::FileKey b; b.dev = 2; b.ino = 1;
    auto c = policy::classify(upper(digest(1), digest(1)));
    cache.put(a, c);
    cache.put(b, c);
    cache.forget_device(1);
    CHECK_FALSE(cache.get(a));
    CHECK(cache.get(b));
}

// ---------------------------------------------------------------- file drift rules

#include "layerlock/policy/file_rules.hpp"

namespace {
policy::FileVerdict file(std::string_view path, model::Change change, bool exec = false,
                         std::uint32_t mode = 0100644, std::uint32_t image_mode = 0100644, bool dir = false) {
    return policy::classify_file({path, change, dir, exec, mode, image_mode});
}
}  // namespace

TEST_CASE("package databases and trees are package drift, high") {
    for (auto p : {"/var/lib/dpkg/status", "/var/lib/dpkg/info/curl.list", "/lib/apk/db/installed",
                   "/var/lib/rpm/Packages", "/usr/lib/python3/dist-packages/requests-2.0.dist-info/METADATA",
                   "/app/node_modules/left-pad/package.json"}) {
        CAPTURE(p);
        auto v = file(p, model::Change::Modified);
        CHECK(v.kind == policy::FileKind::Package);
        CHECK(v.severity == model::Severity::High);
    }
}

TEST_CASE("sensitive configuration is critical, other /etc changes medium") {
    for (auto p : {"/etc/passwd", "/etc/shadow", "/etc/sudoers.d/x", "/etc/ld.so.preload", "/etc/cron.d/job",
                   "/root/.ssh/id_rsa", "/home/app/.ssh/authorized_keys"}) {
        CAPTURE(p);
        CHECK(file(p, model::Change::Modified).severity == model::Severity::Critical);
    }
    auto v = file("/etc/motd", model::Change::Modified);
    CHECK(v.kind == policy::FileKind::Config);
    CHECK(v.severity == model::Severity::Medium);
}

TEST_CASE("a setuid bit added is high; on an executable it is binary drift") {
    auto meta = file("/bin/busybox", model::Change::Metadata, true, 0104755, 0100755);
    CHECK(meta.kind == policy::FileKind::Config);
    CHECK(meta.severity == model::Severity::High);
    auto added = file("/usr/local/bin/x", model::Change::Added, true, 0104755, 0);
    CHECK(added.kind == policy::FileKind::Binary);
    CHECK_FALSE(file("/bin/su", model::Change::Metadata, true, 0104755, 0104755).severity == model::Severity::High);
}

TEST_CASE("expected runtime paths are quiet, but an executable dropped there is not") {
    auto log = file("/var/log/app/a.log", model::Change::Added);
    CHECK(log.quiet);
    CHECK(log.severity == model::Severity::Info);
    CHECK(file("/tmp", model::Change::Metadata, false, 040755, 040755, true).quiet);
    auto dropped = file("/tmp/payload", model::Change::Added, true, 0100755, 0);
    CHECK_FALSE(dropped.quiet);
    CHECK(dropped.kind == policy::FileKind::Binary);
    CHECK(dropped.severity == model::Severity::High);
}

TEST_CASE("other changes are low file drift; parent directories info") {
    CHECK(file("/srv/data.txt", model::Change::Added).kind == policy::FileKind::File);
    CHECK(file("/srv/data.txt", model::Change::Added).severity == model::Severity::Low);
    CHECK(file("/srv", model::Change::Metadata, false, 040755, 040755, true).severity == model::Severity::Info);
    CHECK(file("/bin/cat", model::Change::Deleted).severity == model::Severity::Low);
}

TEST_CASE("allow rules quiet expected changes, narrowed by image or container glob") {
    policy::FileRules rules;
    rules.allow.push_back({"/app/cache/*", "registry.example/app:*", ""});
    rules.allow.push_back({"/etc/resolv.conf", "", "web-*"});
    auto in_app = policy::classify_file({"/app/cache/x", model::Change::Added, false, false, 0100644, 0, "web-1", "registry.example/app:2"}, rules);
    CHECK(in_app.quiet);
    auto other_image = policy::classify_file({"/app/cache/x", model::Change::Added, false, false, 0100644, 0, "web-1", "other:1"}, rules);
    CHECK_FALSE(other_image.quiet);
    CHECK(policy::classify_file({"/etc/resolv.conf", model::Change::Modified, false, false, 0100644, 0100644, "web-2", "any"}, rules).quiet);
    CHECK_FALSE(policy::classify_file({"/etc/resolv.conf", model::Change::Modified, false, false, 0100644, 0100644, "db-1", "any"}, rules).quiet);
    // An executable dropped under an allowed path is still binary drift.
    auto exe = policy::classify_file({"/app/cache/tool", model::Change::Added, false, true, 0100755, 0, "web-1", "registry.example/app:2"}, rules);
    CHECK_FALSE(exe.quiet);
    CHECK(exe.kind == policy::FileKind::Binary);
}

TEST_CASE("quiet globs come from the rules, so configuration can replace them") {
    policy::FileRules none;
    none.quiet.clear();
    CHECK_FALSE(policy::classify_file({"/var/log/a.log", model::Change::Added, false, false, 0100644, 0}, none).quiet);
    CHECK(policy::classify_file({"/var/log/a.log", model::Change::Added, false, false, 0100644, 0}).quiet);
}

TEST_CASE("severities per kind come from the rules") {
    policy::FileRules rules;
    rules.severity.file = model::Severity::Medium;
    rules.severity.sensitive = model::Severity::High;
    CHECK(policy::classify_file({"/srv/x", model::Change::Added, false, false, 0100644, 0}, rules).severity == model::Severity::Medium);
    CHECK(policy::classify_file({"/etc/shadow", model::Change::Modified, false, false, 0100640, 0100640}, rules).severity ==
          model::Severity::High);
}

namespace {

std::string events_doc_row(const std::string& field) {
    const char* root = std::getenv("LAYERLOCK_SOURCE_ROOT");
    REQUIRE_MESSAGE(root, "LAYERLOCK_SOURCE_ROOT names the source tree");
    std::ifstream in(std::string(root) + "/docs/events.md");
    REQUIRE(in);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("| `" + field + "` |")) return line;
    FAIL("docs/events.md has no row for " << field);
    return {};
}

// Every value of the enum has its own name, and docs/events.md lists it in the
// field's row (the schema operators and SIEM rules are written against).
template <typename Enum>
void check_names(const std::string& field) {
    const std::string row = events_doc_row(field);
    std::set<std::string_view> seen;
    for (int i = 0;; ++i) {
        const auto n = policy::name(static_cast<Enum>(i));
        if (n == "unknown") break;
        CAPTURE(n);
        CHECK(seen.insert(n).second);
        CHECK(row.find("`" + std::string(n) + "`") != std::string::npos);
    }
    CHECK(seen.size() >= 3);
}

}  // namespace

TEST_CASE("every reason, kind and action of a decision has one name, and docs/events.md lists it") {
    check_names<policy::Reason>("reason");
    check_names<policy::BehaviourReason>("reason");
    check_names<policy::FileReason>("reason");
    check_names<policy::CodeKind>("kind");
    check_names<policy::BehaviourKind>("kind");
    check_names<policy::FileKind>("kind");
    check_names<policy::Outcome>("action");
    // The enums are turned into these words only where an event record is filled.
    CHECK(policy::name(policy::Reason::ImageLayer) == "image-layer");
    CHECK(policy::name(policy::FileReason::WatchLimit) == "watch-limit");
    CHECK(policy::name(policy::Outcome::Killed) == "killed");
}
