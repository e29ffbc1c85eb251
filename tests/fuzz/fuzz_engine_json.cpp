// SPDX-License-Identifier: Apache-2.0
// What container engines write or answer, as an attacker who controls a
// container's labels, names or the engine's files could shape it: Docker's
// inspect and list answers, containerd's OCI spec, CRI-O's, containers/storage's
// containers.json and images.json, a pid file. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "layerlock/discovery/docker.hpp"
#include "layerlock/discovery/engines.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    namespace d = layerlock::discovery;
    switch (data[0] % 7) {
        case 0: (void)d::parse_inspect(text); break;
        case 1: (void)d::parse_list(text); break;
        case 2: (void)d::parse_oci_spec(text); break;
        case 3: (void)d::parse_crio_spec(text); break;
        case 4: (void)d::parse_storage_containers(text); break;
        case 5: (void)d::parse_storage_images(text); break;
        case 6: (void)d::parse_pid(text); break;
    }
    return 0;
}
