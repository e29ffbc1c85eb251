// SPDX-License-Identifier: Apache-2.0
// Live file drift in the daemon: one thread drives the inotify watcher over every
// container's writable layer, folds raw events per path over a 500 ms window,
// then judges each touched path against the image (watch::examine), classifies
// it and publishes it once per content (the event table remembers). Overflow and
// containers past the watch cap get reconcile scans instead (periodic for the
// latter, and reported). Never on the gate's path.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon_impl.hpp"
#include "log.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/watch/watcher.hpp"

namespace layerlock::daemon {
namespace {
constexpr auto kWindow = std::chrono::milliseconds(500);
}

void Daemon::watch_container(dev_t dev) {
    {
        std::lock_guard lock(watch_mu_);
        watch_commands_.push_back({dev, true});
    }
    wake_watch_thread();
}

void Daemon::unwatch_container(dev_t dev) {
    {
        std::lock_guard lock(watch_mu_);
        watch_commands_.push_back({dev, false});
    }
    wake_watch_thread();
}

void Daemon::wake_watch_thread() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(watch_wake_.get(), &one, sizeof one);
}

// Applies add/remove requests from the discovery side (the watcher is not thread-safe).
void Daemon::apply_watch_commands(watch::UpperWatcher& w) {
    std::vector<std::pair<dev_t, bool>> cmds;
    {
        std::lock_guard lock(watch_mu_);
        cmds.swap(watch_commands_);
    }
    for (const auto& [dev, add] : cmds) {
        std::string key = std::to_string(dev);
        if (!add) {
            w.remove(key);
            degraded_.erase(dev);
            continue;
        }
        if (auto c = registry_.find(dev)) w.add(key, c->info.upper);
        // The live watch is in place before the reconcile scan starts, so a change
        // is seen by one or the other (or both: the event table reports it once).
        queue_reconcile(dev);
    }
}

void Daemon::judge_touched(const watch::TouchedPath& t, baseline::Store& store, baseline::EventStore& events) {
    dev_t dev = static_cast<dev_t>(std::stoull(t.container));
    auto c = registry_.find(dev);
    if (!c || !store.all_complete(c->info.lowers)) {   // no baseline yet: the reconcile scan covers it
        if (c) queue_reconcile(dev);
        return;
    }
    base::UniqueFd upper(::open(c->info.upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!upper) return;
    // A file that keeps changing (a log, a download, a file grown on purpose) is
    // hashed at most once per kRehashAfter: changes in between are reported once,
    // without a digest, instead of one full hash and one alert per write. (The exec
    // gate hashes what is executed, whatever this says.)
    const auto now = std::chrono::steady_clock::now();
    auto limits = drift_limits(dev);
    auto& last = recently_hashed_[{dev, t.path}];
    const bool rehash = last == std::chrono::steady_clock::time_point{} || now - last >= kRehashAfter;
    if (!rehash) limits.max_hash_bytes = 0;
    if (recently_hashed_.size() > 65536) recently_hashed_.clear();   // bounded; at worst a file is hashed again
    auto f = watch::examine_drift(upper.get(), t.path, c->info, store, current_file_rules(), limits);
    if (f && f->change.sha256 && rehash) recently_hashed_[{dev, t.path}] = now;
    if (!f || !watch::worth_alerting(f->change)) return;
    report_finding(*c, *f, events, &t);
}

void Daemon::handle_batch(watch::WatchBatch batch, baseline::Store& store, baseline::EventStore& events) {
    for (const auto& key : batch.degraded) {
        dev_t dev = static_cast<dev_t>(std::stoull(key));
        auto c = registry_.find(dev);
        if (!c) continue;   // removed meanwhile: no periodic reconcile for it
        degraded_.insert(dev);
        log::get(log::Category::Drift).warn("container id={} name=\"{}\": more than {} directories to watch; "
                                        "falling back to a reconcile scan every {} s", c->info.id.substr(0, 12),
                                        base::escape(c->info.name), watch_cfg_.max_watches_per_container,
                                        watch_cfg_.reconcile_interval_s);
        model::DriftEvent d = file_event(*c, watch::FileChange{}, {policy::FileKind::File, model::Severity::Medium,
                                                                   false, policy::FileReason::WatchLimit});
        d.change = "";
        d.detail = "watch limit reached: periodic reconcile every " + std::to_string(watch_cfg_.reconcile_interval_s) + " s";
        alerts_->publish(std::move(d));
    }
    if (batch.overflow)
        log::get(log::Category::Drift).warn("inotify queue overflow: reconciling {} container(s)", batch.reconcile.size());
    for (const auto& key : batch.reconcile) queue_reconcile(static_cast<dev_t>(std::stoull(key)));
    for (const auto& t : batch.touched) judge_touched(t, store, events);
}

void Daemon::watch_loop(base::Result<watch::UpperWatcher> w) {
    auto store = baseline::Store::open(database_);
    auto events = baseline::EventStore::open(database_);
    if (!w || !store || !events) {
        log::get(log::Category::Drift).error("live file drift unavailable: {}",
                                         !w ? w.error().message() : "baseline database");
        return;
    }
    // Asleep until there is something to do: an inotify event, a container to watch
    // or forget, the end of an open window, the periodic reconcile of a container past
    // the watch cap, or stop. An idle host never wakes this thread (it used to poll
    // every window, and each wake-up lands on a CPU where the gate's reader may be
    // answering an exec).
    using Clock = std::chrono::steady_clock;
    const auto interval = std::chrono::seconds(watch_cfg_.reconcile_interval_s);
    constexpr auto closed = Clock::time_point::max();
    auto flush_at = closed;   // an open window: what it gathered goes out then
    auto next_periodic = Clock::now() + interval;
    while (!stopping_) {
        auto now = Clock::now();
        auto wake_at = flush_at;
        if (!degraded_.empty()) wake_at = std::min(wake_at, next_periodic);
        if (!watch_wake_ || !stop_fd_) wake_at = std::min(wake_at, now + kWindow);   // no eventfd (EMFILE at start)
        int timeout = wake_at == closed ? -1
                                        : static_cast<int>(std::max<std::int64_t>(
                                              0, std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count()));
        pollfd p[3] = {{w->fd(), POLLIN, 0}, {watch_wake_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        if (::poll(p, 3, timeout) < 0 && errno != EINTR) {
            log::get(log::Category::Drift).error("live file drift stopped: poll: {}", std::strerror(errno));
            break;
        }
        if (p[2].revents) break;
        if (p[1].revents) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(watch_wake_.get(), &n, sizeof n);
        }
        apply_watch_commands(*w);
        w->read_events();
        now = Clock::now();
        if (flush_at == closed && w->has_pending()) flush_at = now + kWindow;
        if (now >= flush_at) {
            handle_batch(w->take(), *store, *events);
            flush_at = closed;
        }
        if (degraded_.empty()) {
            next_periodic = now + interval;   // the first periodic scan: about an interval after the cap is reached
        } else if (now >= next_periodic) {
            for (dev_t dev : degraded_) queue_reconcile(dev);
            next_periodic = now + interval;
        }
    }
}

}  // namespace layerlock::daemon
