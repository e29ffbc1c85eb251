// SPDX-License-Identifier: Apache-2.0
// Private to src/discovery: reading fields of untrusted engine JSON with Boost.JSON.
// A null result stands for "absent or not that type"; nothing here throws except
// Boost.JSON's own allocation failures, which the public parsers catch.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"

namespace layerlock::discovery::detail {

namespace json = boost::json;

inline const json::value* value_at(const json::object* o, std::string_view key) {
    return o ? o->if_contains(key) : nullptr;
}

inline const json::object* object_at(const json::object* o, std::string_view key) {
    const json::value* v = value_at(o, key);
    return v ? v->if_object() : nullptr;
}

inline std::string string_at(const json::object* o, std::string_view key) {
    const json::value* v = value_at(o, key);
    const json::string* s = v ? v->if_string() : nullptr;
    return s ? std::string(s->data(), s->size()) : std::string();
}

// The strings of an array field; other element types are skipped.
inline std::vector<std::string> strings_at(const json::object* o, std::string_view key) {
    std::vector<std::string> out;
    const json::value* v = value_at(o, key);
    const json::array* a = v ? v->if_array() : nullptr;
    if (!a) return out;
    for (const json::value& e : *a)
        if (const json::string* s = e.if_string()) out.emplace_back(s->data(), s->size());
    return out;
}

// A directory name an engine made (id, task id, layer id): letters, digits, '_', '-',
// '.', at most 255 bytes, not "." or "..". Anything else is never used in a path.
inline bool is_plain_name(std::string_view s) {
    if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// what: the caller's name for the document, used in the error ("containerd spec").
inline base::Result<json::value> parse_json(std::string_view text, std::string_view what) {
    json::parse_options opt;
    opt.max_depth = 64;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, opt);
    if (ec) return base::unexpected(base::Error::plain(std::string(what) + ": invalid JSON: " + ec.message()));
    return v;
}

}  // namespace layerlock::discovery::detail
