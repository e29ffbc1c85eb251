// SPDX-License-Identifier: Apache-2.0
// /proc/self/mountinfo lines as the kernel could write them (escaped names,
// optional fields, missing ones): parsed into overlay mounts and mount entries.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "layerlock/discovery/mounts.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto& m : layerlock::discovery::parse_mountinfo(text))
        if (m.mount_point.empty()) __builtin_trap();   // a mount without a mount point is never returned
    (void)layerlock::discovery::parse_mount_entries(text);
    return 0;
}
