// SPDX-License-Identifier: Apache-2.0
#include "layerlock/watch/file_drift.hpp"

namespace layerlock::watch {

policy::FileRules file_rules(const config::Config& cfg) {
    policy::FileRules r;
    r.quiet = cfg.file_drift.quiet;
    for (const auto& a : cfg.file_drift.allow) r.allow.push_back({a.path, a.image, a.container});
    for (const auto& a : cfg.gate.allow)
        if (!a.path.empty() && a.process.empty()) r.exec_allow.push_back({a.path, a.image, a.container, a.quiet});
    const auto& f = cfg.file_drift;
    r.severity = {f.binary, f.package, f.sensitive, f.setuid, f.config, f.file};
    return r;
}

policy::FileVerdict classify(const FileChange& ch, const model::Container& c, const policy::FileRules& rules) {
    policy::FileFacts f{ch.path, ch.change, ch.type == FileType::Directory, ch.executable,
                        ch.mode, ch.image_mode, c.name, c.image};
    return policy::classify_file(f, rules);
}

bool worth_alerting(const FileChange& ch) {
    return !(ch.type == FileType::Directory && ch.change == Change::Metadata && ch.detail.rfind("mode", 0) != 0);
}

model::DriftEvent file_event(const model::Container& c, const FileChange& ch, const policy::FileVerdict& v,
                             std::int64_t now_ns, model::Mode mode) {
    model::DriftEvent d;
    d.kind = std::string(policy::name(v.kind));
    d.severity = v.severity;
    d.action = mode == model::Mode::Learn && !v.quiet ? "learned" : "alerted";
    d.reason = std::string(policy::name(v.why));
    d.change = std::string(to_string(ch.change));
    d.detail = ch.detail;
    d.path = ch.path;
    d.quiet = v.quiet;
    d.location = "writable-layer";
    if (ch.sha256) d.sha256 = model::to_hex(*ch.sha256);
    model::describe_container(d, c);
    model::stamp(d, now_ns);
    return d;
}

namespace {

Finding judged(FileChange ch, int upper_fd, const model::Container& c, baseline::Store& store,
               const policy::FileRules& rules) {
    Finding f{std::move(ch), {}, {}};
    f.verdict = classify(f.change, c, rules);
    if (f.verdict.kind == policy::FileKind::Package) {
        auto image = store.lookup(c.lowers, f.change.path);
        f.packages = package_changes(upper_fd, f.change.path, image ? image->layer : std::string());
    }
    return f;
}

}  // namespace

base::Result<void> scan_drift(int upper_fd, const model::Container& c, baseline::Store& store,
                              const policy::FileRules& rules, const ScanLimits& limits,
                              const std::function<bool(Finding&&)>& each) {
    auto changes = reconcile(upper_fd, [&](std::string_view p) { return store.lookup(c.lowers, p); }, limits);
    if (!changes) return base::unexpected(changes.error());
    for (auto& ch : *changes)
        if (!each(judged(std::move(ch), upper_fd, c, store, rules))) break;
    return {};
}

std::optional<Finding> examine_drift(int upper_fd, const std::string& path, const model::Container& c,
                                     baseline::Store& store, const policy::FileRules& rules, const ScanLimits& limits) {
    auto ch = examine(upper_fd, path, [&](std::string_view p) { return store.lookup(c.lowers, p); }, limits);
    if (!ch) return std::nullopt;
    return judged(std::move(*ch), upper_fd, c, store, rules);
}

}  // namespace layerlock::watch
