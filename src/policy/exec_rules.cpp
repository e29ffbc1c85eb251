// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/exec_rules.hpp"

#include <fnmatch.h>

#include <cctype>

namespace layerlock::policy {
namespace {

bool glob(const std::string& pattern, std::string_view s) {
    return ::fnmatch(pattern.c_str(), std::string(s).c_str(), 0) == 0;
}

bool narrows(const std::string& image, const std::string& container, const Subject& s) {
    return (image.empty() || glob(image, s.image)) && (container.empty() || glob(container, s.container));
}

}  // namespace

const config::ExecAllow* allowed_drift(const std::vector<config::ExecAllow>& rules, const Subject& s) {
    for (const auto& r : rules) {
        if (!narrows(r.image, r.container, s)) continue;
        if (!r.path.empty() && !glob(r.path, s.path)) continue;
        if (!r.process.empty()) {
            bool any = false;
            for (auto name : s.process) any = any || (!name.empty() && glob(r.process, name));
            if (!any) continue;
        }
        return &r;
    }
    return nullptr;
}

Verdict allow_drift(const Verdict& v, const config::ExecAllow& rule) {
    Classification c = v.what;
    c.drift = false;
    c.alert = !rule.quiet;
    c.severity = model::Severity::Low;
    return {model::Action::Allow, c, Outcome::Allowed};
}

bool prohibited(const std::vector<config::Prohibit>& rules, const Subject& s, std::string_view sha256) {
    for (const auto& r : rules) {
        if (!narrows(r.image, r.container, s)) continue;
        if (!r.path.empty() && glob(r.path, s.path)) return true;
        if (!r.sha256.empty() && !sha256.empty() && r.sha256.size() == sha256.size()) {
            bool same = true;
            for (std::size_t i = 0; i < sha256.size() && same; ++i)
                same = std::tolower(static_cast<unsigned char>(r.sha256[i])) == sha256[i];
            if (same) return true;
        }
    }
    return false;
}

}  // namespace layerlock::policy
