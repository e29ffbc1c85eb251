// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/file_rules.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace layerlock::policy {
namespace {

using model::Severity;

bool starts(std::string_view p, std::string_view prefix) { return p.substr(0, prefix.size()) == prefix; }

bool glob(std::string_view pattern, std::string_view path) {
    return ::fnmatch(std::string(pattern).c_str(), std::string(path).c_str(), 0) == 0;
}

bool package_path(std::string_view p) {
    return p == "/var/lib/dpkg/status" || starts(p, "/var/lib/dpkg/info/") || p == "/lib/apk/db/installed" ||
           starts(p, "/var/lib/rpm/") || glob("*/site-packages/*.dist-info*", p) ||
           glob("*/dist-packages/*.dist-info*", p) || glob("*/site-packages/*.egg-info*", p) ||
           glob("*/dist-packages/*.egg-info*", p) || glob("*/node_modules/*/package.json", p);
}

bool sensitive_path(std::string_view p) {
    return p == "/etc/passwd" || p == "/etc/shadow" || p == "/etc/group" || p == "/etc/gshadow" ||
           starts(p, "/etc/sudoers") || p == "/etc/ld.so.preload" || starts(p, "/etc/cron") ||
           starts(p, "/root/.ssh/") || p == "/root/.ssh" || glob("*/authorized_keys", p) ||
           glob("*/authorized_keys2", p);
}

bool privilege_bit_added(const FileFacts& f) {
    constexpr std::uint32_t kBits = 06000;   // setuid | setgid
    return f.change != model::Change::Deleted && (f.mode & kBits & ~f.image_mode) != 0;
}

bool matches(const std::string& pattern, const FileFacts& f) {
    return glob(pattern, f.path) || (f.directory && glob(pattern, std::string(f.path) + "/"));
}

bool expected(const FileFacts& f, const FileRules& rules) {
    for (const auto& q : rules.quiet)
        if (matches(q, f)) return true;
    for (const auto& a : rules.allow)
        if (matches(a.path, f) && (a.image.empty() || glob(a.image, f.image)) &&
            (a.container.empty() || glob(a.container, f.container)))
            return true;
    return false;
}

}  // namespace

FileVerdict classify_file(const FileFacts& f, const FileRules& rules) {
    const std::string_view p = f.path;
    const bool content = f.change == model::Change::Added || f.change == model::Change::Modified;
    const bool new_executable = content && f.executable && !f.directory;
    // Expected changes (quiet globs, [[allow]] rules) are stored but never alerted;
    // a new or changed executable or setuid bit is never expected.
    if (!new_executable && !privilege_bit_added(f) && expected(f, rules))
        return {FileKind::File, Severity::Info, true, FileReason::ExpectedChange};
    if (new_executable && !privilege_bit_added(f))
        for (const auto& a : rules.exec_allow)
            if (glob(a.path, p) && (a.image.empty() || glob(a.image, f.image)) &&
                (a.container.empty() || glob(a.container, f.container)))
                return {FileKind::Binary, a.quiet ? Severity::Info : Severity::Low, a.quiet, FileReason::AllowedExecutable};
    const auto& sev = rules.severity;
    if (package_path(p)) return {FileKind::Package, sev.package, false, FileReason::PackageDatabase};
    if (sensitive_path(p)) return {FileKind::Config, sev.sensitive, false, FileReason::SensitiveFile};
    if (privilege_bit_added(f)) {
        if (new_executable) return {FileKind::Binary, std::max(sev.binary, sev.setuid), false, FileReason::SetuidExecutable};
        return {FileKind::Config, sev.setuid, false, FileReason::SetuidBitAdded};
    }
    if (starts(p, "/etc/")) return {FileKind::Config, sev.config, false, FileReason::Configuration};
    if (new_executable) return {FileKind::Binary, sev.binary, false, FileReason::Executable};
    if (f.directory && f.change == model::Change::Metadata) return {FileKind::File, Severity::Info, false, FileReason::Directory};
    return {FileKind::File, sev.file, false, FileReason::File};
}

}  // namespace layerlock::policy
