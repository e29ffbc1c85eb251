// SPDX-License-Identifier: Apache-2.0
#include "layerlock/baseline/events.hpp"

#include <cerrno>
#include <ctime>

#include "layerlock/baseline/store.hpp"
#include "sqlite.hpp"
#include "store_impl.hpp"

namespace layerlock::baseline {

struct EventStore::Impl {
    sql::DbPtr db;
    sql::Stmt insert, seen;
};

namespace {

constexpr const char* kInsert =
    "INSERT INTO events(time_us, kind, severity, action, change, reason, runtime, container_id, container_name,"
    " image, path, sha256, pid, comm, parent_comm, detail, count, package, image_id, exe, location, mount, cmdline,"
    " uid, process_tree, ppid, user, time_ns, last_ns)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,"
    "?29)";

// A summary of repeats: the row of the first occurrence gets the total count.
constexpr const char* kSummary =
    "UPDATE events SET count = ?1, last_ns = ?2 WHERE time_ns = ?3 AND container_id = ?4 AND kind = ?5"
    " AND path = ?6 AND action = ?7";

constexpr const char* kSelect =
    "SELECT id, time_us, kind, severity, action, change, reason, runtime, container_id, container_name, image,"
    " path, sha256, pid, comm, parent_comm, detail, count, package, image_id, exe, location, mount, cmdline, uid,"
    " process_tree, ppid, user, time_ns, last_ns FROM events"
    " WHERE time_us >= ?1 AND id > ?2 AND severity >= ?3 AND (?4 = '' OR kind = ?4)"
    " AND (?5 = '' OR container_name = ?5 OR substr(container_id, 1, length(?5)) = ?5)"
    " ORDER BY id LIMIT ?6";

model::Runtime runtime_from(const std::string& s) {
    for (auto r : {model::Runtime::Docker, model::Runtime::Containerd, model::Runtime::Podman, model::Runtime::CriO})
        if (model::to_string(r) == s) return r;
    return model::Runtime::Unknown;
}

model::DriftEvent from_row(const sql::Stmt& s) {
    model::DriftEvent e;
    e.time_us = s.int64(1);
    e.kind = s.text(2);
    e.severity = static_cast<model::Severity>(s.int64(3));
    e.action = s.text(4);
    e.change = s.text(5);
    e.reason = s.text(6);
    e.runtime = runtime_from(s.text(7));
    e.container_id = s.text(8);
    e.container_name = s.text(9);
    e.image = s.text(10);
    e.path = s.blob(11);
    e.sha256 = s.text(12);
    e.pid = static_cast<pid_t>(s.int64(13));
    e.comm = s.blob(14);
    e.parent_comm = s.blob(15);
    e.detail = s.text(16);
    e.count = static_cast<std::uint64_t>(s.int64(17));
    e.package = s.text(18);
    e.image_id = s.text(19);
    e.exe = s.blob(20);
    e.location = s.text(21);
    e.mount = s.blob(22);
    e.cmdline = s.blob(23);
    e.uid = s.int64(24);
    e.process_tree = s.blob(25);
    e.ppid = static_cast<pid_t>(s.int64(26));
    e.user = s.blob(27);
    e.time_ns = s.int64(28);
    e.last_ns = s.int64(29);
    return e;
}

}  // namespace

EventStore::EventStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventStore::EventStore(EventStore&&) noexcept = default;
EventStore& EventStore::operator=(EventStore&&) noexcept = default;
EventStore::~EventStore() = default;

base::Result<EventStore> EventStore::open(const std::string& path, Access access) {
    // Creates and migrates the schema exactly as the baseline does (ReadWrite), or
    // opens an existing, current database without creating anything (ReadOnly).
    auto db = open_db(path, access);
    if (!db) return base::unexpected(db.error());
    auto impl = std::make_unique<Impl>();
    impl->db = std::move(*db);
    sqlite3* raw = impl->db.get();
    if (access == Access::ReadOnly) return EventStore(std::move(impl));
    auto ins = sql::Stmt::prepare(raw, kInsert);
    if (!ins) return base::unexpected(ins.error());
    impl->insert = std::move(*ins);
    auto seen = sql::Stmt::prepare(raw, "INSERT OR IGNORE INTO file_drift_seen VALUES(?1, ?2, ?3, ?4)");
    if (!seen) return base::unexpected(seen.error());
    impl->seen = std::move(*seen);
    return EventStore(std::move(impl));
}

base::Result<void> EventStore::append(const model::DriftEvent& e) {
    auto& s = impl_->insert;
    if (!s.get()) return base::unexpected(base::Error::from_errno("event table opened read-only", EROFS));
    s.reset().bind(1, e.time_us).bind_text(2, e.kind).bind(3, static_cast<std::int64_t>(e.severity))
        .bind_text(4, e.action).bind_text(5, e.change).bind_text(6, e.reason)
        .bind_text(7, model::to_string(e.runtime)).bind_text(8, e.container_id).bind_text(9, e.container_name)
        .bind_text(10, e.image).bind_blob(11, e.path).bind_text(12, e.sha256).bind(13, std::int64_t{e.pid})
        .bind_blob(14, e.comm).bind_blob(15, e.parent_comm).bind_text(16, e.detail)
        .bind(17, static_cast<std::int64_t>(e.count)).bind_text(18, e.package).bind_text(19, e.image_id)
        .bind_blob(20, e.exe).bind_text(21, e.location).bind_blob(22, e.mount).bind_blob(23, e.cmdline)
        .bind(24, e.uid).bind_blob(25, e.process_tree).bind(26, std::int64_t{e.ppid}).bind_blob(27, e.user)
        .bind(28, e.time_ns).bind(29, e.last_ns);
    return s.run();
}

base::Result<void> EventStore::add_summary(const model::DriftEvent& e) {
    if (!impl_->insert.get()) return base::unexpected(base::Error::from_errno("event table opened read-only", EROFS));
    auto s = sql::Stmt::prepare(impl_->db.get(), kSummary);
    if (!s) return base::unexpected(s.error());
    s->bind(1, static_cast<std::int64_t>(e.count)).bind(2, e.last_ns).bind(3, e.time_ns).bind_text(4, e.container_id)
        .bind_text(5, e.kind).bind_blob(6, e.path).bind_text(7, e.action);
    if (auto r = s->run(); !r) return r;
    if (sqlite3_changes(impl_->db.get()) > 0) return {};
    return append(e);   // the first occurrence's row is gone (pruned): the summary stands alone
}

std::vector<StoredEvent> EventStore::query(const EventFilter& f) {
    std::vector<StoredEvent> out;
    auto s = sql::Stmt::prepare(impl_->db.get(), kSelect);
    if (!s) return out;
    s->bind(1, f.since_us).bind(2, f.after_id).bind(3, static_cast<std::int64_t>(f.min_severity))
        .bind_text(4, f.kind).bind_text(5, f.container).bind(6, static_cast<std::int64_t>(f.limit));
    while (s->step() == SQLITE_ROW) out.push_back({s->int64(0), from_row(*s)});
    return out;
}

bool EventStore::first_report(const std::string& container_id, const std::string& path, const std::string& change,
                              const std::string& sha256) {
    auto& s = impl_->seen;
    if (!s.get()) return true;   // read-only: cannot tell, report rather than lose it
    s.reset().bind_text(1, container_id).bind_blob(2, path).bind_text(3, change).bind_text(4, sha256);
    if (!s.run()) return true;   // cannot tell: report rather than lose it
    return sqlite3_changes(impl_->db.get()) > 0;
}

void EventStore::forget_report(const std::string& container_id, const std::string& path, const std::string& change,
                               const std::string& sha256) {
    auto s = sql::Stmt::prepare(impl_->db.get(), "DELETE FROM file_drift_seen WHERE container_id = ?1 AND path = ?2 "
                                                 "AND change = ?3 AND sha256 = ?4");
    if (s) (void)s->bind_text(1, container_id).bind_blob(2, path).bind_text(3, change).bind_text(4, sha256).run();
}

std::vector<std::string> EventStore::learned_listeners(const std::string& container_id) {
    std::vector<std::string> out;
    auto s = sql::Stmt::prepare(impl_->db.get(), "SELECT proto, port FROM learned_listeners WHERE container_id = ?1");
    if (!s) return out;
    s->bind_text(1, container_id);
    while (s->step() == SQLITE_ROW) out.push_back(s->text(0) + "/" + std::to_string(s->int64(1)));
    return out;
}

void EventStore::learn_listener(const std::string& container_id, const std::string& proto, std::uint16_t port) {
    auto s = sql::Stmt::prepare(impl_->db.get(), "INSERT OR IGNORE INTO learned_listeners VALUES(?1, ?2, ?3)");
    if (s) (void)s->bind_text(1, container_id).bind_text(2, proto).bind(3, std::int64_t{port}).run();
}

std::int64_t EventStore::learning_until(const std::string& container_id, std::int64_t if_new) {
    if (auto ins = sql::Stmt::prepare(impl_->db.get(), "INSERT OR IGNORE INTO container_learning VALUES(?1, ?2)"))
        (void)ins->bind_text(1, container_id).bind(2, if_new).run();
    auto s = sql::Stmt::prepare(impl_->db.get(), "SELECT until_us FROM container_learning WHERE container_id = ?1");
    if (!s) return if_new;
    s->bind_text(1, container_id);
    return s->step() == SQLITE_ROW ? s->int64(0) : if_new;
}

base::Result<void> EventStore::prune(std::chrono::seconds max_age, std::uint64_t max_rows) {
    auto cutoff = (static_cast<std::int64_t>(std::time(nullptr)) - max_age.count()) * 1'000'000;
    auto old = sql::Stmt::prepare(impl_->db.get(), "DELETE FROM events WHERE time_us < ?1");
    if (!old) return base::unexpected(old.error());
    if (auto r = old->bind(1, cutoff).run(); !r) return r;
    auto excess = sql::Stmt::prepare(impl_->db.get(),
        "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1");
    if (!excess) return base::unexpected(excess.error());
    return excess->bind(1, static_cast<std::int64_t>(max_rows)).run();
}

}  // namespace layerlock::baseline
