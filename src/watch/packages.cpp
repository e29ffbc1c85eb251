// SPDX-License-Identifier: Apache-2.0
#include "layerlock/watch/packages.hpp"

namespace layerlock::watch {
namespace {

// Calls fn(line) for each line of text (without the newline).
template <typename Fn>
void each_line(std::string_view text, Fn fn) {
    while (!text.empty()) {
        auto nl = text.find('\n');
        fn(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

std::string_view value_of(std::string_view line, std::string_view key) {
    if (line.substr(0, key.size()) != key) return {};
    auto v = line.substr(key.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    return v;
}

}  // namespace

std::string PackageChange::text() const {
    auto c = change();
    if (c == "added") return name + " " + new_version + " (added)";
    if (c == "removed") return name + " " + old_version + " (removed)";
    return name + " " + old_version + " -> " + new_version + " (changed)";
}

// Stanzas separated by blank lines; a package counts when its Status says "installed".
std::map<std::string, std::string> parse_dpkg_status(std::string_view text) {
    std::map<std::string, std::string> out;
    std::string name, version;
    bool installed = false;
    auto flush = [&] {
        if (!name.empty() && installed) out[name] = version;
        name.clear();
        version.clear();
        installed = false;
    };
    each_line(text, [&](std::string_view line) {
        if (line.empty()) return flush();
        if (auto v = value_of(line, "Package:"); !v.empty()) name = v;
        else if (auto v = value_of(line, "Version:"); !v.empty()) version = v;
        else if (auto v = value_of(line, "Status:"); !v.empty()) installed = v.ends_with(" installed");
    });
    flush();
    return out;
}

// apk: "P:name" and "V:version" lines, stanzas separated by blank lines.
std::map<std::string, std::string> parse_apk_installed(std::string_view text) {
    std::map<std::string, std::string> out;
    std::string name, version;
    auto flush = [&] {
        if (!name.empty()) out[name] = version;
        name.clear();
        version.clear();
    };
    each_line(text, [&](std::string_view line) {
        if (line.empty()) return flush();
        if (line.substr(0, 2) == "P:") name = line.substr(2);
        else if (line.substr(0, 2) == "V:") version = line.substr(2);
    });
    flush();
    return out;
}

PackageParser package_parser_for(std::string_view path) {
    if (path == "/var/lib/dpkg/status") return parse_dpkg_status;
    if (path == "/lib/apk/db/installed") return parse_apk_installed;
    return nullptr;
}

std::vector<PackageChange> diff_packages(const std::map<std::string, std::string>& image,
                                         const std::map<std::string, std::string>& now) {
    std::vector<PackageChange> out;
    for (const auto& [name, version] : now) {
        auto it = image.find(name);
        if (it == image.end()) out.push_back({name, "", version});
        else if (it->second != version) out.push_back({name, it->second, version});
    }
    for (const auto& [name, version] : image)
        if (!now.count(name)) out.push_back({name, version, ""});
    return out;
}

}  // namespace layerlock::watch
