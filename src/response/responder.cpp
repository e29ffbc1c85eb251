// SPDX-License-Identifier: Apache-2.0
#include "layerlock/response/responder.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <ctime>

#include "layerlock/base/clock.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/discovery/docker.hpp"
#include "layerlock/process/procfs.hpp"
#include "layerlock/process/sockets.hpp"
#include "layerlock/response/bundle.hpp"
#include "layerlock/response/freezer.hpp"
#include "layerlock/watch/reconcile.hpp"

namespace layerlock::response {
namespace {

namespace json = boost::json;
using base::Error;
using base::unexpected;

constexpr std::size_t kMaxQueued = 256;

bool glob(const std::string& pattern, const std::string& s) {
    return pattern.empty() || ::fnmatch(pattern.c_str(), s.c_str(), 0) == 0;
}

bool wants(const std::vector<std::string>& actions, const char* a) {
    return std::find(actions.begin(), actions.end(), a) != actions.end();
}

// The container's init, or any process of it: a process whose root is its overlay.
pid_t process_of(const model::Container& c) {
    if (c.pid > 0 && process::read_basic(c.pid).root_dev == c.dev) return c.pid;
    auto pids = process::processes_with_root(c.dev);
    return pids.empty() ? 0 : pids.front();
}

std::string utc_stamp() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string file_safe(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    return s.substr(0, 64);
}

json::array processes_json(const model::Container& c) {
    json::array out;
    for (pid_t pid : process::processes_with_root(c.dev)) {
        auto p = process::read_basic(pid);
        if (!p.ok) continue;
        process::read_details(p, true);
        out.push_back(json::object{{"pid", pid}, {"ppid", p.ppid}, {"comm", base::escape(p.comm)},
                                   {"exe", base::escape(p.exe)}, {"uid", p.uid},
                                   {"cmdline", base::escape(process::cmdline_text(p.cmdline))},
                                   {"environ", base::escape(process::cmdline_text(process::read_environ(pid)))}});
    }
    return out;
}

json::object network_json(pid_t pid) {
    json::array listening;
    auto diag = process::diag_socket_in("/proc/" + std::to_string(pid) + "/ns/net");
    if (!diag) return {{"error", diag.error().message()}};
    auto found = process::listeners(diag->get());
    if (!found) return {{"error", found.error().message()}};
    for (const auto& l : *found)
        listening.push_back(json::object{{"proto", l.proto}, {"addr", l.addr}, {"port", l.port}, {"inode", l.inode}});
    json::array connections;
    if (auto all = process::connections(diag->get()))
        for (const auto& s : *all)
            connections.push_back(json::object{{"proto", s.proto}, {"local", s.addr + ":" + std::to_string(s.port)},
                                               {"remote", s.remote}, {"state", s.state}});
    return {{"listening", std::move(listening)}, {"connections", std::move(connections)}};
}

json::array drift_json(const model::Container& c, const std::string& database) {
    json::array out;
    auto store = baseline::Store::open(database, baseline::Access::ReadOnly);
    base::UniqueFd upper(::open(c.upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!store || !upper || !store->all_complete(c.lowers)) return out;
    auto changes = watch::reconcile(upper.get(), [&](std::string_view p) { return store->lookup(c.lowers, p); });
    if (!changes) return out;
    for (const auto& ch : *changes)
        out.push_back(json::object{{"path", base::escape(ch.path)}, {"change", std::string(model::to_string(ch.change))},
                                   {"sha256", ch.sha256 ? model::to_hex(*ch.sha256) : ""}, {"detail", base::escape(ch.detail)}});
    return out;
}

}  // namespace

std::vector<std::string> actions_for(const std::vector<config::ResponseRule>& rules, const model::DriftEvent& ev,
                                     model::Mode mode) {
    if (ev.kind == "response") return {};   // never respond to a response
    for (const auto& r : rules) {
        if (!glob(r.kind, ev.kind) || ev.severity < r.min_severity) continue;
        if (!r.mode.empty() && r.mode != model::to_string(mode)) continue;
        if (!glob(r.image, ev.image) || !glob(r.container, ev.container_name)) continue;
        auto actions = r.actions;
        // Learn mode denies nothing: a block that does not name the mode keeps only
        // what disrupts nothing (the sample, the bundle) for a container learning.
        if (mode == model::Mode::Learn && r.mode.empty())
            std::erase_if(actions, [](const std::string& a) { return a == "kill" || a == "freeze" || a == "stop"; });
        return actions;
    }
    return {};
}

Responder::Responder(ResponderHooks hooks)
    : hooks_(std::move(hooks)), quarantine_(hooks_.state_dir + "/quarantine", hooks_.config().quarantine_max_bytes) {}

Responder::~Responder() { stop(); }

void Responder::start() {
    thread_ = std::thread([this] {
        (void)base::become_background_thread("ll-response");
        run();
    });
}

void Responder::stop() noexcept {
    queue_.stop();
    if (thread_.joinable()) thread_.join();
}

std::uint64_t Responder::dropped() const { return dropped_.load(std::memory_order_relaxed); }

base::Result<void> Responder::write(const model::DriftEvent& ev) {
    if (ev.kind == "response" || ev.container_id.empty()) return {};
    auto target = hooks_.container(ev.container_id);
    if (!target) return {};
    auto actions = actions_for(hooks_.config().rules, ev, target->mode);
    std::erase(actions, std::string("quarantine"));   // taken before the alert, from the event's fd
    if (actions.empty()) return {};
    if (!queue_.push({ev, std::move(actions), std::move(*target)}, kMaxQueued)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return base::unexpected(base::Error::plain("response queue full: actions not taken"));
    }
    return {};
}

std::optional<std::string> Responder::keep_sample(int fd, const model::DriftEvent& ev) {
    auto target = hooks_.container(ev.container_id);
    if (!target || !wants(actions_for(hooks_.config().rules, ev, target->mode), "quarantine")) return std::nullopt;
    auto kept = quarantine_.keep(fd, ev);
    Job job{ev, {}, *target};
    report(job, "quarantine", kept ? base::Result<std::string>("kept " + quarantine_.path_of(*kept))
                                   : base::Result<std::string>(unexpected(kept.error())));
    if (!kept) return std::nullopt;
    return *kept;
}

void Responder::run() {
    while (auto job = queue_.pop()) {
        // Kill and freeze first (fastest isolation), forensics while frozen, stop last.
        for (const char* a : {"kill", "freeze", "forensics", "stop"})
            if (wants(job->actions, a)) act(*job, a);
    }
}

void Responder::act(const Job& job, const std::string& action) {
    base::Result<std::string> outcome = unexpected(Error::plain("unknown action"));
    if (action == "kill") outcome = kill(job);
    else if (action == "freeze") outcome = freeze(job);
    else if (action == "stop") outcome = stop_container(job);
    else if (action == "forensics") outcome = forensics(job);
    report(job, action, outcome);
}

base::Result<std::string> Responder::kill(const Job& job) {
    const pid_t pid = job.ev.pid;
    if (pid <= 1) return unexpected(Error::plain("the alert names no process"));
    if (process::read_basic(pid).root_dev != job.target.info.dev)
        return unexpected(Error::plain("process " + std::to_string(pid) + " is gone (or no longer the container's)"));
    if (::kill(pid, SIGKILL) != 0) return unexpected(Error::from_errno("kill " + std::to_string(pid)));
    return "killed pid " + std::to_string(pid);
}

base::Result<std::string> Responder::freeze(const Job& job) {
    const pid_t pid = process_of(job.target.info);
    if (pid == 0) return unexpected(Error::plain("no process of the container"));
    auto control = freezer_of(pid);
    if (!control) return unexpected(control.error());
    if (auto r = set_frozen(*control, true); !r) return unexpected(r.error());
    {
        std::lock_guard lock(mu_);
        frozen_[job.target.info.id] = *control;
    }
    return "froze " + *control;
}

base::Result<void> Responder::thaw(const std::string& container_id) {
    std::string control;
    {
        std::lock_guard lock(mu_);
        auto it = frozen_.find(container_id);
        if (it != frozen_.end()) control = it->second;
    }
    if (control.empty()) {   // frozen by an earlier daemon, say: find its cgroup again
        auto target = hooks_.container(container_id);
        const pid_t pid = target ? process_of(target->info) : 0;
        auto found = pid ? freezer_of(pid) : base::Result<std::string>(unexpected(Error::plain("no process")));
        if (!found) return unexpected(Error::plain("container " + container_id + ": " + found.error().message()));
        control = *found;
    }
    if (auto r = set_frozen(control, false); !r) return r;
    std::lock_guard lock(mu_);
    frozen_.erase(container_id);
    return {};
}

base::Result<std::string> Responder::stop_container(const Job& job) {
    const auto& c = job.target.info;
    if (c.runtime == model::Runtime::Docker && c.metadata_known) {
        discovery::DockerClient docker(hooks_.docker_socket);
        if (auto r = docker.stop(c.id, 5); !r) return unexpected(r.error());
        return std::string("stopped through the Docker Engine API");
    }
    // Other engines: their init process is killed; the engine sees the container exit.
    const pid_t pid = process_of(c);
    if (pid == 0) return unexpected(Error::plain("no process of the container"));
    if (::kill(pid, SIGKILL) != 0) return unexpected(Error::from_errno("kill init " + std::to_string(pid)));
    return "killed the container's init (pid " + std::to_string(pid) + ")";
}

base::Result<std::string> Responder::forensics(const Job& job) {
    const auto& c = job.target.info;
    const std::string dir = hooks_.state_dir + "/forensics";
    ::mkdir(dir.c_str(), 0700);
    const std::string path = dir + "/" + utc_stamp() + "-" + file_safe(c.name.empty() ? c.id : c.name) + "-" +
                             file_safe(job.ev.kind) + ".tar";
    auto bundle = Bundle::create(path, hooks_.config().forensics_max_bytes);
    if (!bundle) return unexpected(bundle.error());
    bundle->add("alert.json", alert::to_json(job.ev) + "\n");
    bundle->add("processes.json", json::serialize(processes_json(c)) + "\n");
    if (pid_t pid = process_of(c)) bundle->add("network.json", json::serialize(network_json(pid)) + "\n");
    bundle->add("drift.json", json::serialize(drift_json(c, hooks_.database)) + "\n");
    if (!job.ev.sha256.empty()) {
        base::UniqueFd sample(::open(quarantine_.path_of(job.ev.sha256).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (sample) bundle->add_file("quarantine/" + job.ev.sha256, sample.get());
    }
    if (c.runtime == model::Runtime::Docker && c.metadata_known) {
        discovery::DockerClient docker(hooks_.docker_socket);
        if (auto body = docker.get("/containers/" + c.id + "/json")) bundle->add("inspect.json", *body);
    }
    if (auto r = bundle->finish(); !r) return unexpected(r.error());
    return "wrote " + path;
}

void Responder::report(const Job& job, const std::string& action, const base::Result<std::string>& outcome) {
    model::DriftEvent d;
    d.kind = "response";
    d.action = action;
    d.severity = job.ev.severity;
    d.reason = job.ev.kind + "/" + job.ev.reason;
    d.detail = outcome ? *outcome : "failed: " + outcome.error().message();
    d.path = job.ev.path;
    d.pid = job.ev.pid;
    d.comm = job.ev.comm;
    d.sha256 = job.ev.sha256;
    model::stamp(d, base::now_ns());
    model::describe_container(d, job.target.info);
    hooks_.publish(std::move(d));
}

}  // namespace layerlock::response
