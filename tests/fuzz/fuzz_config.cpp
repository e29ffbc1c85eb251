// SPDX-License-Identifier: Apache-2.0
// The configuration parser on any bytes: never a crash or a hang (the TOML parser
// recursed once per nesting level and was quadratic in a line's length before its
// input was bounded), always a Config or an error naming the file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "layerlock/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto c = layerlock::config::parse(text, "fuzz.toml");
    if (!c && c.error().message().rfind("fuzz.toml", 0) != 0) __builtin_trap();   // every error names the file
    return 0;
}
