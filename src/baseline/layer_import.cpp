// SPDX-License-Identifier: Apache-2.0
// The build protocol of one layer: claim it (a short IMMEDIATE transaction marks
// it Building with this process as owner), scan and hash it without holding any
// database lock, then store every entry and mark it Complete in one transaction.
// Another builder — a thread of this process or another process — sees Building
// and returns at once; a Building row whose owner died (pid gone, or reused by a
// process with another start time) is taken over. The walk and the hashing are
// layer_scan.cpp's; this file only decides who builds and persists the result.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <new>
#include <set>
#include <string_view>
#include <thread>

#include "layer_scan.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/base/proc_stat.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "store_impl.hpp"

namespace layerlock::baseline {
namespace {

struct Owner {
    std::int64_t pid = 0;
    std::int64_t start = -1;  // clock ticks after boot; -1 when unknown
};

// Field 22 of /proc/<pid>/stat, which with the pid identifies a process for good.
std::int64_t process_start(pid_t pid) {
    auto st = base::read_proc_stat(pid);
    return st ? static_cast<std::int64_t>(st->start_time) : -1;
}

Owner self() {
    static const Owner me{::getpid(), process_start(::getpid())};
    return me;
}

// Layers some thread of this process is building now, whatever Store it uses.
std::mutex g_active_mu;
std::set<std::string> g_active;

bool building_here(const std::string& key) {
    std::lock_guard lock(g_active_mu);
    return g_active.count(key) != 0;
}

class BuildSlot {
public:
    explicit BuildSlot(std::string key) : key_(std::move(key)) {
        std::lock_guard lock(g_active_mu);
        held_ = g_active.insert(key_).second;
    }
    ~BuildSlot() {
        if (!held_) return;
        std::lock_guard lock(g_active_mu);
        g_active.erase(key_);
    }
    BuildSlot(const BuildSlot&) = delete;
    BuildSlot& operator=(const BuildSlot&) = delete;
    bool held() const { return held_; }

private:
    std::string key_;
    bool held_ = false;
};

// `slot_held`: the caller holds this process's BuildSlot for the layer, so no
// other thread of ours can be its builder.
bool owner_alive(const Owner& o, const std::string& key, bool slot_held) {
    Owner me = self();
    if (o.pid == me.pid && o.start == me.start) return !slot_held && building_here(key);
    if (o.pid <= 0) return false;
    if (::kill(static_cast<pid_t>(o.pid), 0) != 0 && errno == ESRCH) return false;
    std::int64_t start = process_start(static_cast<pid_t>(o.pid));
    return !(start >= 0 && o.start >= 0 && start != o.start);  // same pid, other process
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Txn {
public:
    explicit Txn(sqlite3* db) : db_(db) {}
    ~Txn() {
        if (open_) (void)sql::exec(db_, "ROLLBACK");
    }
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    base::Result<void> begin() {
        auto r = sql::exec(db_, "BEGIN IMMEDIATE");
        open_ = r.has_value();
        return r;
    }
    base::Result<void> commit() {
        auto r = sql::exec(db_, "COMMIT");
        if (r) open_ = false;
        return r;
    }

private:
    sqlite3* db_;
    bool open_ = false;
};

enum class Claim { Build, Done, Busy };

// Nothing done here: another builder holds the layer.
LayerStats building_elsewhere() {
    LayerStats s;
    s.state = LayerState::Building;
    return s;
}
struct Claimed {
    Claim what = Claim::Busy;
    std::int64_t id = 0;
    LayerStats stats;
};

LayerStats stats_from_row(const sql::Stmt& row) {
    LayerStats s;
    s.files = static_cast<std::uint64_t>(row.int64(4));
    s.bytes = static_cast<std::uint64_t>(row.int64(5));
    s.seconds = row.real(6);
    s.entries = static_cast<std::uint64_t>(row.int64(7));
    s.state = LayerState::Complete;
    return s;
}

// What the row says, before any change: Done, Busy, or nullopt (this process may build).
std::optional<Claimed> existing(StoreDb& impl, const std::string& key) {
    sql::Stmt& row = impl.layer_row;
    row.reset().bind_text(1, key);
    std::optional<Claimed> out;
    if (row.step() == SQLITE_ROW) {
        std::string state = row.text(1);
        if (state == "complete") out = Claimed{Claim::Done, row.int64(0), stats_from_row(row)};
        else if (state == "building" && owner_alive({row.int64(2), row.int64(3)}, key, true))
            out = Claimed{Claim::Busy, row.int64(0), {}};
    }
    row.reset();
    return out;
}

base::Result<std::int64_t> mark_building(sqlite3* db, const std::string& key) {
    auto s = sql::Stmt::prepare(db,
        "INSERT INTO layers(dir, state, owner_pid, owner_start, started_at) VALUES (?1, 'building', ?2, ?3, ?4) "
        "ON CONFLICT(dir) DO UPDATE SET state = 'building', owner_pid = ?2, owner_start = ?3, "
        "started_at = ?4, error = NULL RETURNING id");
    if (!s) return base::unexpected(s.error());
    s->bind_text(1, key).bind(2, self().pid).bind(3, self().start).bind(4, std::int64_t{::time(nullptr)});
    if (s->step() != SQLITE_ROW) return base::unexpected(sql::error(db, "claim layer"));
    std::int64_t id = s->int64(0);
    if (auto r = s->run(); !r) return base::unexpected(r.error());
    return id;
}

base::Result<Claimed> claim(StoreDb& impl, const std::string& key) {
    Txn txn(impl.db.get());
    if (auto r = txn.begin(); !r) return base::unexpected(r.error());
    if (auto seen = existing(impl, key)) {
        if (auto r = txn.commit(); !r) return base::unexpected(r.error());
        return *seen;
    }
    auto id = mark_building(impl.db.get(), key);
    if (!id) return base::unexpected(id.error());
    if (auto r = txn.commit(); !r) return base::unexpected(r.error());
    return Claimed{Claim::Build, *id, {}};
}

// Still ours? Somebody may have declared us dead and taken the layer over.
bool still_owner(sqlite3* db, std::int64_t id) {
    auto s = sql::Stmt::prepare(db, "SELECT 1 FROM layers WHERE id = ?1 AND state = 'building' "
                                    "AND owner_pid = ?2 AND owner_start = ?3");
    if (!s) return false;
    s->bind(1, id).bind(2, self().pid).bind(3, self().start);
    return s->step() == SQLITE_ROW;
}

// Stores a layer's entries while it is being hashed, in transactions of at most
// kBatchRows rows so that no other writer (another builder, the event store) waits
// long for the write lock. Entries of a layer that is not Complete are invisible
// to every reader, so committing them early exposes nothing; the first batch also
// drops what an earlier, failed or abandoned build of the same layer left. The
// last transaction also stores the sorted digest array (schema.cpp, version 3).
class BatchWriter final : public detail::EntrySink {
public:
    static constexpr int kBatchRows = 16384;

    BatchWriter(StoreDb& impl, std::int64_t id, std::string content, const ImportProgress& progress)
        : impl_(impl), id_(id), content_(std::move(content)), progress_(progress), txn_(impl.db.get()) {}

    base::Result<void> put(const Entry& e) override {
        if (auto r = open_batch(); !r) return r;
        sql::Stmt& ins = impl_.insert_entry;
        ins.reset().bind(1, id_).bind_blob(2, e.path).bind_text(3, kind_name(e.kind));
        if (e.kind == EntryKind::Regular) ins.bind_digest(4, e.sha256);
        ins.bind(5, static_cast<std::int64_t>(e.size)).bind(6, static_cast<std::int64_t>(e.mode));
        if (e.kind == EntryKind::Symlink) ins.bind_blob(7, e.target);
        if (auto r = ins.run(); !r) return r;
        if (e.kind == EntryKind::Regular) {
            digests_.push_back(e.sha256);
            bytes_ += e.size;
            if (progress_) progress_(digests_.size(), bytes_);
        }
        if (++rows_ >= kBatchRows) return close_batch();
        return {};
    }

    // Marks the layer Complete in the transaction holding the last rows. False
    // when the layer is no longer ours (taken over: nothing is marked).
    base::Result<bool> finish(const LayerStats& st) {
        if (auto r = open_batch(); !r) return base::unexpected(r.error());
        if (!owned_) return false;
        auto s = sql::Stmt::prepare(impl_.db.get(),
            "UPDATE layers SET state = 'complete', files = ?2, bytes = ?3, entries = ?4, built_at = ?5, "
            "seconds = ?6, digests = ?7, content = ?8, copied_from = NULL, owner_pid = NULL, owner_start = NULL, "
            "error = NULL, origin = NULL, signed_by = NULL, verified_at = NULL, tampered = NULL WHERE id = ?1");
        if (!s) return base::unexpected(s.error());
        std::sort(digests_.begin(), digests_.end());
        digests_.erase(std::unique(digests_.begin(), digests_.end()), digests_.end());
        std::string_view sorted(reinterpret_cast<const char*>(digests_.data()), digests_.size() * sizeof(model::Sha256));
        s->bind(1, id_).bind(2, static_cast<std::int64_t>(st.files)).bind(3, static_cast<std::int64_t>(st.bytes));
        s->bind(4, static_cast<std::int64_t>(st.entries)).bind(5, std::int64_t{::time(nullptr)}).bind(6, st.seconds);
        s->bind_blob(7, sorted);
        if (content_.empty()) s->bind_null(8);
        else s->bind_text(8, content_);
        if (auto r = s->run(); !r) return base::unexpected(r.error());
        if (auto r = close_batch(); !r) return base::unexpected(r.error());
        return true;
    }

    // The layer was taken over by another builder while this one was storing it.
    bool lost() const { return !owned_; }

private:
    base::Result<void> open_batch() {
        if (open_) return {};
        if (auto r = txn_.begin(); !r) return r;
        open_ = true;
        rows_ = 0;
        owned_ = still_owner(impl_.db.get(), id_);
        if (!owned_) return base::unexpected(base::Error::from_errno("layer taken over by another builder", EBUSY));
        if (!cleared_) {
            auto del = sql::Stmt::prepare(impl_.db.get(), "DELETE FROM entries WHERE layer_id = ?1");
            if (!del) return base::unexpected(del.error());
            if (auto r = del->bind(1, id_).run(); !r) return r;
            cleared_ = true;
        }
        return {};
    }
    base::Result<void> close_batch() {
        open_ = false;
        return txn_.commit();
    }

    StoreDb& impl_;
    std::int64_t id_;
    std::string content_;
    const ImportProgress& progress_;
    std::uint64_t bytes_ = 0;
    Txn txn_;
    bool open_ = false;
    bool owned_ = true;
    bool cleared_ = false;
    int rows_ = 0;
    std::vector<model::Sha256> digests_;  // of the regular files, for layers.digests
};

void mark_failed(sqlite3* db, std::int64_t id, const std::string& why) {
    auto s = sql::Stmt::prepare(db, "UPDATE layers SET state = 'failed', error = ?4, owner_pid = NULL, "
                                    "owner_start = NULL WHERE id = ?1 AND owner_pid = ?2 AND owner_start = ?3");
    if (!s) return;
    s->bind(1, id).bind(2, self().pid).bind(3, self().start).bind_text(4, why);
    (void)s->run();  // best effort: a row left Building by us is reclaimed (owner_alive)
}

bool valid_content_id(const std::string& c) {
    if (c.size() != 71 || !c.starts_with("sha256:")) return false;
    for (std::size_t i = 7; i < c.size(); ++i)
        if (!((c[i] >= '0' && c[i] <= '9') || (c[i] >= 'a' && c[i] <= 'f'))) return false;
    return true;
}

// The same layer content stored Complete under another directory: its entries are
// this layer's too. One transaction, so the copy is Complete exactly when whole.
base::Result<std::optional<LayerStats>> copy_same_content(StoreDb& impl, std::int64_t id, const std::string& content) {
    sqlite3* db = impl.db.get();
    Txn txn(db);
    if (auto r = txn.begin(); !r) return base::unexpected(r.error());
    // Signed records first (a bundle verified at import), then records read from an
    // image archive, then another host directory's.
    auto src = sql::Stmt::prepare(db, "SELECT id, dir, files, bytes, entries, coalesce(signed_by, '') FROM layers "
                                      "WHERE content = ?1 AND state = 'complete' AND id <> ?2 "
                                      "ORDER BY signed_by IS NULL, origin IS NULL, id LIMIT 1");
    if (!src) return base::unexpected(src.error());
    src->bind_text(1, content).bind(2, id);
    if (src->step() != SQLITE_ROW) return std::optional<LayerStats>();
    std::int64_t from = src->int64(0);
    LayerStats st;
    st.copied_from = src->text(1);
    st.files = static_cast<std::uint64_t>(src->int64(2));
    st.bytes = static_cast<std::uint64_t>(src->int64(3));
    st.entries = static_cast<std::uint64_t>(src->int64(4));
    st.signed_by = src->text(5);
    src->reset();
    if (!still_owner(db, id)) return std::optional<LayerStats>();
    for (const char* q : {"DELETE FROM entries WHERE layer_id = ?1",
                          "INSERT INTO entries(layer_id, path, kind, sha256, size, mode, target) "
                          "SELECT ?1, path, kind, sha256, size, mode, target FROM entries WHERE layer_id = ?2",
                          "UPDATE layers SET state = 'complete', files = src.files, bytes = src.bytes, "
                          "entries = src.entries, digests = src.digests, content = src.content, copied_from = ?2, "
                          "signed_by = src.signed_by, verified_at = NULL, tampered = NULL, "
                          "built_at = unixepoch(), seconds = 0, owner_pid = NULL, owner_start = NULL, error = NULL "
                          "FROM (SELECT * FROM layers WHERE id = ?2) AS src WHERE layers.id = ?1"}) {
        auto s = sql::Stmt::prepare(db, q);
        if (!s) return base::unexpected(s.error());
        s->bind(1, id);
        if (sqlite3_bind_parameter_count(s->get()) >= 2) s->bind(2, from);
        if (auto r = s->run(); !r) return base::unexpected(r.error());
    }
    if (auto r = txn.commit(); !r) return base::unexpected(r.error());
    st.state = LayerState::Complete;
    return std::optional<LayerStats>(st);
}

base::Result<LayerStats> build(StoreDb& impl, std::int64_t id, int root_fd, unsigned threads,
                               const std::string& content, const ImportProgress& progress) {
    if (!content.empty()) {
        auto started = std::chrono::steady_clock::now();
        auto copied = copy_same_content(impl, id, content);
        if (!copied) {
            mark_failed(impl.db.get(), id, copied.error().message());
            return base::unexpected(copied.error());
        }
        if (*copied) {
            (*copied)->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            (*copied)->built_now = true;
            return **copied;
        }
    }
    auto started = std::chrono::steady_clock::now();
    BatchWriter writer(impl, id, content, progress);
    auto scanned = [&]() -> base::Result<LayerStats> {
        try {
            return detail::scan_layer(root_fd, threads, writer);
        } catch (const std::bad_alloc&) {
            return base::unexpected(base::Error::from_errno("scan layer", ENOMEM));
        } catch (const std::exception& e) {
            return base::unexpected(base::Error::from_errno(std::string("scan layer: ") + e.what(), EIO));
        }
    }();
    if (!scanned && writer.lost()) return building_elsewhere();
    if (!scanned) {
        mark_failed(impl.db.get(), id, scanned.error().message());
        return base::unexpected(scanned.error());
    }
    LayerStats st = *scanned;
    st.scan_seconds = st.seconds;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto done = writer.finish(st);
    if (!done) {
        mark_failed(impl.db.get(), id, done.error().message());
        return base::unexpected(done.error());
    }
    st.state = *done ? LayerState::Complete : LayerState::Building;
    st.built_now = *done;
    return st;
}

}  // namespace

LayerState Store::layer_state(const std::string& layer_dir) {
    std::string key = layer_key(layer_dir);
    sql::Stmt& row = impl_->layer_row;
    row.reset().bind_text(1, key);
    LayerState state = LayerState::Absent;
    if (row.step() == SQLITE_ROW) {
        std::string s = row.text(1);
        if (s == "complete") state = LayerState::Complete;
        else if (s == "failed") state = LayerState::Failed;
        // A Building row whose builder died is as good as a failed build.
        else state = owner_alive({row.int64(2), row.int64(3)}, key, false) ? LayerState::Building : LayerState::Failed;
    }
    row.reset();
    return state;
}

base::Result<LayerStats> Store::import_layer(const std::string& layer_dir, unsigned threads,
                                             const std::string& content, const ImportProgress& progress) {
    if (!content.empty() && !valid_content_id(content))
        return base::unexpected(base::Error::invalid("layer content id is not sha256:<64 hex>"));
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    char real[PATH_MAX];
    if (!::realpath(layer_dir.c_str(), real)) return base::unexpected(base::Error::from_errno("realpath " + layer_dir));
    std::string key = real;
    base::UniqueFd root(::open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) return base::unexpected(base::Error::from_errno("open " + key));
    BuildSlot slot(key);
    if (!slot.held()) return building_elsewhere();
    auto claimed = claim(*impl_, key);
    if (!claimed) return base::unexpected(claimed.error());
    if (claimed->what == Claim::Done) return claimed->stats;
    if (claimed->what == Claim::Busy) return building_elsewhere();
    return build(*impl_, claimed->id, root.get(), threads, content, progress);
}

namespace {

std::string content_key(const std::string& diff_id) { return "content:" + diff_id; }

// A sink over a vector (records that are already in memory).
class VectorSource {
public:
    static base::Result<LayerStats> put_all(detail::EntrySink& sink, const std::vector<Entry>& entries) {
        LayerStats st;
        for (const auto& e : entries) {
            if (auto r = sink.put(e); !r) return base::unexpected(r.error());
            ++st.entries;
            if (e.kind == EntryKind::Regular) {
                ++st.files;
                st.bytes += e.size;
            }
        }
        return st;
    }
};

}  // namespace

base::Result<LayerStats> Store::store_content_layer(const std::string& diff_id, const std::vector<Entry>& entries,
                                                    const RecordOrigin& origin) {
    if (!valid_content_id(diff_id)) return base::unexpected(base::Error::invalid("diff id is not sha256:<64 hex>"));
    const std::string key = content_key(diff_id);
    sqlite3* db = impl_->db.get();
    {   // a signed baseline is never replaced by unsigned records
        auto s = sql::Stmt::prepare(db, "SELECT coalesce(signed_by, '') FROM layers WHERE dir = ?1 AND state = 'complete'");
        if (!s) return base::unexpected(s.error());
        s->bind_text(1, key);
        if (s->step() == SQLITE_ROW && !s->text(0).empty() && origin.signed_by.empty()) {
            LayerStats kept;
            kept.state = LayerState::Complete;
            kept.signed_by = s->text(0);
            return kept;
        }
    }
    BuildSlot slot(key);
    if (!slot.held()) return building_elsewhere();
    std::int64_t id = 0;
    {
        Txn txn(db);
        if (auto r = txn.begin(); !r) return base::unexpected(r.error());
        if (auto seen = existing(*impl_, key); seen && seen->what == Claim::Busy) return building_elsewhere();
        auto claimed = mark_building(db, key);
        if (!claimed) return base::unexpected(claimed.error());
        id = *claimed;
        if (auto r = txn.commit(); !r) return base::unexpected(r.error());
    }
    const auto started = std::chrono::steady_clock::now();
    const ImportProgress no_progress;
    BatchWriter writer(*impl_, id, diff_id, no_progress);
    auto put = VectorSource::put_all(writer, entries);
    if (!put) {
        mark_failed(db, id, put.error().message());
        return base::unexpected(put.error());
    }
    LayerStats st = *put;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto done = writer.finish(st);
    if (!done) {
        mark_failed(db, id, done.error().message());
        return base::unexpected(done.error());
    }
    auto mark = sql::Stmt::prepare(db, "UPDATE layers SET origin = ?2, signed_by = ?3 WHERE id = ?1");
    if (!mark) return base::unexpected(mark.error());
    mark->bind(1, id).bind_text(2, origin.origin);
    if (origin.signed_by.empty()) mark->bind_null(3);
    else mark->bind_text(3, origin.signed_by);
    if (auto r = mark->run(); !r) return base::unexpected(r.error());
    st.state = *done ? LayerState::Complete : LayerState::Building;
    st.built_now = *done;
    st.signed_by = origin.signed_by;
    return st;
}

std::optional<std::vector<Entry>> Store::content_records(const std::string& diff_id, RecordOrigin* origin) {
    sqlite3* db = impl_->db.get();
    auto s = sql::Stmt::prepare(db, "SELECT id, dir, coalesce(origin, ''), coalesce(signed_by, '') FROM layers "
                                    "WHERE content = ?1 AND state = 'complete' "
                                    "ORDER BY dir <> ?2, signed_by IS NULL, origin IS NULL, id LIMIT 1");
    if (!s) return std::nullopt;
    const std::string key = content_key(diff_id);   // bound, not copied: alive until the step
    s->bind_text(1, diff_id).bind_text(2, key);
    if (s->step() != SQLITE_ROW) return std::nullopt;
    const std::int64_t id = s->int64(0);
    const std::string dir = s->text(1);
    if (origin) *origin = {s->text(2), s->text(3)};
    s->reset();
    std::vector<Entry> out;
    sql::Stmt& all = impl_->layer_entries;
    all.reset().bind(1, id);
    while (all.step() == SQLITE_ROW) out.push_back(StoreDb::entry_from_row(all, dir));
    all.reset();
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
    return out;
}

base::Result<bool> Store::adopt_signed(const std::string& layer_dir, const std::string& diff_id) {
    if (diff_id.empty() || !valid_content_id(diff_id)) return false;
    const std::string key = layer_key(layer_dir);
    sqlite3* db = impl_->db.get();
    {
        auto s = sql::Stmt::prepare(db, "SELECT 1 FROM layers AS l WHERE l.dir = ?1 AND l.state = 'complete' "
                                        "AND l.signed_by IS NULL AND EXISTS (SELECT 1 FROM layers AS s WHERE "
                                        "s.content = ?2 AND s.state = 'complete' AND s.signed_by IS NOT NULL)");
        if (!s) return base::unexpected(s.error());
        s->bind_text(1, key).bind_text(2, diff_id);
        if (s->step() != SQLITE_ROW) return false;
    }
    BuildSlot slot(key);
    if (!slot.held()) return false;
    std::int64_t id = 0;
    {
        Txn txn(db);
        if (auto r = txn.begin(); !r) return base::unexpected(r.error());
        auto claimed = mark_building(db, key);
        if (!claimed) return base::unexpected(claimed.error());
        id = *claimed;
        if (auto r = txn.commit(); !r) return base::unexpected(r.error());
    }
    auto copied = copy_same_content(*impl_, id, diff_id);
    if (!copied) {
        mark_failed(db, id, copied.error().message());
        return base::unexpected(copied.error());
    }
    return copied->has_value();
}

base::Result<void> Store::store_image(const ImageRecord& img) {
    auto s = sql::Stmt::prepare(impl_->db.get(),
        "INSERT INTO images(ref, config_digest, manifest_digest, diff_ids, origin, signed_by, added_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch()) ON CONFLICT(ref, config_digest) DO UPDATE SET "
        "manifest_digest = ?3, diff_ids = ?4, origin = ?5, "
        "signed_by = CASE WHEN ?6 IS NULL THEN signed_by ELSE ?6 END, added_at = unixepoch()");
    if (!s) return base::unexpected(s.error());
    std::string ids;
    for (const auto& d : img.diff_ids) ids += (ids.empty() ? "" : " ") + d;
    s->bind_text(1, img.ref).bind_text(2, img.config_digest).bind_text(3, img.manifest_digest).bind_text(4, ids);
    s->bind_text(5, img.origin);
    if (img.signed_by.empty()) s->bind_null(6);
    else s->bind_text(6, img.signed_by);
    return s->run();
}

std::vector<ImageRecord> Store::images() {
    std::vector<ImageRecord> out;
    auto s = sql::Stmt::prepare(impl_->db.get(), "SELECT ref, config_digest, manifest_digest, diff_ids, origin, "
                                                 "coalesce(signed_by, ''), added_at FROM images ORDER BY ref, added_at");
    if (!s) return out;
    while (s->step() == SQLITE_ROW) {
        ImageRecord r;
        r.ref = s->text(0);
        r.config_digest = s->text(1);
        r.manifest_digest = s->text(2);
        std::string ids = s->text(3);
        for (std::size_t at = 0; at < ids.size();) {
            auto sp = ids.find(' ', at);
            r.diff_ids.push_back(ids.substr(at, sp - at));
            at = sp == std::string::npos ? ids.size() : sp + 1;
        }
        r.origin = s->text(4);
        r.signed_by = s->text(5);
        r.added_at = s->int64(6);
        out.push_back(std::move(r));
    }
    return out;
}

LayerProvenance Store::provenance(const std::string& layer_dir) {
    LayerProvenance p;
    auto s = sql::Stmt::prepare(impl_->db.get(), "SELECT coalesce(content, ''), coalesce(origin, ''), "
                                                 "coalesce(signed_by, ''), coalesce(verified_at, 0), "
                                                 "coalesce(tampered, '') FROM layers WHERE dir = ?1 "
                                                 "AND state = 'complete'");
    if (!s) return p;
    const std::string key = layer_key(layer_dir);   // bound, not copied: alive until the step
    s->bind_text(1, key);
    if (s->step() != SQLITE_ROW) return p;
    p.known = true;
    p.content = s->text(0);
    p.origin = s->text(1);
    p.signed_by = s->text(2);
    p.verified_at = s->int64(3);
    p.tampered = s->text(4);
    return p;
}

void Store::record_verification(const std::string& layer_dir, const std::string& tampered) {
    auto s = sql::Stmt::prepare(impl_->db.get(), "UPDATE layers SET verified_at = unixepoch(), tampered = ?2 "
                                                 "WHERE dir = ?1");
    if (!s) return;
    const std::string key = layer_key(layer_dir);   // bound, not copied: alive until the step
    s->bind_text(1, key);
    if (tampered.empty()) s->bind_null(2);
    else s->bind_text(2, tampered);
    (void)s->run();
}

}  // namespace layerlock::baseline
