// SPDX-License-Identifier: Apache-2.0
// Which packages changed: parsers for the package databases an image carries
// (dpkg's /var/lib/dpkg/status, apk's /lib/apk/db/installed) and the difference
// between the image's copy and the container's. Pure text in, changes out: the
// caller reads both files (bounded) through fds beneath the layer directories.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace layerlock::watch {

struct PackageChange {
    std::string name;
    std::string old_version;   // empty: added
    std::string new_version;   // empty: removed
    std::string change() const { return old_version.empty() ? "added" : new_version.empty() ? "removed" : "changed"; }
    std::string text() const;  // "curl 7.88.1-10 (added)", "libc6 2.36-9 -> 2.36-9+deb12u4 (changed)"
};

// name -> version of the installed packages.
std::map<std::string, std::string> parse_dpkg_status(std::string_view text);
std::map<std::string, std::string> parse_apk_installed(std::string_view text);

// The database format for a path inside the container, or nullptr if none.
using PackageParser = std::map<std::string, std::string> (*)(std::string_view);
PackageParser package_parser_for(std::string_view path);

std::vector<PackageChange> diff_packages(const std::map<std::string, std::string>& image,
                                         const std::map<std::string, std::string>& now);

}  // namespace layerlock::watch
