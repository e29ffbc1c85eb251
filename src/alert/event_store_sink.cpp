// SPDX-License-Identifier: Apache-2.0
// The sink that stores every drift event in the state database's event table
// (`layerlock events`), pruned by age and row count. Opens the table at its first
// alert and again after a failure (a database deleted or unwritable meanwhile),
// so a failing disk costs the events written while it fails, nothing after.
#include <optional>

#include "layerlock/alert/alerts.hpp"
#include "layerlock/baseline/events.hpp"

namespace layerlock::alert {
namespace {

class EventStoreSink final : public Sink {
public:
    EventStoreSink(std::string database, config::EventConfig limits)
        : database_(std::move(database)), limits_(limits) {}
    std::string_view name() const override { return "events"; }
    base::Result<void> write(const model::DriftEvent& ev) override {
        if (!store_) {
            auto s = baseline::EventStore::open(database_);
            if (!s) return base::unexpected(s.error());
            store_.emplace(std::move(*s));
        }
        auto added = ev.last_ns ? store_->add_summary(ev) : store_->append(ev);
        if (!added) {
            store_.reset();   // reopened at the next alert
            return base::unexpected(added.error());
        }
        if (++appended_ % 1000 == 1)
            if (auto pruned = store_->prune(std::chrono::hours(24) * limits_.max_age_days, limits_.max_rows); !pruned)
                return base::unexpected(pruned.error());
        return {};
    }

private:
    std::string database_;
    config::EventConfig limits_;
    std::optional<baseline::EventStore> store_;
    std::uint64_t appended_ = 0;
};

}  // namespace

std::unique_ptr<Sink> event_store_sink(const std::string& database, const config::EventConfig& limits) {
    return std::make_unique<EventStoreSink>(database, limits);
}

}  // namespace layerlock::alert
