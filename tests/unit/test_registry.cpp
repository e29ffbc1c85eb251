// SPDX-License-Identifier: Apache-2.0
// The registry of gated containers (registry/registry.hpp): look-ups by device and
// mount id, the generation number the gate's reader keys its tables on, and mounts
// that follow their container when it is replaced or removed.
#include <doctest/doctest.h>

#include <thread>

#include "layerlock/registry/registry.hpp"

using namespace layerlock;

namespace {

registry::Registry::Ptr container(dev_t dev, const char* name, model::Mode mode = model::Mode::Monitor) {
    auto c = std::make_shared<gate::GatedContainer>();
    c->info.dev = dev;
    c->info.name = name;
    c->mode = mode;
    return c;
}

std::uint64_t generation(const registry::Registry& r) { return r.generation_counter().load(); }

}  // namespace

TEST_CASE("containers are found by device; every change bumps the generation, a look-up does not") {
    registry::Registry r;
    CHECK(r.find(7) == nullptr);
    auto g0 = generation(r);
    r.put(container(7, "web"));
    auto g1 = generation(r);
    CHECK(g1 > g0);
    REQUIRE(r.find(7));
    CHECK(r.find(7)->info.name == "web");
    CHECK(generation(r) == g1);   // reading changes nothing
    r.put(container(7, "web", model::Mode::Enforce));   // replaced (mode changed)
    CHECK(generation(r) > g1);
    CHECK(r.find(7)->mode == model::Mode::Enforce);
    CHECK(r.all().size() == 1);
    auto g2 = generation(r);
    CHECK(r.remove(8) == nullptr);   // not there: no change
    CHECK(generation(r) == g2);
    auto gone = r.remove(7);
    REQUIRE(gone);
    CHECK(gone->info.name == "web");
    CHECK(r.find(7) == nullptr);
    CHECK(generation(r) > g2);
}

TEST_CASE("a container's mounts follow its replacement and go with it") {
    registry::Registry r;
    auto first = container(7, "web");
    r.put(first);
    r.put(container(9, "db"));
    r.put_mount(100, {first, std::make_shared<gate::GatedMount>()});
    r.put_mount(101, {r.find(9), std::make_shared<gate::GatedMount>()});
    CHECK(r.find_mount(100).container == first);
    CHECK(r.find_mount(555).container == nullptr);

    auto replaced = container(7, "web", model::Mode::Enforce);
    r.put(replaced);
    CHECK(r.find_mount(100).container == replaced);   // not the old one
    CHECK(r.find_mount(101).container->info.name == "db");

    auto g = generation(r);
    r.remove(7);
    CHECK(r.find_mount(100).container == nullptr);   // gone with its container
    CHECK(r.find_mount(101).container != nullptr);
    CHECK(generation(r) > g);
    g = generation(r);
    r.remove_mount(555);   // unknown: no change
    CHECK(generation(r) == g);
    r.remove_mount(101);
    CHECK(generation(r) > g);
    CHECK(r.find_mount(101).container == nullptr);
}

TEST_CASE("look-ups while containers are replaced see the old or the new one, whole") {
    registry::Registry r;
    r.put(container(7, "a"));
    std::atomic<bool> done{false}, reading{false};
    std::thread writer([&] {
        while (!reading) std::this_thread::yield();   // the look-ups below overlap the replacements
        for (int i = 0; i < 2000; ++i) {
            r.put(container(7, i % 2 ? "a" : "b"));
            r.put_mount(100, {r.find(7), std::make_shared<gate::GatedMount>()});
        }
        done = true;
    });
    std::size_t seen = 0;
    reading = true;
    do {
        auto c = r.find(7);
        REQUIRE(c);
        CHECK((c->info.name == "a" || c->info.name == "b"));
        if (auto m = r.find_mount(100); m.container) CHECK(m.container->info.dev == 7);
        ++seen;
    } while (!done);
    writer.join();
    CHECK(seen > 0);
}
