// SPDX-License-Identifier: Apache-2.0
// Escaping of untrusted names (paths, comm, cmdline, names and images from inside
// containers) for every output. One escaped form everywhere: escape() turns a raw
// byte string into printable text that holds no control character, no invalid
// UTF-8, no unescaped '"' and no unescaped '\', so a hostile name can neither end
// its quoted field, forge a field or a line, nor inject terminal escape sequences.
//   \\  \"  \n  \t  \r  and \xNN for every other control byte, DEL and invalid UTF-8.
// Valid multi-byte UTF-8 is kept as is. unescape(escape(s)) == s for every s.
// Journald fields and text lines carry escape(raw); JSON strings carry escape(raw)
// JSON-encoded (json_escape), so decoding the JSON then unescape() gives the raw bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace layerlock::base {

std::string escape(std::string_view raw);

// escape(raw) encoded as the inside of a JSON string literal ("..." not included).
std::string json_escape(std::string_view raw);

// A name for a column of text output: as is when that is unambiguous (printable,
// no space, no quote, no backslash, not empty), else escape(raw) in double quotes.
std::string quote_if_needed(std::string_view raw);

// The offset of the first byte of `text` that does not begin a valid UTF-8 sequence
// (ASCII included), or nullopt when all of it is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// The inverse of escape(); nullopt when `text` is not a well-formed escaped string.
std::optional<std::string> unescape(std::string_view text);

}  // namespace layerlock::base
