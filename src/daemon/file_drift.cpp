// SPDX-License-Identifier: Apache-2.0
// File drift in the daemon: the reconcile scan of each container's writable layer
// when the container is discovered (and so at daemon start), once its image
// baseline is complete; each change is classified and published once (the event
// table remembers what was reported, across restarts). Runs on its own thread,
// never on the gate's.
#include <fcntl.h>

#include <spdlog/spdlog.h>

#include "daemon_impl.hpp"
#include "log.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/watch/file_drift.hpp"

namespace layerlock::daemon {

model::DriftEvent file_event(const gate::GatedContainer& c, const watch::FileChange& ch,
                             const policy::FileVerdict& v) {
    return watch::file_event(c.info, ch, v, base::now_ns(), c.mode);
}


// The gate keys its verdicts by the overlay's st_dev and the inode it reports,
// which for a file of the writable layer is the upper inode's number (the
// overlay's own inode numbers are those of the real inodes when the layers share
// a filesystem, as Docker's, containerd's and containers/storage's do). With any
// other numbering the look-up simply misses and the file is hashed.
watch::ScanLimits Daemon::drift_limits(dev_t dev) {
    watch::ScanLimits limits;
    limits.cancel = &stopping_;   // a stop does not wait for a scan of millions of files
    // Larger files are reported without a digest (and not read): file drift names
    // them by path and size; an exec of one is hashed by the gate all the same.
    limits.max_hash_bytes = 256ull << 20;
    if (gate_)
        limits.known_digest = [this, dev](const struct stat& upper_st) {
            auto key = policy::FileKey::of(upper_st);
            key.dev = dev;
            return gate_->cache().digest_of(key);
        };
    return limits;
}

void Daemon::reconcile_container(const gate::GatedContainer& c, baseline::Store& store,
                                 baseline::EventStore& events) {
    base::UniqueFd upper(::open(c.info.upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!upper) return;
    std::size_t changes = 0, fresh = 0;
    auto scanned = watch::scan_drift(upper.get(), c.info, store, current_file_rules(), drift_limits(c.info.dev),
                                     [&](watch::Finding&& f) {
                                         ++changes;
                                         if (stopping_) return false;   // the rest: the next start's reconcile
                                         if (!watch::worth_alerting(f.change)) return true;
                                         auto n = report_finding(c, f, events);
                                         if (!n) return false;
                                         fresh += *n;
                                         return true;
                                     });
    auto& log = log::get(log::Category::Drift);
    if (!scanned) {
        log.warn("reconcile id={}: {}", c.info.id.substr(0, 12), scanned.error().message());
        return;
    }
    log.info("reconcile id={} name=\"{}\": {} changes, {} not reported before", c.info.id.substr(0, 12),
              base::escape(c.info.name), changes, fresh);
}

// Publishes one change (and the packages it adds, removes or changes) unless the
// event table says it was reported before; `touched`: the inotify events it came
// from (live watch), folded into the event's count and naming a rename. Each is recorded as reported only once
// handed on: publish_wait waits for room in the alert queue rather than dropping
// (200,000 new files used to lose tens of thousands for good). nullopt: stopping.
std::optional<std::size_t> Daemon::report_finding(const gate::GatedContainer& c, const watch::Finding& f,
                                                  baseline::EventStore& events, const watch::TouchedPath* touched) {
    const auto& ch = f.change;
    std::string digest = ch.sha256 ? model::to_hex(*ch.sha256) : std::string();
    std::string change(model::to_string(ch.change));
    const bool renamed = touched && !touched->renamed_from.empty() && ch.change == watch::Change::Added;
    if (renamed) change = "renamed";
    auto& log = log::get(log::Category::Drift);
    if (!events.first_report(c.info.id, ch.path, change, digest)) {
        log.trace("id={} path=\"{}\" change={} kind={}: reported before", c.info.id.substr(0, 12),
                  base::escape(ch.path), change, policy::name(f.verdict.kind));
        return 0;
    }
    log.trace("id={} path=\"{}\" change={} kind={} severity={}", c.info.id.substr(0, 12), base::escape(ch.path),
              change, policy::name(f.verdict.kind), model::to_string(f.verdict.severity));
    auto ev = file_event(c, ch, f.verdict);
    ev.change = change;
    if (touched) ev.count = touched->events;
    if (renamed) ev.detail = "from " + touched->renamed_from;
    if (!alerts_->publish_wait(std::move(ev), &stopping_)) {
        events.forget_report(c.info.id, ch.path, change, digest);
        return std::nullopt;
    }
    std::size_t n = 1;
    for (const auto& p : f.packages) {
        if (!events.first_report(c.info.id, ch.path, "package:" + p.text(), "")) continue;
        auto d = file_event(c, ch, f.verdict);
        d.change = p.change();
        d.package = p.name + " " + (p.new_version.empty() ? p.old_version : p.new_version);
        d.detail = p.text();
        if (!alerts_->publish_wait(std::move(d), &stopping_)) {
            events.forget_report(c.info.id, ch.path, "package:" + p.text(), "");
            return std::nullopt;
        }
        ++n;
    }
    return n;
}

void Daemon::file_drift_loop() {
    auto store = baseline::Store::open(database_);
    auto events = baseline::EventStore::open(database_);
    if (!store || !events) return;
    while (auto dev = drift_queue_.pop()) {
        // The image baseline first: wait for the builder (at most 5 minutes).
        for (int i = 0; i < 1200; ++i) {
            auto c = registry_.find(*dev);
            if (!c) break;
            if (store->all_complete(c->info.lowers)) {
                reconcile_container(*c, *store, *events);
                break;
            }
            if (!drift_queue_.sleep_for(std::chrono::milliseconds(250))) return;
        }
    }
}

void Daemon::queue_reconcile(dev_t dev) { drift_queue_.push(dev); }

}  // namespace layerlock::daemon
