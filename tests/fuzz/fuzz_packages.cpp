// SPDX-License-Identifier: Apache-2.0
// Package databases written inside a container (dpkg status, apk installed),
// parsed and compared with another copy: package drift on hostile content.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "layerlock/watch/packages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    namespace w = layerlock::watch;
    auto half = text.substr(0, text.size() / 2), rest = text.substr(text.size() / 2);
    auto a = w::parse_dpkg_status(half), b = w::parse_dpkg_status(rest);
    for (const auto& c : w::diff_packages(a, b)) (void)c.text();
    auto x = w::parse_apk_installed(half), y = w::parse_apk_installed(rest);
    for (const auto& c : w::diff_packages(x, y)) (void)c.text();
    return 0;
}
