// SPDX-License-Identifier: Apache-2.0
// Alert delivery: a bounded queue with a drop counter in front of the sinks
// (journald with structured fields, stderr, JSON lines), drained by one thread,
// so a slow sink never stalls detection. publish() never blocks.
// libsystemd's sd_journal_send stays in src/alert.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "layerlock/alert/dedup.hpp"
#include "layerlock/base/result.hpp"
#include "layerlock/base/work_queue.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::alert {

class Sink {
public:
    virtual ~Sink() = default;
    // Writes one alert. An error says why it was not written: the queue counts it and
    // reports the sink failing (once, until it writes again); nothing is retried, the
    // next alert tries again.
    virtual base::Result<void> write(const model::DriftEvent& ev) = 0;
    // A short name for logs and counters: "journald", "stderr", "json", "events", ...
    virtual std::string_view name() const = 0;
    // True for a sink that acts on every occurrence (response actions); the others
    // get the first of repeated alerts at once and a summary when its window closes.
    virtual bool sees_repeats() const { return false; }
};

// journald: SYSLOG_IDENTIFIER=layerlockd, PRIORITY from severity, MESSAGE, LAYERLOCK_*.
std::unique_ptr<Sink> journald_sink();
// One key=value line per event on stderr, names escaped.
std::unique_ptr<Sink> stderr_sink();
// One JSON object per line, appended to `path` (created 0600): the layerlock record
// (alert/record.hpp) or what Falco emits for the same detection.
enum class JsonFormat { Layerlock, Falco };
base::Result<std::unique_ptr<Sink>> json_lines_sink(const std::string& path, JsonFormat format = JsonFormat::Layerlock);
// The event table of the state database (`layerlock events`), pruned to `limits`;
// opened at the first alert, and again after a failure.
std::unique_ptr<Sink> event_store_sink(const std::string& database, const config::EventConfig& limits);

// The human one-line summary used as journald MESSAGE and on stderr.
std::string message(const model::DriftEvent& ev);
// The layerlock record as one JSON line (no trailing newline).
std::string to_json(const model::DriftEvent& ev);

class AlertQueue {
public:
    explicit AlertQueue(std::size_t capacity, std::chrono::seconds dedup_window = std::chrono::seconds(0))
        : capacity_(capacity), dedup_(dedup_window), dedup_window_s_(dedup_window.count()) {}
    ~AlertQueue() { stop(); }
    void add_sink(std::unique_ptr<Sink> s) {
        std::lock_guard lock(sinks_mu_);
        sinks_.push_back(std::move(s));
    }
    // Swaps every sink at once (on reload): alerts delivered after this call go to
    // the new sinks; the old ones are closed once the batch being written is done.
    void replace_sinks(std::vector<std::unique_ptr<Sink>> sinks);
    void start();
    void stop();                             // delivers what is queued, then joins
    void publish(model::DriftEvent ev);      // never blocks; drops (and counts) when full
    // Waits for room instead of dropping: for producers off the exec path (file
    // drift), which must lose nothing and may be slowed to the sinks' pace. False
    // (nothing queued) once the queue stops or `cancel` is set.
    bool publish_wait(model::DriftEvent ev, const std::atomic<bool>* cancel = nullptr);
    void set_dedup_window(std::chrono::seconds w);
    // Told on the alert thread when a sink starts failing (`failing`, with its first
    // error) and when it writes again: once per change of state, not once per alert.
    using FailureReporter = std::function<void(std::string_view sink, const base::Error& why, bool failing)>;
    void set_failure_reporter(FailureReporter r) {
        std::lock_guard lock(sinks_mu_);
        reporter_ = std::move(r);
    }
    std::uint64_t sink_failures() const { return sink_failures_.load(); }   // writes refused by a sink
    std::uint64_t dropped() const { return dropped_.load(); }
    std::uint64_t delivered() const { return delivered_.load(); }
    std::uint64_t suppressed() const { return suppressed_.load(); }   // repeats counted into a summary
    std::uint64_t summaries() const { return summaries_.load(); }

private:
    void run();
    void deliver(const model::DriftEvent& ev, bool first);   // sinks_mu_ held
    std::size_t capacity_;
    Deduper dedup_;                     // the alert thread's alone
    std::atomic<std::int64_t> dedup_window_s_;
    std::mutex sinks_mu_;   // held while a batch is written, and to swap sinks
    std::vector<std::unique_ptr<Sink>> sinks_;
    std::vector<bool> failing_;         // per sink, parallel to sinks_
    FailureReporter reporter_;
    base::WorkQueue<model::DriftEvent> queue_;
    std::atomic<std::uint64_t> dropped_{0}, delivered_{0}, suppressed_{0}, summaries_{0}, sink_failures_{0};
    std::thread thread_;
};

}  // namespace layerlock::alert
