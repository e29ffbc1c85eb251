// SPDX-License-Identifier: Apache-2.0
// File drift in the daemon: the reconcile scan of each container's writable layer
// when the container is discovered (and so at daemon start), once its image
// baseline is complete; each change is classified and published once (the event
// table remembers what was reported, across restarts). Also the alert sink that
// stores every drift event in the event table. Runs on its own thread, never on
// the gate's.
#include <fcntl.h>

#include <spdlog/spdlog.h>

#include "daemon_impl.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/watch/packages.hpp"
#include "layerlock/watch/reconcile.hpp"

namespace layerlock::daemon {
namespace {

class EventStoreSink final : public alert::Sink {
public:
    EventStoreSink(std::string database, config::EventConfig limits)
        : database_(std::move(database)), limits_(limits) {}
    void write(const model::DriftEvent& ev) override {
        if (!store_) {
            auto s = baseline::EventStore::open(database_);
            if (!s) return;
            store_.emplace(std::move(*s));
        }
        (void)(ev.last_ns ? store_->add_summary(ev) : store_->append(ev));
        if (++appended_ % 1000 == 1)
            (void)store_->prune(std::chrono::hours(24) * limits_.max_age_days, limits_.max_rows);
    }

private:
    std::string database_;
    config::EventConfig limits_;
    std::optional<baseline::EventStore> store_;
    std::uint64_t appended_ = 0;
};

}  // namespace

model::DriftEvent file_event(const gate::GatedContainer& c, const watch::FileChange& ch,
                             const policy::FileVerdict& v) {
    return policy::file_event(c.info, ch, v, base::now_ns(), c.mode);
}

std::unique_ptr<alert::Sink> event_store_sink(const std::string& database, const config::EventConfig& limits) {
    return std::make_unique<EventStoreSink>(database, limits);
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
    auto changes = watch::reconcile(upper.get(), [&](std::string_view p) { return store.lookup(c.info.lowers, p); },
                                    drift_limits(c.info.dev));
    auto log = spdlog::get("layerlockd");
    if (!changes) {
        log->warn("reconcile id={}: {}", c.info.id.substr(0, 12), changes.error().message());
        return;
    }
    std::size_t fresh = 0;
    const auto rules = current_file_rules();
    for (const auto& ch : *changes) {
        if (stopping_) return;   // the rest is reported by the next start's reconcile
        auto v = policy::classify_change(ch, c.info, rules);
        if (ch.type == 'd' && ch.change == watch::Change::Metadata && ch.detail.rfind("mode", 0) != 0) continue;
        std::string digest = ch.sha256 ? model::to_hex(*ch.sha256) : std::string();
        const std::string change(watch::to_string(ch.change));
        if (!events.first_report(c.info.id, ch.path, change, digest)) continue;
        // Recorded as reported only once handed on: waits for room in the alert queue
        // rather than dropping (200,000 new files used to lose tens of thousands for good).
        if (!alerts_->publish_wait(file_event(c, ch, v), &stopping_)) {
            events.forget_report(c.info.id, ch.path, change, digest);
            return;
        }
        ++fresh;
        if (v.kind == "package") fresh += report_packages(c, ch, v, upper.get(), store, events);
    }
    log->info("reconcile id={} name=\"{}\": {} changes, {} not reported before", c.info.id.substr(0, 12),
              base::escape(c.info.name), changes->size(), fresh);
}

// One event per package added, removed or changed, compared with the image's copy.
std::size_t Daemon::report_packages(const gate::GatedContainer& c, const watch::FileChange& ch,
                                    const policy::FileVerdict& v, int upper_fd, baseline::Store& store,
                                    baseline::EventStore& events) {
    auto image = store.lookup(c.info.lowers, ch.path);
    std::size_t n = 0;
    for (const auto& p : watch::package_changes(upper_fd, ch.path, image ? image->layer : std::string())) {
        if (!events.first_report(c.info.id, ch.path, "package:" + p.text(), "")) continue;
        auto d = file_event(c, ch, v);
        d.change = p.change();
        d.package = p.name + " " + (p.new_version.empty() ? p.old_version : p.new_version);
        d.detail = p.text();
        if (!alerts_->publish_wait(std::move(d), &stopping_)) {
            events.forget_report(c.info.id, ch.path, "package:" + p.text(), "");
            break;
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
