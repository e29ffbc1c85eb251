// SPDX-License-Identifier: Apache-2.0
#include "baseline_builder.hpp"

#include <sys/stat.h>

#include <random>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/baseline/verify.hpp"
#include "layerlock/discovery/layers.hpp"

namespace layerlock::daemon {

namespace {
// Docker's per-container "<id>-init" layer (/etc/hosts and the like, empty
// placeholders): the engine's, never an image's, so never signed.
bool engine_layer(const std::string& dir) {
    constexpr std::string_view suffix = "-init/diff";
    return dir.size() > suffix.size() && dir.compare(dir.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void BaselineBuilder::start() {
    thread_ = std::thread([this] {
        (void)base::become_background_thread("ll-baseline");   // its import threads inherit it
        run();
    });
}

void BaselineBuilder::stop() {
    queue_.stop();
    if (thread_.joinable()) thread_.join();
}

void BaselineBuilder::enqueue(const std::vector<std::string>& layers) {
    std::lock_guard lock(mu_);   // queued_ and the queue change together
    for (const auto& l : layers)
        if (queued_.insert(l).second) queue_.push(l);
}

std::map<std::string, LayerReport> BaselineBuilder::reports() {
    std::lock_guard lock(mu_);
    return reports_;
}

void BaselineBuilder::run() {
    auto store = baseline::Store::open(opts_.database);
    if (!store) {
        log_(opts_.database, false, store.error().message());
        return;
    }
    using Clock = std::chrono::steady_clock;
    const bool periodic = opts_.verify != "off" && opts_.verify_interval.count() > 0;
    auto next_check = Clock::now() + opts_.verify_interval;
    for (;;) {
        bool stopped = false;
        auto layer = queue_.pop_until(periodic ? next_check : Clock::time_point::max(), &stopped);
        if (stopped) return;
        if (!layer) {   // the periodic check is due
            check_again(*store);
            next_check = Clock::now() + opts_.verify_interval;
            continue;
        }
        process(*store, *layer);
    }
}

void BaselineBuilder::process(baseline::Store& store, const std::string& layer) {
    const std::string content = discovery::layer_content_id(layer);
    if (store.layer_state(layer) == baseline::LayerState::Complete) {
        // Hashed on the host before signed records of its content were imported: take those.
        if (!content.empty()) {
            auto adopted = store.adopt_signed(layer, content);
            if (adopted && *adopted) log_(layer, true, "took the signed records of content=" + content);
        }
    } else {
        auto stats = store.import_layer(layer, opts_.threads, content);
        if (stats && stats->state == baseline::LayerState::Building) {
            // Another process (layerlock baseline build) holds it: look again later.
            if (queue_.sleep_for(std::chrono::milliseconds(500))) queue_.push(layer);
            return;
        }
        if (stats)
            log_(layer, true,
                 "files=" + std::to_string(stats->files) + " bytes=" + std::to_string(stats->bytes) +
                     " seconds=" + std::to_string(stats->seconds) +
                     (stats->copied_from.empty() ? std::string()
                                                 : " copied_from=\"" + base::escape(stats->copied_from) +
                                                       "\" (same layer content, not hashed)") +
                     (stats->signed_by.empty() ? std::string() : " signed_by=" + stats->signed_by));
        else
            log_(layer, false, stats.error().message());
    }
    LayerReport r;
    r.layer = layer;
    r.content = content;
    r.image_layer = !engine_layer(layer);
    auto p = store.provenance(layer);
    r.complete = p.known;
    r.signed_by = p.signed_by;
    r.tampered = p.tampered;
    // Checked once per daemon run when first used, then by the periodic check.
    if (!r.signed_by.empty() && opts_.verify != "off" && !verified_.contains(layer)) {
        verified_.insert(layer);
        r.tampered = verify(store, layer, content.empty() ? p.content : content, opts_.verify == "full");
        r.checked = true;
    }
    publish(r);
    forget(layer);
}

// Every signed layer still on disk, sampled (or in full) again.
void BaselineBuilder::check_again(baseline::Store& store) {
    for (auto& [layer, last] : reports()) {
        if (last.signed_by.empty()) continue;
        struct stat st{};
        if (::stat(layer.c_str(), &st) != 0) {   // its image was removed
            std::lock_guard lock(mu_);
            reports_.erase(layer);
            continue;
        }
        LayerReport r = last;
        r.tampered = verify(store, layer, last.content, opts_.verify == "full");
        r.checked = true;
        publish(r);
    }
}

std::string BaselineBuilder::verify(baseline::Store& store, const std::string& layer, const std::string& content,
                                    bool full) {
    baseline::RecordOrigin origin;
    auto records = content.empty() ? std::nullopt : store.content_records(content, &origin);
    if (!records || origin.signed_by.empty()) return {};
    baseline::VerifyOptions vo;
    vo.full = full;
    vo.sample = opts_.verify_sample;
    vo.seed = std::random_device{}();
    vo.threads = opts_.threads;
    auto r = baseline::verify_layer(layer, *records, vo);
    if (!r) {
        log_(layer, false, "check against the signed records: " + r.error().message());
        return {};
    }
    std::string tampered = r->differences.empty() ? std::string() : baseline::describe(r->differences);
    store.record_verification(layer, tampered);
    log_(layer, tampered.empty(),
         std::string(tampered.empty() ? "matches" : "DIFFERS FROM") + " the signed records of content=" + content +
             " (" + std::to_string(r->entries) + " entries, " + std::to_string(r->hashed) + " files hashed" +
             (full ? "" : ", sampled") + ")" + (tampered.empty() ? "" : ": " + base::escape(tampered)));
    return tampered;
}

void BaselineBuilder::publish(const LayerReport& r) {
    {
        std::lock_guard lock(mu_);
        reports_[r.layer] = r;
    }
    if (report_) report_(r);
}

void BaselineBuilder::forget(const std::string& layer) {
    std::lock_guard lock(mu_);
    queued_.erase(layer);
}

}  // namespace layerlock::daemon
