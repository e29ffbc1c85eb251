// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/change_rules.hpp"

namespace layerlock::policy {

FileRules file_rules(const config::Config& cfg) {
    FileRules r;
    r.quiet = cfg.file_drift.quiet;
    for (const auto& a : cfg.file_drift.allow) r.allow.push_back({a.path, a.image, a.container});
    for (const auto& a : cfg.gate.allow)
        if (!a.path.empty() && a.process.empty()) r.exec_allow.push_back({a.path, a.image, a.container, a.quiet});
    const auto& f = cfg.file_drift;
    r.severity = {f.binary, f.package, f.sensitive, f.setuid, f.config, f.file};
    return r;
}

FileVerdict classify_change(const watch::FileChange& ch, const model::Container& c,
                                    const FileRules& rules) {
    FileFacts f{ch.path, watch::to_string(ch.change), ch.type == 'd', ch.executable,
                        ch.mode, ch.image_mode, c.name, c.image};
    return classify_file(f, rules);
}

}  // namespace layerlock::policy
