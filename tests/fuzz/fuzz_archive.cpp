// SPDX-License-Identifier: Apache-2.0
// Image archives (docker save, OCI layouts as tars) and the layer tars inside
// them, read as a stream: crafted whiteouts, opaque markers, hard links, names
// leaving the layer, truncated or lying headers. Never a crash, never a name
// outside the layer in a record. Also the baseline records format.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "layerlock/baseline/archive.hpp"
#include "layerlock/baseline/bundle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace b = layerlock::baseline;
    (void)b::decode_records(std::string_view(reinterpret_cast<const char*>(data), size));
    std::size_t at = 0;
    auto read = [&](void* buf, std::size_t len) -> long {
        std::size_t n = std::min(len, size - at);
        std::memcpy(buf, data + at, n);
        at += n;
        return static_cast<long>(n);
    };
    auto on_layer = [](b::ArchiveLayer&& l) -> layerlock::base::Result<void> {
        for (const auto& e : l.entries)
            if (e.path.empty() || e.path[0] != '/' || e.path.find("/../") != std::string::npos) __builtin_trap();
        return {};
    };
    (void)b::read_image_stream(read, 1, on_layer);
    return 0;
}
