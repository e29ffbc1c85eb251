// SPDX-License-Identifier: Apache-2.0
// A control-socket request line (root only, but still outside input): parsed into
// a verb and its arguments, or refused with a reply that is one JSON line.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "layerlock/control/control.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    auto r = layerlock::control::parse_control_request(line);
    if (!r) {
        auto reply = layerlock::control::control_error_reply(r.error().message());
        if (reply.find('\n') != std::string::npos) __builtin_trap();   // one line, whatever the request held
        boost::system::error_code ec;
        (void)boost::json::parse(reply, ec);
        if (ec) __builtin_trap();   // and valid JSON
    }
    return 0;
}
