// SPDX-License-Identifier: Apache-2.0
// The control socket's verbs, as the daemon answers them:
//   {"verb":"status"}                                   mode, uptime, containers, counters
//   {"verb":"reload"}                                   same as SIGHUP, but says what failed
//   {"verb":"mode","container":"NAME|ID","mode":"monitor|enforce|clear"}
// A live mode set here outranks the configuration and survives reloads until
// cleared. Every answer is {"ok":true,...} or {"ok":false,"error":"..."}.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "daemon_impl.hpp"
#include "log.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::daemon {
namespace json = boost::json;

namespace {

// `code`: "refused" (exit 1 in the CLI) or "not-found" (exit 2: nothing of that name).
std::string error_reply(const std::string& why, const char* code = "refused") { return control::control_error_reply(why, code); }

json::object counters_json(const gate::GateCounters& k, const policy::VerdictCache& cache,
                           const alert::AlertQueue& alerts) {
    // A warm hit (the reader's own table) is a cache hit the shared cache never saw.
    auto hits = cache.hits() + k.warm_hits.load(), misses = cache.misses();
    return json::object{
        {"events", k.events.load()}, {"allowed", k.allowed_total()}, {"denied", k.denied.load()},
        {"fallback", k.fallback.load()}, {"timeouts", k.timeouts.load()}, {"overload", k.overload.load()},
        {"unknown_container", k.unknown_container.load()}, {"queue_overflows", k.queue_overflows.load()},
        {"answer_failures", k.answer_failures.load()},
        {"image_inode_fast_path", k.image_inode_fast_path.load()}, {"drift_unhashed", k.drift_unhashed.load()},
        {"compared", k.compared.load()}, {"changed_while_judged", k.changed_while_judged.load()},
        {"opens", k.opens.load()}, {"open_data", k.open_data.load()}, {"code_opens", k.code_opens.load()},
        {"open_access_late", k.open_access_late.load()}, {"open_access_unknown", k.open_access_unknown.load()},
        {"mount_events", k.mount_events.load()},
        {"hashed", k.hashed.load()},
        {"hashed_bytes", k.hashed_bytes.load()}, {"ignore_marks", k.ignore_marks.load()},
        {"cache_hits", hits}, {"cache_warm_hits", k.warm_hits.load()}, {"cache_misses", misses},
        {"cache_hit_rate", hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0},
        {"cache_entries", cache.size()},
        {"alerts_delivered", alerts.delivered()}, {"alerts_dropped", alerts.dropped()},
        {"alert_sink_failures", alerts.sink_failures()}};
}

}  // namespace

json::object Daemon::behaviour_json() {
    json::object out{{"process_monitor", process_monitor_ != nullptr}, {"network_watch", network_watch_ != nullptr}};
    if (process_monitor_) {
        const auto& k = process_monitor_->counters();
        out["process_events"] = k.events.load();
        out["container_execs"] = k.container_execs.load();
        out["process_events_lost"] = k.lost.load();
        out["process_rescans"] = k.rescans.load();
        out["behaviour_alerts"] = k.alerts.load();
        out["fileless_killed"] = k.killed.load();
        out["realtime"] = process_monitor_->realtime();
    }
    if (network_watch_) out["network_checks"] = network_watch_->checks();
    out["responses_dropped"] = responder_ ? responder_->dropped() : 0;
    return out;
}

std::string Daemon::status_json() {
    // The control thread's own baseline connection (WAL: never blocks the builder).
    thread_local std::optional<baseline::Store> store;
    if (!store) if (auto s = baseline::Store::open(database_)) store.emplace(std::move(*s));
    json::array containers;
    for (const auto& c : registry_.all()) {
        const auto& i = c->info;
        std::string state = !store ? "unknown" : store->all_complete(i.lowers) ? "complete" : "building";
        containers.push_back(json::object{
            {"runtime", std::string(model::to_string(i.runtime))}, {"id", i.id},
            {"name", base::escape(i.name)}, {"image", base::escape(i.image)}, {"pid", i.pid},
            {"mode", std::string(model::to_string(c->mode))},
            {"code_gate", std::string(model::to_string(c->code_gate))}, {"baseline", state},
            {"layers", i.lowers.size()}, {"metadata_known", i.metadata_known}});
    }
    model::Mode mode;
    model::Action on_error;
    {
        std::lock_guard lock(cfg_mu_);
        mode = cfg_.mode;
        on_error = cfg_.gate.on_error;
    }
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
    json::object out{
        {"ok", true}, {"version", LAYERLOCK_VERSION}, {"pid", ::getpid()},
        {"mode", std::string(model::to_string(mode))}, {"on_error", std::string(model::to_string(on_error))},
        {"uptime_seconds", uptime.count()}, {"config", cfg_.source}, {"containers", std::move(containers)},
        {"gated_mounts", container_mounts_ ? container_mounts_->marked() : 0},
        {"counters", counters_json(gate_->counters(), gate_->cache(), *alerts_)},
        {"behaviour", behaviour_json()},
        {"baseline", json::object{{"database", database_},
                                  {"layers", store ? store->layer_count() : 0},
                                  {"files", store ? store->file_count() : 0}}}};
    return json::serialize(out);
}

MetricsSnapshot Daemon::metrics_snapshot() {
    MetricsSnapshot m;
    m.start_time_seconds = static_cast<double>(started_ns_) / 1e9;
    const auto& k = gate_->counters();
    m.open_events = k.opens.load();
    m.exec_events = k.events.load() - std::min(m.open_events, k.events.load());
    m.allowed = k.allowed_total();
    m.denied = k.denied.load();
    const auto timeouts = k.timeouts.load(), overload = k.overload.load(), unknown = k.unknown_container.load();
    const auto fallback = k.fallback.load();
    m.fallback = {{"timeout", timeouts}, {"overload", overload}, {"unknown_container", unknown},
                  {"error", fallback > timeouts + overload + unknown ? fallback - timeouts - overload - unknown : 0}};
    m.queue_overflows = k.queue_overflows.load();
    m.answer_failures = k.answer_failures.load();
    m.allowlisted = k.allowlisted.load();
    m.prohibited = k.prohibited.load();
    m.untrusted_image = k.untrusted_image.load();
    m.hashed_files = k.hashed.load();
    m.hashed_bytes = k.hashed_bytes.load();
    m.cache_hits = gate_->cache().hits() + k.warm_hits.load();
    m.cache_misses = gate_->cache().misses();
    m.cache_entries = gate_->cache().size();
    for (auto ns : gate::AnswerLatency::kBoundsNs) m.latency_bounds_seconds.push_back(static_cast<double>(ns) / 1e9);
    for (const auto& b : k.latency.buckets) m.latency_buckets.push_back(b.load());
    m.latency_sum_seconds = static_cast<double>(k.latency.sum_ns.load()) / 1e9;
    m.alerts_delivered = alerts_->delivered();
    m.alerts_dropped = alerts_->dropped();
    m.alert_sink_failures = alerts_->sink_failures();
    m.alerts_suppressed = alerts_->suppressed();
    m.alert_summaries = alerts_->summaries();
    for (const auto& c : registry_.all())
        ++m.containers[{std::string(model::to_string(c->info.runtime)), std::string(model::to_string(c->mode))}];
    thread_local std::optional<baseline::Store> store;   // this thread's own connection
    if (!store) if (auto st = baseline::Store::open(database_, baseline::Access::ReadOnly)) store.emplace(std::move(*st));
    if (store) {
        m.baseline_layers = store->layer_count();
        m.baseline_files = store->file_count();
    }
    if (process_monitor_) {
        const auto& p = process_monitor_->counters();
        m.process_monitor = true;
        m.process_events = p.events.load();
        m.process_events_lost = p.lost.load();
        m.behaviour_alerts = p.alerts.load();
        m.fileless_killed = p.killed.load();
    }
    return m;
}

void Daemon::metrics_loop() {
    std::string failed_path;   // said once per path
    for (;;) {
        std::string path;
        std::uint32_t interval = 15;
        {
            std::lock_guard lock(cfg_mu_);
            path = cfg_.metrics.textfile_path;
            interval = cfg_.metrics.interval_s;
        }
        if (!path.empty()) {
            if (auto r = write_textfile(path, metrics_text(metrics_snapshot())); !r) {
                if (failed_path != path)
                    log::get(log::Category::Control).warn("metrics: {} (metrics.textfile_path needs a writable directory; "
                                                    "the unit allows /var/lib/prometheus/node-exporter)",
                                                    r.error().message());
                failed_path = path;
            } else {
                failed_path.clear();
            }
        }
        std::unique_lock lock(metrics_mu_);
        if (metrics_cv_.wait_for(lock, std::chrono::seconds(interval), [&] { return stopping_.load(); })) break;
    }
}

std::string Daemon::set_live_mode(const std::string& container, const std::string& mode) {
    std::vector<model::Container> known;
    for (const auto& c : registry_.all()) known.push_back(c->info);
    std::vector<std::string> missing;
    auto found = discovery::select_containers(known, {container}, &missing);
    if (found.empty()) return error_reply("no gated container \"" + base::escape(container) + "\"", "not-found");
    const auto& target = found.front();
    {
        std::lock_guard lock(cfg_mu_);
        if (mode == "clear") live_modes_.erase(target.id);
        else if (auto m = model::parse_mode(mode)) live_modes_[target.id] = *m;
        else return error_reply("mode must be monitor, enforce, learn or clear");
    }
    if (auto c = registry_.find(target.dev)) republish(*c, c->info);
    auto now = registry_.find(target.dev);
    std::string effective(model::to_string(now ? now->mode : model::Mode::Monitor));
    log::get(log::Category::Control).info("live mode for container id={} name=\"{}\": {} (now {})", target.id.substr(0, 12),
                                    base::escape(target.name), mode, effective);
    return json::serialize(json::object{{"ok", true}, {"container", target.id}, {"mode", effective}});
}

std::string Daemon::thaw(const std::string& container) {
    std::vector<model::Container> known;
    for (const auto& c : registry_.all()) known.push_back(c->info);
    std::vector<std::string> missing;
    auto found = discovery::select_containers(known, {container}, &missing);
    if (found.empty()) return error_reply("no gated container \"" + base::escape(container) + "\"", "not-found");
    if (auto r = responder_->thaw(found.front().id); !r) return error_reply(r.error().message());
    log::get(log::Category::Control).info("thawed container id={} name=\"{}\"", found.front().id.substr(0, 12),
                                    base::escape(found.front().name));
    return json::serialize(json::object{{"ok", true}, {"container", found.front().id}});
}

std::string Daemon::handle_control(const std::string& request) {
    auto parsed = control::parse_control_request(request);
    if (!parsed) {
        log::get(log::Category::Control).debug("request refused: {}", parsed.error().message());
        return error_reply(parsed.error().message());
    }
    const std::string& verb = parsed->verb;
    log::get(log::Category::Control).debug("request verb=\"{}\" container=\"{}\"", base::escape(verb),
                                           base::escape(parsed->container));
    try {
        if (verb == "status") return status_json();
        if (verb == "reload") {
            auto r = reload();
            if (!r) return error_reply(r.error().message());
            std::lock_guard lock(cfg_mu_);
            return json::serialize(json::object{{"ok", true}, {"config", base::escape(cfg_.source)}});
        }
        if (verb == "mode") return set_live_mode(parsed->container, parsed->mode);
        if (verb == "thaw") return thaw(parsed->container);
    } catch (const std::exception& e) {
        return error_reply(std::string("internal error: ") + e.what());
    }
    return error_reply("unknown verb \"" + base::escape(verb) + "\"");
}

}  // namespace layerlock::daemon
