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
    auto text = base::read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!text) return -1;
    std::size_t paren = text->rfind(')');
    if (paren == std::string::npos) return -1;
    std::size_t pos = paren + 2;  // fields from 3 (state) on
    for (int field = 3; field < 22 && pos != std::string::npos; ++field) pos = text->find(' ', pos) + 1;
    if (pos == 0 || pos >= text->size()) return -1;
    return std::strtoll(text->c_str() + pos, nullptr, 10);
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
            "error = NULL WHERE id = ?1");
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
    auto src = sql::Stmt::prepare(db, "SELECT id, dir, files, bytes, entries FROM layers WHERE content = ?1 "
                                      "AND state = 'complete' AND id <> ?2 ORDER BY id LIMIT 1");
    if (!src) return base::unexpected(src.error());
    src->bind_text(1, content).bind(2, id);
    if (src->step() != SQLITE_ROW) return std::optional<LayerStats>();
    std::int64_t from = src->int64(0);
    LayerStats st;
    st.copied_from = src->text(1);
    st.files = static_cast<std::uint64_t>(src->int64(2));
    st.bytes = static_cast<std::uint64_t>(src->int64(3));
    st.entries = static_cast<std::uint64_t>(src->int64(4));
    src->reset();
    if (!still_owner(db, id)) return std::optional<LayerStats>();
    for (const char* q : {"DELETE FROM entries WHERE layer_id = ?1",
                          "INSERT INTO entries(layer_id, path, kind, sha256, size, mode, target) "
                          "SELECT ?1, path, kind, sha256, size, mode, target FROM entries WHERE layer_id = ?2",
                          "UPDATE layers SET state = 'complete', files = src.files, bytes = src.bytes, "
                          "entries = src.entries, digests = src.digests, content = src.content, copied_from = ?2, "
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

}  // namespace layerlock::baseline
