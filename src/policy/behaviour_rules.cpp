// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/behaviour_rules.hpp"

#include <fnmatch.h>

namespace layerlock::policy {
namespace {

std::string_view exe_name(std::string_view exe) {
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe.ends_with(kDeleted)) exe.remove_suffix(kDeleted.size());
    auto slash = exe.rfind('/');
    return slash == std::string_view::npos ? exe : exe.substr(slash + 1);
}

}  // namespace

bool matches_process(std::string_view comm, std::string_view exe, const std::vector<std::string>& globs) {
    const std::string c(comm), e(exe_name(exe));
    for (const auto& g : globs)
        if ((!c.empty() && ::fnmatch(g.c_str(), c.c_str(), 0) == 0) ||
            (!e.empty() && ::fnmatch(g.c_str(), e.c_str(), 0) == 0))
            return true;
    return false;
}

std::optional<BehaviourDrift> classify_process(const NewProcess& p, const BehaviourRules& r) {
    if (p.exe.starts_with("/memfd:")) return BehaviourDrift{BehaviourKind::Fileless, r.fileless, BehaviourReason::Memfd};
    if (p.exe.ends_with(" (deleted)")) return BehaviourDrift{BehaviourKind::Fileless, r.fileless, BehaviourReason::DeletedExecutable};
    if (matches_process(p.comm, p.exe, r.package_managers))
        return BehaviourDrift{BehaviourKind::Package, r.package, BehaviourReason::PackageManager};
    if (p.parent_in_container && matches_process(p.comm, p.exe, r.shells) &&
        !matches_process(p.parent_comm, p.parent_exe, r.shells))
        return BehaviourDrift{BehaviourKind::Shell, r.shell, BehaviourReason::ShellFromService};
    return std::nullopt;
}

bool behaviour_allowed(const BehaviourDrift& d, const NewProcess& p, const BehaviourRules& rules,
                       std::string_view image, std::string_view container) {
    if (d.kind == BehaviourKind::Fileless) return false;
    auto glob = [](const std::string& g, std::string_view s) { return g.empty() || ::fnmatch(g.c_str(), std::string(s).c_str(), 0) == 0; };
    for (const auto& a : rules.allow) {
        if (!a.kind.empty() && a.kind != name(d.kind)) continue;
        if (!glob(a.image, image) || !glob(a.container, container)) continue;
        if (!a.process.empty() && !matches_process(p.comm, p.exe, {a.process})) continue;
        if (!a.parent.empty() && !matches_process(p.parent_comm, p.parent_exe, {a.parent})) continue;
        return true;
    }
    return false;
}

}  // namespace layerlock::policy
