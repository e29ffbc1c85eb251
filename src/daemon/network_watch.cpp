// SPDX-License-Identifier: Apache-2.0
#include "network_watch.hpp"

#include <fnmatch.h>
#include <sys/stat.h>

#include "layerlock/base/clock.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/process/procfs.hpp"

namespace layerlock::daemon {
namespace {

constexpr auto kPokeDelay = std::chrono::milliseconds(300);   // a new process has time to bind

std::uint64_t netns_of(pid_t pid) {
    struct stat st{};
    if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) != 0) return 0;
    return st.st_ino;
}

bool glob(const std::string& pattern, const std::string& s) {
    return pattern.empty() || ::fnmatch(pattern.c_str(), s.c_str(), 0) == 0;
}

// Listeners [[listen]] declares for this container ("tcp/8080").
std::set<std::string> declared(const config::NetworkConfig& cfg, const model::Container& c) {
    std::set<std::string> out;
    for (const auto& rule : cfg.listen)
        if (glob(rule.image, c.image) && glob(rule.container, c.name)) out.insert(rule.ports.begin(), rule.ports.end());
    return out;
}

// A process of the container: its init pid from the engine, else the first found.
pid_t process_of(const gate::GatedContainer& c) {
    if (c.info.pid > 0 && process::read_basic(c.info.pid).root_dev == c.info.dev) return c.info.pid;
    auto pids = process::processes_with_root(c.info.dev);
    return pids.empty() ? 0 : pids.front();
}

}  // namespace

void NetworkWatch::start() {
    thread_ = std::thread([this] {
        (void)base::become_background_thread("ll-net");
        run();
    });
}

void NetworkWatch::stop() noexcept {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void NetworkWatch::poke(dev_t dev) {
    {
        std::lock_guard lock(mu_);
        poked_.emplace(dev, Clock::now() + kPokeDelay);   // the first poke's time is kept: no starvation
    }
    cv_.notify_one();
}

void NetworkWatch::run() {
    if (auto s = baseline::EventStore::open(hooks_.database)) store_.emplace(std::move(*s));
    auto next_periodic = Clock::now();
    for (;;) {
        std::set<dev_t> due;
        bool periodic = false;
        {
            std::unique_lock lock(mu_);
            auto wake = next_periodic;
            for (const auto& [dev, at] : poked_) wake = std::min(wake, at);
            cv_.wait_until(lock, wake, [&] { return stopping_; });
            if (stopping_) return;
            const auto now = Clock::now();
            for (auto it = poked_.begin(); it != poked_.end();) {
                if (it->second <= now) {
                    due.insert(it->first);
                    it = poked_.erase(it);
                } else {
                    ++it;
                }
            }
            periodic = now >= next_periodic;
        }
        const auto cfg = hooks_.config();
        if (periodic) next_periodic = Clock::now() + std::chrono::seconds(cfg.check_interval_s);
        std::set<dev_t> alive;
        for (const auto& c : hooks_.containers()) {
            alive.insert(c->info.dev);
            if (!periodic && !due.count(c->info.dev)) continue;
            checks_.fetch_add(1, std::memory_order_relaxed);
            check(*c, states_[c->info.dev], cfg);
        }
        std::erase_if(states_, [&](const auto& kv) { return !alive.count(kv.first); });
    }
}

void NetworkWatch::check(const gate::GatedContainer& c, State& s, const config::NetworkConfig& cfg) {
    const pid_t pid = process_of(c);
    if (pid == 0) return;
    const auto ns = netns_of(pid);
    if (ns == 0) return;
    if (ns == netns_of(1)) {   // the host's network namespace (--network host)
        if (!std::exchange(s.host_network_reported, true)) alert_host_network(c);
        return;
    }
    if (!s.diag || s.netns != ns || s.id != c.info.id) {
        auto fd = process::diag_socket_in("/proc/" + std::to_string(pid) + "/ns/net");
        if (!fd) return;
        s = State{c.info.id, std::move(*fd), ns, {}, {}, false, false};
    }
    auto found = process::listeners(s.diag.get());
    if (!found || !store_) return;
    const auto now = base::now_us();
    const auto until = store_->learning_until(s.id, now + std::int64_t{cfg.learn_seconds} * 1'000'000);
    if (!s.learned_loaded) {
        for (auto& k : store_->learned_listeners(s.id)) s.learned.insert(std::move(k));
        s.learned_loaded = true;
    }
    const auto allowed = declared(cfg, c.info);
    for (const auto& l : *found) {
        const auto key = l.key();
        if (now < until) {
            if (s.learned.insert(key).second) store_->learn_listener(s.id, l.proto, l.port);
            continue;
        }
        if (s.learned.count(key) || allowed.count(key) || s.reported.count(key)) continue;
        s.reported.insert(key);
        if (store_->first_report(s.id, key, "listening", "")) alert_listener(c, l, cfg);
    }
}

void NetworkWatch::alert_host_network(const gate::GatedContainer& c) {
    model::DriftEvent d;
    d.kind = "network";
    d.severity = model::Severity::Low;
    d.action = "alerted";
    d.reason = "host-network";
    d.detail = "the container shares the host's network namespace; its listeners are not checked as its own";
    model::stamp(d, base::now_ns());
    model::describe_container(d, c.info);
    hooks_.publish(std::move(d));
}

void NetworkWatch::alert_listener(const gate::GatedContainer& c, const process::Listener& l,
                                  const config::NetworkConfig& cfg) {
    model::DriftEvent d;
    d.kind = "network";
    d.severity = cfg.severity;
    d.action = c.mode == model::Mode::Learn ? "learned" : "alerted";
    d.reason = "new-listener";
    d.path = l.key();
    d.detail = l.proto + " " + l.addr + ":" + std::to_string(l.port) + " not in the container's baseline";
    model::stamp(d, base::now_ns());
    if (pid_t owner = process::socket_owner(l.inode, process::processes_with_root(c.info.dev))) {
        auto p = process::read_basic(owner);
        process::read_details(p, true);
        d.pid = owner;
        d.comm = p.comm;
        d.exe = p.exe;
        d.cmdline = process::cmdline_text(p.cmdline);
        d.uid = p.uid;
        d.parent_comm = process::read_basic(p.ppid).comm;
    } else {
        d.unknown = "process";
    }
    model::describe_container(d, c.info);
    hooks_.publish(std::move(d));
}

}  // namespace layerlock::daemon
