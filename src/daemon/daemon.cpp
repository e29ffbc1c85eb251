// SPDX-License-Identifier: Apache-2.0
// layerlockd's wiring. Start-up is a list of named steps; each failure stops the
// start with its step's name. Threads: the gate's reader and workers (see
// gate/exec_gate.hpp), discovery (waits on the mount table), metadata (asks the
// engines; slow, so never on discovery's path), baseline builder, alert delivery,
// and the main thread, which only waits for signals.
#include "layerlock/daemon/daemon.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>

#include "baseline_builder.hpp"
#include "layerlock/alert/alerts.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/discovery/containers.hpp"
#include "layerlock/discovery/mounts.hpp"
#include "layerlock/gate/exec_gate.hpp"
#include "daemon_impl.hpp"
#include "layerlock/process/procfs.hpp"
#include "layerlock/registry/registry.hpp"
#include "log.hpp"

namespace layerlock::daemon {

namespace {

// A background thread of the daemon (base/thread.hpp); says once why it could not
// lower its priority (a seccomp filter without setpriority, for one).
void background_thread(const char* name) {
    static std::atomic<bool> warned{false};
    if (!base::become_background_thread(name) && !warned.exchange(true))
        log::get(log::Category::Daemon).warn("background threads run at normal priority: setpriority: {}", std::strerror(errno));
}

gate::GateOptions gate_options(const config::Config& c) {
    gate::GateOptions o;
    o.on_error = c.gate.on_error;
    o.hash_timeout = c.gate.hash_timeout;
    o.workers = c.gate.workers;
    o.max_pending = c.gate.max_pending;
    o.cache_entries = c.gate.cache_entries;
    o.ignore_marks = c.gate.ignore_marks;
    o.ignore_marks_max = c.gate.ignore_marks_max;
    o.code_rules = {c.gate.interpreters, c.gate.script_extensions};
    o.allow = c.gate.allow;
    o.prohibit = c.gate.prohibit;
    o.binary = c.gate.binary;
    o.script = c.gate.script;
    o.library = c.gate.library;
    return o;
}

base::UniqueFd dup_fd(const base::UniqueFd& fd) {
    return base::UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
}

// Devices of the host's own filesystems: never marked, whatever the mount table says.
std::vector<dev_t> host_devices(const config::Config& c) {
    std::vector<dev_t> devs;
    std::vector<std::string> paths = {"/", "/usr", "/etc", "/var", "/run", "/proc/self/exe",
                                      std::filesystem::path(c.baseline.database).parent_path().string()};
    for (const auto& p : paths) {
        struct stat st{};
        if (::stat(p.c_str(), &st) == 0) devs.push_back(st.st_dev);
    }
    return devs;
}

}  // namespace

namespace {
// A sink that hands alerts to the responder it does not own (sinks are rebuilt on
// reload; the responder lives as long as the daemon).
class ForwardingSink final : public alert::Sink {
public:
    explicit ForwardingSink(alert::Sink& to) : to_(to) {}
    std::string_view name() const override { return "responses"; }
    base::Result<void> write(const model::DriftEvent& ev) override {
        if (ev.last_ns) return {};   // every occurrence, not the summaries of repeats
        return to_.write(ev);
    }
    bool sees_repeats() const override { return true; }

private:
    alert::Sink& to_;
};
}  // namespace

std::unique_ptr<alert::Sink> forwarding_sink(alert::Sink& to) { return std::make_unique<ForwardingSink>(to); }

void Daemon::publish(model::DriftEvent ev) {
    if (ev.uid >= 0 && ev.user.empty() && ev.pid > 0) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(users_mu_);
        auto& slot = users_[{ev.container_id, ev.uid}];
        if (slot.until <= now) {
            if (users_.size() > 4096) users_.clear();   // bounded; they are read again
            auto name = process::user_name(ev.pid, ev.uid);
            if (name.empty())   // the process is gone: the container's passwd through its init
                for (const auto& c : registry_.all())
                    if (c->info.id == ev.container_id && c->info.pid > 0) name = process::user_name(c->info.pid, ev.uid);
            auto& fresh = users_[{ev.container_id, ev.uid}];
            fresh = {std::move(name), now + std::chrono::minutes(1)};
            ev.user = fresh.name;
        } else {
            ev.user = slot.name;
        }
    }
    alerts_->publish(std::move(ev));
}

std::optional<response::Target> Daemon::response_target(const std::string& container_id) {
    for (const auto& c : registry_.all())
        if (c->info.id == container_id) return response::Target{c->info, c->mode};
    return std::nullopt;
}

// The process monitor and the network check (behaviour drift): both optional, both
// report why when they cannot run, neither stops the start.
void Daemon::step_behaviour() {
    config::BehaviourConfig b;
    config::NetworkConfig n;
    {
        std::lock_guard lock(cfg_mu_);
        b = cfg_.behaviour;
        n = cfg_.network;
    }
    if (n.enabled) {
        NetworkWatch::Hooks hooks;
        hooks.containers = [this] { return registry_.all(); };
        hooks.config = [this] {
            std::lock_guard lock(cfg_mu_);
            return cfg_.network;
        };
        hooks.publish = [this](model::DriftEvent ev) { publish(std::move(ev)); };
        hooks.database = database_;
        network_watch_ = std::make_unique<NetworkWatch>(std::move(hooks));
        network_watch_->start();
    }
    if (!b.enabled) return;
    process::MonitorHooks hooks;
    hooks.container = [this](dev_t dev) -> std::optional<process::ContainerView> {
        auto c = registry_.find(dev);
        if (!c) return std::nullopt;
        return process::ContainerView{c->info, c->mode};
    };
    hooks.containers = [this] {
        std::vector<dev_t> devs;
        for (const auto& c : registry_.all()) devs.push_back(c->info.dev);
        return devs;
    };
    hooks.rules = [this] {
        std::lock_guard lock(cfg_mu_);
        const auto& bc = cfg_.behaviour;
        return policy::BehaviourRules{bc.shells, bc.package_managers, bc.fileless, bc.shell, bc.package, bc.allow};
    };
    hooks.publish = [this](model::DriftEvent ev) { publish(std::move(ev)); };
    hooks.new_process = [this](dev_t dev) {
        if (network_watch_) network_watch_->poke(dev);
    };
    hooks.sample = [this](int fd, const model::DriftEvent& ev) { return responder_->keep_sample(fd, ev); };
    process_monitor_ = std::make_unique<process::ProcessMonitor>(std::move(hooks));
    if (auto r = process_monitor_->start(b.realtime); !r) {
        log::get(log::Category::Behaviour).error("process monitor: {} (fileless, shell and package manager drift are not detected)",
                        r.error().message());
        process_monitor_.reset();
    }
}

base::Result<void> Daemon::step_lock() {
    auto lock_dir = std::filesystem::path(cfg_.daemon.lock_file).parent_path();
    if (!std::filesystem::exists(lock_dir)) {
        std::filesystem::create_directories(lock_dir);
        ::chmod(lock_dir.c_str(), 0700);   // private, like systemd's RuntimeDirectoryMode=0700
    }
    lock_fd_.reset(::open(cfg_.daemon.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock_fd_) return base::unexpected(base::Error::from_errno("open " + cfg_.daemon.lock_file));
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        auto holder = base::read_file("/proc/self/fd/" + std::to_string(lock_fd_.get()), 64);
        return base::unexpected(base::Error::plain(
            "another layerlockd is already running (lock " + cfg_.daemon.lock_file + " is held" +
            (holder && !holder->empty() ? " by pid " + holder->substr(0, holder->find('\n')) : std::string()) + ")"));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    [[maybe_unused]] int r = ::ftruncate(lock_fd_.get(), 0);
    [[maybe_unused]] auto n = ::pwrite(lock_fd_.get(), pid.data(), pid.size(), 0);
    return {};
}

base::Result<void> Daemon::step_group() {
    // Every pending event holds an fd: raise the soft limit to the hard one.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    auto g = gate::FanotifyGroup::open();
    if (!g) return base::unexpected(g.error());
    group_.emplace(std::move(*g));
    gate::release_group_on_crash(group_->fd());
    return {};
}

// The sinks the configuration asks for; an error (the JSON-lines file cannot be
// opened) fails the whole set, so a reload that cannot apply it is refused.
base::Result<std::vector<std::unique_ptr<alert::Sink>>> Daemon::make_sinks(const config::Config& c) {
    std::vector<std::unique_ptr<alert::Sink>> sinks;
    if (c.alerts.journald) sinks.push_back(alert::journald_sink());
    bool tty = ::isatty(STDERR_FILENO) == 1;
    if (c.alerts.stderr_output == "always" || (c.alerts.stderr_output == "auto" && tty))
        sinks.push_back(alert::stderr_sink());
    sinks.push_back(alert::event_store_sink(database_, c.events));
    if (responder_) sinks.push_back(forwarding_sink(*responder_));
    if (!c.alerts.json_path.empty()) {
        auto s = alert::json_lines_sink(c.alerts.json_path, c.alerts.format == "falco" ? alert::JsonFormat::Falco
                                                                                        : alert::JsonFormat::Layerlock);
        if (!s) return base::unexpected(base::Error::plain("alerts.json_path: " + s.error().message()));
        sinks.push_back(std::move(*s));
    }
    return sinks;
}

base::Result<void> Daemon::step_alerts() {
    alerts_ = std::make_unique<alert::AlertQueue>(cfg_.alerts.queue_size, std::chrono::seconds(cfg_.alerts.dedup_window_s));
    // Response actions: matched on the alert thread, taken on their own.
    response::ResponderHooks hooks;
    hooks.container = [this](const std::string& id) { return response_target(id); };
    hooks.config = [this] {
        std::lock_guard lock(cfg_mu_);
        return cfg_.response;
    };
    hooks.publish = [this](model::DriftEvent ev) { publish(std::move(ev)); };
    hooks.state_dir = std::filesystem::path(database_).parent_path().string();
    hooks.docker_socket = cfg_.discovery.docker_socket;
    hooks.database = database_;
    responder_ = std::make_unique<response::Responder>(std::move(hooks));
    responder_->start();
    auto sinks = make_sinks(cfg_);
    if (!sinks) {   // the other sinks still deliver; the operator is told once
        log::get(log::Category::Alerts).error("alerts: {}", sinks.error().message());
        auto fallback = cfg_;
        fallback.alerts.json_path.clear();
        sinks = make_sinks(fallback);
    }
    if (sinks)
        for (auto& sink : *sinks) alerts_->add_sink(std::move(sink));
    alerts_->set_failure_reporter([](std::string_view sink, const base::Error& why, bool failing) {
        if (failing)
            log::get(log::Category::Alerts).error("alert sink {} failing: {} (alerts it cannot write are lost to it; counted in "
                            "alert_sink_failures)", sink, why.message());
        else
            log::get(log::Category::Alerts).warn("alert sink {} writes again", sink);
    });
    alerts_->start();
    return {};
}

void Daemon::tick() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_watchdog_ < std::chrono::seconds(1)) return;
    last_watchdog_ = now;
    sd_notify(0, "WATCHDOG=1");
}

void Daemon::add_container(const discovery::OverlayMount& m, model::Runtime rt, pid_t via,
                           std::map<std::uint64_t, dev_t>& into) {
    auto info = discovery::from_mount(m, rt);
    // A mount of another namespace is reached through a process of it: the walk
    // continues from /proc/<pid>/root in that process's mount tree.
    std::string path = via ? "/proc/" + std::to_string(via) + "/root" + m.mount_point : m.mount_point;
    // fanotify_mark refuses O_PATH fds: a plain directory fd (opening a directory asks no permission).
    auto root = base::UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!root) return;   // already gone
    auto dev = gate::check_markable(root.get(), host_devs_.data(), host_devs_.size());
    if (!dev) {
        note_unmarkable(m.mount_id, m.mount_point, dev.error());
        return;
    }
    unmarkable_.erase(m.mount_id);
    info.dev = *dev;
    auto gc = std::make_shared<gate::GatedContainer>();
    for (const auto& l : info.lowers) gc->lower_fds.push_back(base::UniqueFd(::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)));
    gc->upper_fd.reset(::open(info.upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    gc->mode = mode_of(info);
    gc->code_gate = code_gate_of(info);
    gc->mark_path = path;
    gc->info = info;
    registry_.put(gc);   // registered before marking: the first event finds it
    if (auto r = group_->mark_filesystem(root.get(), gc->code_gate != model::CodeGate::Off); !r) {
        registry_.remove(info.dev);
        log::get(log::Category::Gate).error("mark mount=\"{}\": {}", base::escape(m.mount_point), r.error().message());
        return;
    }
    into[m.mount_id] = info.dev;
    log::get(log::Category::Gate).info("gating container runtime={} overlay={} mount=\"{}\" layers={}{}", model::to_string(rt), info.id,
                   base::escape(m.mount_point), info.lowers.size(),
                   via ? " (in the mount namespace of pid " + std::to_string(via) + ")" : std::string());
    builder_->enqueue(info.lowers);
    metadata_queue_.push(info.dev);
}

// A container overlay listed in the mount table whose mount point is not (or no
// longer, or not yet) an overlay when opened: engines mount and unmount while a
// container starts, so this is debug while it lasts less than kSettle (it is tried
// again every kRetry meanwhile), and a warning, once, if it lasts. A host
// filesystem is a refusal that lasts: warned at once.
void Daemon::note_unmarkable(std::uint64_t mount_id, const std::string& mount_point, const base::Error& why) {
    auto now = std::chrono::steady_clock::now();
    auto [it, fresh] = unmarkable_.try_emplace(mount_id, Unmarkable{now, now, false});
    it->second.last = now;
    const bool lasting = why.code == std::errc::operation_not_permitted || now - it->second.first >= kSettle;
    if (!lasting) {
        log::get(log::Category::Gate).debug("not marking mount=\"{}\" yet: {} (trying again)", base::escape(mount_point), why.message());
    } else if (!it->second.warned) {
        log::get(log::Category::Gate).warn("not marking mount=\"{}\": {}", base::escape(mount_point), why.message());
        it->second.warned = true;
    }
}

// Entries not noted again for a while are mounts that went away or were marked.
// Returns how long discovery may sleep before trying the settling ones again.
std::chrono::milliseconds Daemon::prune_unmarkable() {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(unmarkable_, [&](const auto& kv) { return now - kv.second.last > 2 * kSettle; });
    for (const auto& [id, u] : unmarkable_)
        if (!u.warned) return kRetry;
    return std::chrono::milliseconds::max();
}

void Daemon::remove_container(std::uint64_t mount_id, std::map<std::uint64_t, dev_t>& from) {
    auto it = from.find(mount_id);
    if (it == from.end()) return;
    unwatch_container(it->second);
    container_mounts_->forget(it->second);
    image_gone(it->second);
    if (auto c = registry_.remove(it->second)) {
        gate_->forget_container(it->second);
        log::get(log::Category::Gate).info("released container id={} name=\"{}\"", c->info.id, base::escape(c->info.name));
    }
    from.erase(it);
}

void Daemon::sync_mounts(const std::string& table) {
    std::set<std::uint64_t> present;
    std::string docker_root;
    {
        std::lock_guard lock(cfg_mu_);
        docker_root = cfg_.discovery.docker_root;
    }
    for (const auto& m : discovery::parse_mountinfo(table)) {
        auto rt = discovery::classify(m, docker_root);
        if (rt == model::Runtime::Unknown) continue;
        present.insert(m.mount_id);
        // The same superblock may already be gated through another namespace's copy.
        if (!mounts_.count(m.mount_id) && !registry_.find(m.dev)) add_container(m, rt, 0, mounts_);
    }
    std::vector<std::uint64_t> gone;
    for (const auto& [id, dev] : mounts_)
        if (!present.count(id)) gone.push_back(id);
    for (auto id : gone) remove_container(id, mounts_);
    log::get(log::Category::Discovery).debug("mount table: {} container overlays, {} gone, {} gated", present.size(),
                                             gone.size(), mounts_.size());
}

// Overlays of engines whose mounts are not in the host's table. A namespace's
// table is read through its lowest pid; only overlays that classify() accepts
// count, so a container's own namespace (its root overlay mounted at "/") adds
// nothing. Namespaces that hold such a mount are kept watched (POLLPRI).
void Daemon::sync_other_namespaces() {
    std::set<std::uint64_t> present;
    std::map<ino_t, discovery::MountWatcher> holding;
    std::string docker_root;
    {
        std::lock_guard lock(cfg_mu_);
        docker_root = cfg_.discovery.docker_root;
    }
    for (const auto& ns : namespaces_.list(own_namespace_)) {
        auto watcher = discovery::MountWatcher::open(ns.pid);
        if (!watcher) continue;  // exited meanwhile
        auto table = watcher->read();
        if (!table) continue;
        bool holds = false;
        for (const auto& m : discovery::parse_mountinfo(*table)) {
            auto rt = discovery::classify(m, docker_root);
            if (rt == model::Runtime::Unknown || mounts_.count(m.mount_id)) continue;
            present.insert(m.mount_id);
            holds = true;
            if (!other_mounts_.count(m.mount_id) && !registry_.find(m.dev))
                add_container(m, rt, ns.pid, other_mounts_);
        }
        if (!holds) continue;
        auto known = namespace_watch_.find(ns.ns);
        holding.emplace(ns.ns, known != namespace_watch_.end() ? std::move(known->second) : std::move(*watcher));
    }
    namespace_watch_ = std::move(holding);
    std::vector<std::uint64_t> gone;
    for (const auto& [id, dev] : other_mounts_)
        if (!present.count(id)) gone.push_back(id);
    for (auto id : gone) remove_container(id, other_mounts_);
}

void Daemon::discovery_loop() {
    auto watcher = discovery::MountWatcher::open();
    if (!watcher) {
        // run() waits for the first sync: it stops instead of waiting for ever.
        log::get(log::Category::Discovery).critical("discovery: {}", watcher.error().message());
        discovery_failed_ = true;
        return;
    }
    using Clock = std::chrono::steady_clock;
    Clock::time_point next_scan{};
    bool host_changed = true, other_changed = false;
    for (bool first = true; !stopping_; first = false) {
        std::uint32_t scan_ms;
        {
            std::lock_guard lock(cfg_mu_);
            scan_ms = cfg_.discovery.namespace_scan_ms;
        }
        if (host_changed)
            if (auto table = watcher->read()) sync_mounts(*table);
        if (scan_ms > 0 && (first || other_changed || Clock::now() >= next_scan)) {
            std::size_t before = other_mounts_.size();
            sync_other_namespaces();
            next_scan = Clock::now() + std::chrono::milliseconds(scan_ms);
            // A release there may uncover the host's own mount of the same superblock
            // (skipped while the other copy was gated): look at the host's table again.
            if (other_mounts_.size() < before)
                if (auto table = watcher->read()) sync_mounts(*table);
        }
        if (first) initial_sync_done_ = true;
        const auto retry = prune_unmarkable();
        std::vector<pollfd> fds = {{watcher->fd(), POLLPRI, 0}, {stop_fd_.get(), POLLIN, 0}};
        for (const auto& [ns, w] : namespace_watch_) fds.push_back({w.fd(), POLLPRI, 0});
        int timeout = -1;
        if (scan_ms > 0)
            timeout = static_cast<int>(std::max<std::int64_t>(
                0, std::chrono::duration_cast<std::chrono::milliseconds>(next_scan - Clock::now()).count() + 1));
        if (retry != std::chrono::milliseconds::max())
            timeout = timeout < 0 ? static_cast<int>(retry.count()) : std::min(timeout, static_cast<int>(retry.count()));
        int ready = ::poll(fds.data(), fds.size(), timeout);
        if (ready < 0 && errno != EINTR) break;
        if (fds[1].revents) break;
        // A scan timeout alone leaves the host's table unread, unless a mount is settling.
        host_changed = fds[0].revents != 0 || retry != std::chrono::milliseconds::max();
        other_changed = false;
        // A namespace's table changed (poll reports it as POLLPRI|POLLERR and consumes
        // it): look again at once. The fd holds the namespace, not its process, and is
        // dropped by the next scan once no process is left in it.
        for (std::size_t i = 2; i < fds.size(); ++i)
            if (fds[i].revents) other_changed = true;
    }
}

void Daemon::republish(const gate::GatedContainer& old, const model::Container& info) {
    auto gc = std::make_shared<gate::GatedContainer>();
    gc->info = info;
    for (const auto& fd : old.lower_fds) gc->lower_fds.push_back(dup_fd(fd));
    gc->upper_fd = dup_fd(old.upper_fd);
    gc->mode = mode_of(info);
    gc->code_gate = code_gate_of(info);
    gc->mark_path = old.mark_path;
    gc->image_untrusted.store(old.image_untrusted.load());
    if (!registry_.find(info.dev)) return;
    const bool gate_changed = gc->code_gate != old.code_gate;
    registry_.put(gc);
    if (gate_changed) apply_code_gate(*gc);
}

// The filesystem mark asks for opens exactly while the code gate is not off; the
// container's mount marks follow (ContainerMounts::refresh).
void Daemon::apply_code_gate(const gate::GatedContainer& c) {
    const bool opens = c.code_gate != model::CodeGate::Off;
    base::UniqueFd root(::open(c.mark_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!root || !gate::check_markable(root.get(), host_devs_.data(), host_devs_.size()) ||
        !group_->set_filesystem_opens(root.get(), opens))
        log::get(log::Category::Gate).warn("code gate of overlay={}: could not turn opens {} on its mark", c.info.id, opens ? "on" : "off");
    container_mounts_->refresh(c.info.dev);
    log::get(log::Category::Gate).info("code gate of container id={} name=\"{}\": {}", c.info.id.substr(0, 12), base::escape(c.info.name),
                   model::to_string(c.code_gate));
}

namespace {
// Metadata of a container just mounted is often not there yet (dockerd answers
// inspect once the start completes; containerd and Podman write their files
// after mounting): asked again after each of these delays, quietly (debug); only a
// container still unnamed after the last is a warning.
constexpr std::chrono::milliseconds kMetadataRetries[] = {
    std::chrono::milliseconds(100), std::chrono::milliseconds(250), std::chrono::milliseconds(500),
    std::chrono::milliseconds(1000), std::chrono::milliseconds(2000), std::chrono::milliseconds(4000)};
constexpr std::size_t kMetadataAttempts = std::size(kMetadataRetries) + 1;
}  // namespace

// True when the container is named now, or is gone (nothing left to learn).
bool Daemon::learn_metadata(dev_t dev, std::size_t attempt) {
    auto c = registry_.find(dev);
    if (!c) return true;
    auto info = c->info;
    // The file watch, then the reconcile scan (which reports whatever happened
    // before it), start once the container is named, or unnamed after the last
    // attempt: the event table keys what was reported by the engine's container
    // id, so a scan before the name would report every change twice.
    if (!metadata_->enrich(info)) {
        if (attempt + 1 == kMetadataAttempts) {
            watch_container(dev);
            container_mounts_->track(dev, 0);   // a process of it is looked for
        }
        if (attempt + 1 < kMetadataAttempts)
            log::get(log::Category::Discovery).debug("metadata of overlay={} not available yet (attempt {} of {})", info.id, attempt + 1,
                            kMetadataAttempts);
        else
            log::get(log::Category::Discovery).warn("metadata unavailable for overlay={} after {} attempts over {} s (engine not answering); "
                           "gated with unknown name", info.id, kMetadataAttempts, 8);
        return false;
    }
    republish(*c, info);
    watch_container(dev);
    container_mounts_->track(dev, info.pid);
    if (auto named = registry_.find(dev)) image_named(*named);
    log::get(log::Category::Discovery).info("container id={} name=\"{}\" image=\"{}\" pid={} mode={}", info.id.substr(0, 12),
                   base::escape(info.name), base::escape(info.image), info.pid,
                   model::to_string(registry_.find(dev) ? registry_.find(dev)->mode : model::Mode::Monitor));
    return true;
}

void Daemon::metadata_loop() {
    using Clock = std::chrono::steady_clock;
    struct Retry {
        Clock::time_point due;
        dev_t dev;
        std::size_t attempt;
    };
    std::vector<Retry> retries;
    auto later = [&](dev_t dev, std::size_t attempt) {
        if (attempt < kMetadataAttempts) retries.push_back({Clock::now() + kMetadataRetries[attempt - 1], dev, attempt});
    };
    for (;;) {
        auto due = Clock::time_point::max();
        for (const auto& r : retries) due = std::min(due, r.due);
        bool stopped = false;
        auto next = metadata_queue_.pop_until(due, &stopped);
        if (stopped) return;
        if (next && !learn_metadata(*next, 0)) later(*next, 1);
        std::vector<Retry> now_due;
        auto now = Clock::now();
        std::erase_if(retries, [&](const Retry& r) { return r.due <= now && (now_due.push_back(r), true); });
        for (const auto& r : now_due)
            if (!learn_metadata(r.dev, r.attempt)) later(r.dev, r.attempt + 1);
    }
}

model::CodeGate Daemon::code_gate_of(const model::Container& info) {
    std::lock_guard lock(cfg_mu_);
    return config::code_gate_for(cfg_, info.name, info.image);
}

model::Mode Daemon::mode_of(const model::Container& info) {
    std::lock_guard lock(cfg_mu_);
    if (auto it = live_modes_.find(info.id); it != live_modes_.end()) return it->second;
    return config::mode_for(cfg_, info.name, info.image);
}

// Applies every key of the file, or nothing: keys that need a restart, and a new
// alert sink that cannot be opened, refuse the reload and the running
// configuration stays whole.
base::Result<void> Daemon::reload() {
    auto refuse = [](std::string why) {
        log::get(log::Category::Daemon).error("reload refused, keeping the running configuration: {}", why);
        return base::unexpected(base::Error::plain(std::move(why)));
    };
    auto fresh = config::load(cfg_.source);
    if (!fresh) return refuse(fresh.error().message());
    if (!log_level_override_.empty()) fresh->daemon.log_level = log_level_override_;
    std::vector<std::string> restart;
    {
        std::lock_guard lock(cfg_mu_);
        restart = config::keys_needing_restart(cfg_, *fresh);
    }
    if (!restart.empty()) {
        std::string keys;
        for (const auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
        return refuse("changing " + keys + " needs a restart (systemctl restart layerlock)");
    }
    auto sinks = make_sinks(*fresh);
    if (!sinks) return refuse(sinks.error().message());
    alerts_->replace_sinks(std::move(*sinks));
    alerts_->set_dedup_window(std::chrono::seconds(fresh->alerts.dedup_window_s));
    log::set_level(spdlog::level::from_str(fresh->daemon.log_level));
    {
        std::lock_guard lock(cfg_mu_);
        cfg_ = std::move(*fresh);
    }
    gate_->set_options(gate_options(cfg_));
    for (const auto& c : registry_.all()) republish(*c, c->info);
    log::get(log::Category::Daemon).info("configuration reloaded from {}", cfg_.source);
    return {};
}

int Daemon::wait_for_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    base::UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!sfd) {   // the stop signals are blocked: without it nothing could stop the daemon but SIGKILL
        log::get(log::Category::Daemon).critical("signalfd: {}: stopping", std::strerror(errno));
        return 1;
    }
    struct stat db{};
    const bool have_db = ::stat(database_.c_str(), &db) == 0;
    for (;;) {
        // Every 2 s: is the baseline database still the file opened at start? Deleted
        // or replaced, the daemon would go on with records nobody can query and
        // recreate an empty file (every container "building", all drift reported
        // again): it stops with a failure instead, and systemd's restart rebuilds.
        pollfd p{sfd.get(), POLLIN, 0};
        if (::poll(&p, 1, 2000) == 0) {
            struct stat now{};
            if (have_db && (::stat(database_.c_str(), &now) != 0 || now.st_ino != db.st_ino || now.st_dev != db.st_dev)) {
                log::get(log::Category::Baseline).critical("baseline database {} was deleted or replaced while running: stopping so that a "
                                   "restart rebuilds it (its baselines and file-drift history are gone)",
                                   base::escape(database_));
                return 3;
            }
            continue;
        }
        signalfd_siginfo si{};
        if (::read(sfd.get(), &si, sizeof si) != sizeof si) continue;
        if (si.ssi_signo == SIGHUP) {
            sd_notify(0, "RELOADING=1");
            (void)reload();   // logged inside; the running configuration stays on error
            sd_notify(0, "READY=1");
            continue;
        }
        log::get(log::Category::Daemon).info("signal {}: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        return 0;
    }
}

// The start-up: named steps in order, the first that fails ends it ("start: <step>:
// why") before any container is marked; then, after the first discovery, serve()
// until a stop signal, and shut_down(), the mirror of the steps.
int Daemon::run() {
    prepare_process();
    using Step = base::Result<void> (Daemon::*)();
    static constexpr std::pair<const char*, Step> kSteps[] = {
        {"lock", &Daemon::step_lock},
        {"control socket", &Daemon::step_socket_is_ours},
        {"fanotify", &Daemon::step_group},
        {"baseline database", &Daemon::step_database},
        {"alerts", &Daemon::step_alerts},
        {"gate", &Daemon::step_gate},
        {"threads", &Daemon::step_threads},
    };
    for (const auto& [what, step] : kSteps)
        if (auto r = (this->*step)(); !r) {
            log::get(log::Category::Daemon).critical("start: {}: {}", what, r.error().message());
            return 1;
        }
    while (!initial_sync_done_ && !discovery_failed_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int status = discovery_failed_ ? 1 : serve();
    shut_down();
    return status;
}

// Signals go to the signalfd: blocked before any thread starts.
void Daemon::prepare_process() {
    log::set_level(spdlog::level::from_str(cfg_.daemon.log_level));
    database_ = cfg_.baseline.database;
    started_ns_ = base::now_ns();
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

// The lock file is ours, but a daemon with another lock file may answer on the
// same control socket: two daemons must not share (and delete) one socket.
base::Result<void> Daemon::step_socket_is_ours() {
    if (control::control_socket_answers(cfg_.daemon.control_socket))
        return base::unexpected(base::Error::plain("another process answers on the control socket " +
                                                   cfg_.daemon.control_socket +
                                                   " (a layerlockd with another lock file?); refusing to start"));
    return {};
}

base::Result<void> Daemon::step_database() {
    std::filesystem::create_directories(std::filesystem::path(database_).parent_path());
    if (auto s = baseline::Store::open(database_); !s) {
        // A damaged file (truncated, overwritten, not a database) is set aside and a
        // new one made: the layers are hashed again, the old events stay readable in
        // the file set aside. Anything else (permissions, a full disk) stops here.
        if (!baseline::damaged(database_)) return base::unexpected(s.error());
        auto aside = baseline::set_aside(database_);
        if (!aside)
            return base::unexpected(base::Error::plain(database_ + " is damaged (" + s.error().message() + "); " +
                                                       aside.error().message()));
        log::get(log::Category::Baseline).error("start: baseline database {} is damaged ({}): kept as {}, starting with a new one "
                        "(image layers are hashed again; earlier events are in the file kept)",
                        database_, s.error().message(), *aside);
        if (auto again = baseline::Store::open(database_); !again) return base::unexpected(again.error());
    }
    host_devs_ = host_devices(cfg_);
    return {};
}

base::Result<void> Daemon::step_gate() {
    gate_ = std::make_unique<gate::ExecGate>(*group_, *this, gate_options(cfg_));
    return gate_->start();   // nothing is marked yet: no exec waits on it
}

// The baseline builder, the watchers of container mounts, and the discovery,
// metadata, reconcile and live file-drift threads.
base::Result<void> Daemon::step_threads() {
    BuilderOptions bo;
    bo.database = database_;
    bo.threads = cfg_.baseline.threads;
    bo.verify = cfg_.baseline.verify;
    bo.verify_interval = std::chrono::seconds(cfg_.baseline.verify_interval_s);
    bo.verify_sample = cfg_.baseline.verify_sample;
    builder_ = std::make_unique<BaselineBuilder>(
        std::move(bo),
        [](const std::string& layer, bool ok, const std::string& detail) {
            if (ok) log::get(log::Category::Baseline).info("baseline layer=\"{}\" {}", base::escape(layer), detail);
            else log::get(log::Category::Baseline).error("baseline layer=\"{}\": {}", base::escape(layer), detail);
        },
        [this](const LayerReport& r) { on_layer_report(r); });
    builder_->start();
    metadata_ = std::make_unique<discovery::Metadata>(cfg_.discovery);
    container_mounts_ = std::make_unique<ContainerMounts>(*group_, registry_, [](bool warning, const std::string& line) {
        if (warning) log::get(log::Category::Gate).warn("{}", line);
        else log::get(log::Category::Gate).info("{}", line);
    });
    container_mounts_->start();
    discovery_thread_ = std::thread([this] {
        base::name_this_thread("ll-discovery");   // normal priority: new containers are gated at once
        discovery_loop();
    });
    metadata_thread_ = std::thread([this] {
        background_thread("ll-metadata");
        metadata_loop();
    });
    drift_thread_ = std::thread([this] {
        background_thread("ll-reconcile");
        file_drift_loop();
    });
    watch_cfg_ = cfg_.watch;
    // Opened here so that READY=1 implies the live watcher exists.
    watch_thread_ = std::thread([this, w = watch::UpperWatcher::open(watch_cfg_.max_watches_per_container)]() mutable {
        background_thread("ll-file-drift");
        watch_loop(std::move(w));
    });
    return {};
}

// After the first discovery: behaviour, control socket, metrics, READY=1, then
// the signals until a stop.
int Daemon::serve() {
    step_behaviour();
    if (process_monitor_) {
        process_monitor_->request_scan();   // processes that started before the daemon
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (auto why = process_monitor_->realtime_refused(); !why.empty() && cfg_.behaviour.realtime)
            log::get(log::Category::Behaviour).warn("process monitor runs at normal priority ({}): a fileless payload gets further before it "
                           "is killed", why);
    }
    if (auto r = control_.start(cfg_.daemon.control_socket, [this](const std::string& q) { return handle_control(q); }); !r)
        log::get(log::Category::Control).error("control socket: {} (layerlock status/reload/mode unavailable)", r.error().message());
    metrics_thread_ = std::thread([this] {
        background_thread("ll-metrics");
        metrics_loop();
    });
    log::get(log::Category::Daemon).info("layerlockd {} ready: mode={} containers={} on_error={}", LAYERLOCK_VERSION,
                   model::to_string(cfg_.mode), registry_.all().size(), model::to_string(cfg_.gate.on_error));
    sd_notify(0, "READY=1");

    return wait_for_signals();
}

void Daemon::shut_down() {
    sd_notify(0, "STOPPING=1");
    stopping_ = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    metadata_queue_.stop();
    {
        std::lock_guard lock(metrics_mu_);   // (stopping_ is set: the wait ends)
    }
    metrics_cv_.notify_all();
    if (metrics_thread_.joinable()) metrics_thread_.join();
    control_.stop();
    drift_queue_.stop();
    discovery_thread_.join();
    metadata_thread_.join();
    drift_thread_.join();
    watch_thread_.join();
    container_mounts_->stop();
    if (process_monitor_) process_monitor_->stop();
    if (network_watch_) network_watch_->stop();
    gate_->stop();   // marks removed, pending events answered
    const auto& k = gate_->counters();
    log::get(log::Category::Daemon).info("stopped: events={} allowed={} denied={} fallback={} timeouts={} overload={} "
                   "cache_hits={} (warm {}) cache_misses={} image_inode_fast_path={} drift_unhashed={} hashed={} alerts_dropped={}",
                   k.events.load(), k.allowed_total(), k.denied.load(), k.fallback.load(), k.timeouts.load(),
                   k.overload.load(), gate_->cache().hits() + k.warm_hits.load(), k.warm_hits.load(),
                   gate_->cache().misses(), k.image_inode_fast_path.load(),
                   k.drift_unhashed.load(), k.hashed.load(), alerts_->dropped());
    builder_->stop();
    alerts_->stop();
    responder_->stop();
}

int run(config::Config cfg, const std::string& log_level_override) {
    if (!log_level_override.empty()) cfg.daemon.log_level = log_level_override;
    Daemon d(std::move(cfg), log_level_override);
    return d.run();
}

}  // namespace layerlock::daemon
