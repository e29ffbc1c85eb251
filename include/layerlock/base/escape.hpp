// SPDX-License-Identifier: Apache-2.0
// Escaping of untrusted names (paths and comm from inside containers) for every
// output: control characters, backslash and invalid UTF-8 become \xNN / \n / \t
// escapes, so a hostile file name can neither forge a log line nor inject
// terminal escape sequences. Valid multi-byte UTF-8 is kept as is.
#pragma once

#include <string>
#include <string_view>

namespace layerlock::base {

std::string escape(std::string_view raw);

// escape() plus JSON string quoting rules (the result is valid inside "...").
std::string json_escape(std::string_view raw);

}  // namespace layerlock::base
