// SPDX-License-Identifier: Apache-2.0
// Image trust (baselines made before deploy): a container's layers against their
// signed records (tampered on the host?), the layers that have none while
// baseline.require_signed asks for them, and an image reference whose digest is
// not the one its baseline was made from (a mutable tag moved). Each is alerted as
// kind "image"; a tampered layer, or an unsigned one with unsigned = "on_error",
// makes the container's image untrusted in the gate (gate/exec_gate.hpp).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon_impl.hpp"
#include "log.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::daemon {

namespace {

// "docker.io/library/x" and "localhost/x" (Podman) name "x"; no tag is ":latest".
std::string normal_ref(std::string ref) {
    for (std::string_view p : {"docker.io/library/", "docker.io/", "localhost/"})
        if (ref.starts_with(p)) ref.erase(0, p.size());
    if (ref.find('@') == std::string::npos) {
        auto slash = ref.rfind('/');
        if (ref.find(':', slash == std::string::npos ? 0 : slash) == std::string::npos) ref += ":latest";
    }
    return ref;
}

model::DriftEvent image_event(const model::Container& c, model::Severity sev, std::string reason, std::string detail) {
    model::DriftEvent d;
    d.kind = "image";
    d.severity = sev;
    d.action = "alerted";
    d.reason = std::move(reason);
    d.location = "image";
    d.detail = std::move(detail);
    model::stamp(d, base::now_ns());
    model::describe_container(d, c);
    return d;
}

}  // namespace

void Daemon::on_layer_report(const LayerReport& r) {
    for (const auto& c : registry_.all()) {
        if (std::find(c->info.lowers.begin(), c->info.lowers.end(), r.layer) == c->info.lowers.end()) continue;
        {
            std::lock_guard lock(trust_mu_);
            if (!trust_[c->info.dev].named) continue;   // judged once its metadata is learned
        }
        judge_image_trust(*c);
    }
}

void Daemon::judge_image_trust(const gate::GatedContainer& c) {
    config::BaselineConfig b;
    {
        std::lock_guard lock(cfg_mu_);
        b = cfg_.baseline;
    }
    const auto reports = builder_->reports();
    std::vector<std::string> unsigned_layers;
    std::vector<std::pair<std::string, std::string>> tampered;   // (layer, what differs)
    bool all_known = true;
    for (const auto& l : c.info.lowers) {
        auto it = reports.find(l);
        if (it == reports.end()) {
            all_known = false;
            continue;
        }
        const auto& r = it->second;
        if (!r.tampered.empty()) tampered.emplace_back(l, r.tampered);
        if (r.image_layer && r.signed_by.empty()) unsigned_layers.push_back(r.content.empty() ? l : r.content);
    }
    bool untrust = false;
    std::vector<model::DriftEvent> out;
    {
        std::lock_guard lock(trust_mu_);
        auto& t = trust_[c.info.dev];
        for (const auto& [layer, what] : tampered) {
            if (!t.tamper_reported.insert(layer + '\n' + what).second) continue;   // alerted before, same difference
            out.push_back(image_event(c.info, model::Severity::Critical, "layer-tampered",
                                      "layer " + layer + " differs from its signed baseline: " + what));
            untrust = true;
        }
        if (b.require_signed && all_known && !unsigned_layers.empty() && !t.unsigned_reported) {
            t.unsigned_reported = true;
            std::string list;
            for (const auto& u : unsigned_layers) list += (list.empty() ? "" : ", ") + u;
            out.push_back(image_event(c.info, model::Severity::High, "unsigned-baseline",
                                      std::to_string(unsigned_layers.size()) + " of " +
                                          std::to_string(c.info.lowers.size()) +
                                          " layers have no signed baseline: " + list +
                                          (b.unsigned_policy == "on_error" ? " (image files not trusted)"
                                                                           : " (trusted from the host's hashing)")));
            untrust = untrust || b.unsigned_policy == "on_error";
        }
    }
    if (untrust && !c.image_untrusted.exchange(true)) {
        gate_->forget_verdicts();
        log::get(log::Category::Baseline).warn("container id={} name=\"{}\": image not trusted, its image files are judged as unknown "
                       "(gate.on_error)", c.info.id.substr(0, 12), base::escape(c.info.name));
    }
    for (auto& e : out) publish(std::move(e));
}

void Daemon::check_image_ref(const model::Container& info) {
    if (info.image.empty() || info.image_id.empty()) return;
    auto store = baseline::Store::open(database_);
    if (!store) return;
    const auto want = normal_ref(info.image);
    for (const auto& img : store->images()) {
        if (normal_ref(img.ref) != want || img.config_digest == info.image_id) continue;
        publish(image_event(info, model::Severity::High, "image-digest-changed",
                            "image " + img.ref + " is " + info.image_id + ", its baseline (" + img.origin +
                                (img.signed_by.empty() ? "" : ", signed by " + img.signed_by.substr(0, 16)) +
                                ") was made from " + img.config_digest));
        return;
    }
}

void Daemon::image_named(const gate::GatedContainer& c) {
    {
        std::lock_guard lock(trust_mu_);
        trust_[c.info.dev].named = true;
    }
    check_image_ref(c.info);
    judge_image_trust(c);
}

void Daemon::image_gone(dev_t dev) {
    std::lock_guard lock(trust_mu_);
    trust_.erase(dev);
}

}  // namespace layerlock::daemon
