// SPDX-License-Identifier: Apache-2.0
// Unit tests of the package database parsers and their difference.
#include <doctest/doctest.h>

#include "layerlock/watch/packages.hpp"
#include "test_support.hpp"

using namespace layerlock::watch;

namespace {
const char* kImage =
    "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nDescription: GNU C\n multi-line\n\n"
    "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n\n"
    "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
const char* kNow =
    "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n\n"
    "Package: netcat\nStatus: install ok installed\nVersion: 1.10-47\n\n";
}  // namespace

TEST_CASE("dpkg status yields installed packages only, with versions") {
    auto p = parse_dpkg_status(kImage);
    CHECK(p.size() == 2);
    CHECK(p["libc6"] == "2.36-9");
    CHECK(p["curl"] == "7.88.1-10");
    CHECK_FALSE(p.count("gone"));     // config-files only: not installed
}

TEST_CASE("the difference names added, removed and changed packages with versions") {
    auto d = diff_packages(parse_dpkg_status(kImage), parse_dpkg_status(kNow));
    REQUIRE(d.size() == 3);
    std::map<std::string, std::string> text;
    for (const auto& c : d) text[c.name] = c.text();
    CHECK(text["netcat"] == "netcat 1.10-47 (added)");
    CHECK(text["curl"] == "curl 7.88.1-10 (removed)");
    CHECK(text["libc6"] == "libc6 2.36-9 -> 2.36-9+deb12u4 (changed)");
}

TEST_CASE("apk's installed database is parsed too") {
    auto p = parse_apk_installed("C:Q1abc=\nP:musl\nV:1.2.4-r2\n\nP:busybox\nV:1.36.1-r5\n");
    CHECK(p.size() == 2);
    CHECK(p["musl"] == "1.2.4-r2");
    CHECK((package_parser_for("/lib/apk/db/installed") == &parse_apk_installed));
    CHECK((package_parser_for("/etc/passwd") == nullptr));
}

TEST_CASE("malformed or truncated databases do not crash and give what they can") {
    CHECK(parse_dpkg_status("").empty());
    CHECK(parse_dpkg_status("Package:\nVersion:\n").empty());
    auto p = parse_dpkg_status("Package: x\nStatus: install ok installed\nVersion: 1");   // no final newline
    CHECK(p["x"] == "1");
}
