// SPDX-License-Identifier: Apache-2.0
// The drift event table (same SQLite file as the baseline): every drift event
// the daemon raised — exec gate and file drift — for `layerlock events`, with
// retention by age and count, and the record of file changes already reported
// per container so a reconcile reports each change once, also across restarts.
// One connection; not thread-safe (the daemon uses it from its alert thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::baseline {

struct EventFilter {
    std::int64_t since_us = 0;                   // time_us >= since_us
    std::int64_t after_id = 0;                   // id > after_id (for --follow)
    std::string container;                       // name or id prefix; empty: all
    std::string kind;                            // empty: all
    model::Severity min_severity = model::Severity::Info;
    std::size_t limit = 10000;
};

struct StoredEvent {
    std::int64_t id = 0;
    model::DriftEvent event;
};

class EventStore {
public:
    // ReadOnly (layerlock events): nothing is created; append/first_report/prune fail.
    static base::Result<EventStore> open(const std::string& path, Access access = Access::ReadWrite);
    EventStore(EventStore&&) noexcept;
    EventStore& operator=(EventStore&&) noexcept;
    ~EventStore();

    base::Result<void> append(const model::DriftEvent& ev);
    // A summary of repeats (ev.last_ns set): the first occurrence's row takes its
    // count and last time; appended when that row is gone.
    base::Result<void> add_summary(const model::DriftEvent& ev);
    std::vector<StoredEvent> query(const EventFilter& f);
    // True the first time this (container, path, change, content) is seen.
    bool first_report(const std::string& container_id, const std::string& path, const std::string& change,
                      const std::string& sha256);
    // Undoes a first_report whose alert could not be handed on (the daemon stops):
    // the next scan reports the change again instead of never.
    void forget_report(const std::string& container_id, const std::string& path, const std::string& change,
                       const std::string& sha256);
    // The network baseline of a container (by engine id): the listeners learned in
    // its learning window ("tcp/8080"), and the window's end (set to `if_new`, in
    // CLOCK_REALTIME microseconds, the first time a container is asked about).
    std::vector<std::string> learned_listeners(const std::string& container_id);
    void learn_listener(const std::string& container_id, const std::string& proto, std::uint16_t port);
    std::int64_t learning_until(const std::string& container_id, std::int64_t if_new);
    // Deletes events older than max_age and beyond the newest max_rows.
    base::Result<void> prune(std::chrono::seconds max_age, std::uint64_t max_rows);

private:
    struct Impl;
    explicit EventStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace layerlock::baseline
