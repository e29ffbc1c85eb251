// SPDX-License-Identifier: Apache-2.0
#include "layerlock/daemon/metrics.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "layerlock/base/unique_fd.hpp"

namespace layerlock::daemon {

std::string metrics_text(const MetricsSnapshot& m) {
    prometheus::Registry reg;
    auto counter = [&](const std::string& name, const std::string& help, double value,
                       const prometheus::Labels& labels = {}) {
        prometheus::BuildCounter().Name(name).Help(help).Register(reg).Add(labels).Increment(value);
    };
    auto gauge = [&](const std::string& name, const std::string& help, double value,
                     const prometheus::Labels& labels = {}) {
        prometheus::BuildGauge().Name(name).Help(help).Register(reg).Add(labels).Set(value);
    };
    auto d = [](std::uint64_t v) { return static_cast<double>(v); };

    gauge("layerlock_start_time_seconds", "Start time of layerlockd since the Unix epoch, in seconds.",
          m.start_time_seconds);
    auto& events = prometheus::BuildCounter()
                       .Name("layerlock_gate_events_total")
                       .Help("Permission events the gate received: execs, and opens of files in gated containers.")
                       .Register(reg);
    events.Add({{"event", "exec"}}).Increment(d(m.exec_events));
    events.Add({{"event", "open"}}).Increment(d(m.open_events));
    auto& answers = prometheus::BuildCounter()
                        .Name("layerlock_gate_answers_total")
                        .Help("Permission events answered, by answer (execs and code opens).")
                        .Register(reg);
    answers.Add({{"answer", "allow"}}).Increment(d(m.allowed));
    answers.Add({{"answer", "deny"}}).Increment(d(m.denied));
    auto& fallback = prometheus::BuildCounter()
                         .Name("layerlock_gate_fallback_answers_total")
                         .Help("Events answered by gate.on_error because the gate could not decide, by reason.")
                         .Register(reg);
    for (const char* reason : {"timeout", "overload", "unknown_container", "error"}) {
        auto it = m.fallback.find(reason);
        fallback.Add({{"reason", reason}}).Increment(it == m.fallback.end() ? 0.0 : d(it->second));
    }
    counter("layerlock_fanotify_queue_overflows_total", "fanotify queue overflow notices.", d(m.queue_overflows));
    counter("layerlock_gate_answer_failures_total",
            "Answers the kernel refused (the event was gone: its group closed, or it was answered already).",
            d(m.answer_failures));
    counter("layerlock_drift_allowlisted_total", "Exec and code drift allowed by an [[exec_allow]] rule.",
            d(m.allowlisted));
    counter("layerlock_prohibited_total", "Image files made drift by a [[prohibit]] rule (first judgement of each).",
            d(m.prohibited));
    counter("layerlock_untrusted_image_execs_total",
            "Execs of image files of an image not trusted (tampered layer, or no signed baseline when required).",
            d(m.untrusted_image));
    counter("layerlock_hashed_files_total", "Files hashed by the gate (SHA-256 of the event's fd).", d(m.hashed_files));
    counter("layerlock_hashed_bytes_total", "Bytes hashed by the gate.", d(m.hashed_bytes));
    counter("layerlock_verdict_cache_hits_total", "Events answered from a verdict cached for the file's version.",
            d(m.cache_hits));
    counter("layerlock_verdict_cache_misses_total", "Events whose file version had no cached verdict.",
            d(m.cache_misses));
    gauge("layerlock_verdict_cache_entries", "Verdicts cached.", d(m.cache_entries));
    const double lookups = d(m.cache_hits + m.cache_misses);
    gauge("layerlock_verdict_cache_hit_ratio", "Cache hits over hits and misses since start (0 before any lookup).",
          lookups > 0 ? d(m.cache_hits) / lookups : 0.0);
    if (!m.latency_bounds_seconds.empty() && m.latency_buckets.size() == m.latency_bounds_seconds.size() + 1) {
        auto& h = prometheus::BuildHistogram()
                      .Name("layerlock_gate_answer_seconds")
                      .Help("Time from reading a permission event to answering it, for events not answered "
                            "from the reader's tables (those need no clock).")
                      .Register(reg)
                      .Add({}, m.latency_bounds_seconds);
        std::vector<double> increments;
        for (auto b : m.latency_buckets) increments.push_back(d(b));
        h.ObserveMultiple(increments, m.latency_sum_seconds);
    }
    counter("layerlock_alerts_delivered_total", "Alerts handed to the sinks (journald, JSON lines, event table).",
            d(m.alerts_delivered));
    counter("layerlock_alerts_dropped_total", "Alerts dropped because the alert queue was full.", d(m.alerts_dropped));
    counter("layerlock_alert_sink_failures_total",
            "Alerts a sink could not write (journald down, a full disk, the database gone); logged per sink once when "
            "it starts failing and once when it writes again.",
            d(m.alert_sink_failures));
    counter("layerlock_alerts_suppressed_total", "Repeats of an alert counted into its summary (deduplication).",
            d(m.alerts_suppressed));
    counter("layerlock_alert_summaries_total", "Summaries of repeated alerts sent when their window closed.",
            d(m.alert_summaries));
    auto& containers = prometheus::BuildGauge()
                           .Name("layerlock_containers")
                           .Help("Containers gated, by runtime and mode.")
                           .Register(reg);
    for (const auto& [key, n] : m.containers) containers.Add({{"runtime", key.first}, {"mode", key.second}}).Set(d(n));
    gauge("layerlock_baseline_layers", "Image layers in the baseline database.", d(m.baseline_layers));
    gauge("layerlock_baseline_files", "Files of image layers in the baseline database.", d(m.baseline_files));
    gauge("layerlock_process_monitor_up", "1 when the process monitor (behaviour drift) runs.",
          m.process_monitor ? 1.0 : 0.0);
    if (m.process_monitor) {
        counter("layerlock_process_events_total", "Process events read from the kernel's connector.",
                d(m.process_events));
        counter("layerlock_process_events_lost_total", "Process events the kernel reported lost (recovered by a scan).",
                d(m.process_events_lost));
        counter("layerlock_behaviour_alerts_total", "Behaviour drift alerts (shells, package managers, fileless).",
                d(m.behaviour_alerts));
        counter("layerlock_fileless_killed_total", "Fileless processes killed in enforce mode.", d(m.fileless_killed));
    }
    return prometheus::TextSerializer().Serialize(reg.Collect());
}

base::Result<void> write_textfile(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    base::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return base::unexpected(base::Error::from_errno("open " + tmp));
    ::fchmod(fd.get(), 0644);   // the daemon's umask is 077
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            auto e = base::Error::from_errno("write " + tmp);
            ::unlink(tmp.c_str());
            return base::unexpected(e);
        }
        done += static_cast<std::size_t>(n);
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = base::Error::from_errno("rename " + tmp);
        ::unlink(tmp.c_str());
        return base::unexpected(e);
    }
    return {};
}

}  // namespace layerlock::daemon
