// SPDX-License-Identifier: Apache-2.0
// Unit tests of the exec verdict rules and the verdict cache (pure logic, no root).
#include <doctest/doctest.h>

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
    CHECK(c.reason == "copy-up");
    CHECK_FALSE(c.drift);
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Deny).action == model::Action::Allow);
}

TEST_CASE("a new file is binary drift: denied in enforce, alerted in monitor") {
    auto c = policy::classify(upper(digest(2), std::nullopt));
    CHECK(c.drift);
    CHECK(c.reason == "new-file");
    CHECK(c.severity == model::Severity::High);
    auto enforce = policy::decide(c, model::Mode::Enforce, model::Action::Allow);
    CHECK(enforce.action == model::Action::Deny);
    CHECK(enforce.alert_action == "denied");
    auto monitor = policy::decide(c, model::Mode::Monitor, model::Action::Deny);
    CHECK(monitor.action == model::Action::Allow);
    CHECK(monitor.alert_action == "alerted");
}

TEST_CASE("a process's copy of an image binary at a new path is drift even with equal bytes") {
    auto c = policy::classify(upper(digest(3), std::nullopt, false, true));
    CHECK(c.drift);
    CHECK(c.reason == "copied-image-file");
}

TEST_CASE("an image binary modified in place is drift") {
    auto c = policy::classify(upper(digest(4), digest(5), true, false));
    CHECK(c.drift);
    CHECK(c.reason == "modified-image-file");
}

TEST_CASE("a kernel copy-up moved to a new path with image content is allowed with a low alert") {
    auto c = policy::classify(upper(digest(6), std::nullopt, true, true));
    CHECK_FALSE(c.drift);
    CHECK(c.alert);
    CHECK(c.severity == model::Severity::Low);
    CHECK(c.reason == "renamed-image-file");
}

TEST_CASE("the origin marker alone does not excuse content the image does not hold") {
    auto c = policy::classify(upper(digest(7), std::nullopt, true, false));
    CHECK(c.drift);
}

TEST_CASE("an undecided exec gets the configured fallback and is never cached") {
    ExecFacts f;  // Source::Undecided
    auto c = policy::classify(f);
    CHECK_FALSE(policy::cacheable(c));
    CHECK(policy::decide(c, model::Mode::Monitor, model::Action::Deny).action == model::Action::Deny);
    CHECK(policy::decide(c, model::Mode::Enforce, model::Action::Allow).action == model::Action::Allow);
    auto hashed_without_content = policy::classify(upper(std::nullopt, digest(1)));
    CHECK(hashed_without_content.reason == "undecided");
}

TEST_CASE("the verdict cache misses when any part of the file's version changes") {
    policy::VerdictCache cache(8);
    struct stat st{};
    st.st_dev = 40; st.st_ino = 7; st.st_size = 100;
    st.st_ctim = {1000, 5}; st.st_mtim = {900, 1};
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
