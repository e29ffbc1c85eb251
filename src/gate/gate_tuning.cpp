// SPDX-License-Identifier: Apache-2.0
// The operator's tuning of exec and code drift, applied where the gate decides:
// [[exec_allow]] turns a drift verdict into an allowed one (alerted low, or not at
// all) and [[prohibit]] makes an image file drift. Both are asked only when rules
// exist: without them the gate does exactly what it did before.
#include "gate_impl.hpp"
#include "layerlock/policy/exec_rules.hpp"

namespace layerlock::gate {
namespace {

std::string_view file_name(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

void ExecGate::Impl::apply_exec_allow(policy::Verdict& v, const GatedContainer& c, const std::string& path, pid_t pid,
                                      std::optional<ProcessNames>& names, const GateOptions& o) {
    if (o.allow.empty() || !v.what.drift || v.what.reason == policy::Reason::Prohibited) return;
    policy::Subject s{path, {}, c.info.name, c.info.image};
    const bool by_process =
        std::any_of(o.allow.begin(), o.allow.end(), [](const auto& r) { return !r.process.empty(); });
    if (by_process) {
        // The process that runs the file (the caller of execve, still the program
        // that calls it) or loads it, and its parent.
        if (!names) names = caller_names(pid);
        add_parent_name(*names, pid);
        s.process = {names->comm, names->exe, file_name(names->exe), names->parent_comm};
    }
    if (const auto* rule = policy::allowed_drift(o.allow, s)) {
        v = policy::allow_drift(v, *rule);
        counters.allowlisted.fetch_add(1, std::memory_order_relaxed);
    }
}

bool ExecGate::Impl::prohibited(const GatedContainer& c, const std::string& path,
                                const std::optional<model::Sha256>& digest, const GateOptions& o) {
    if (o.prohibit.empty()) return false;
    policy::Subject s{path, {}, c.info.name, c.info.image};
    std::string hex;
    const bool by_digest =
        std::any_of(o.prohibit.begin(), o.prohibit.end(), [](const auto& r) { return !r.sha256.empty(); });
    if (by_digest) {
        auto d = digest;
        if (!d) d = gate.env_.image_file(c, path).digest;   // the baseline's digest of the image's file
        if (d) hex = model::to_hex(*d);
    }
    if (!policy::prohibited(o.prohibit, s, hex)) return false;
    counters.prohibited.fetch_add(1, std::memory_order_relaxed);
    return true;
}

model::Severity ExecGate::Impl::severity_of(policy::CodeKind kind, const GateOptions& o) {
    if (kind == policy::CodeKind::Script) return o.script;
    if (kind == policy::CodeKind::Library) return o.library;
    return o.binary;
}

}  // namespace layerlock::gate
