// SPDX-License-Identifier: Apache-2.0
// Store: opening the baseline database (WAL, busy timeout, foreign keys, schema
// migration) and every read of it: layer state, per-path lookups through the
// overlay rules of resolve.cpp, digest membership and the effective file list of
// an image. Building a layer lives in layer_import.cpp; SQL helpers in sqlite.cpp.
#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <climits>
#include <cstdlib>
#include <algorithm>
#include <new>
#include <memory>
#include <optional>
#include <unordered_map>

#include "resolve.hpp"
#include "store_impl.hpp"

namespace layerlock::baseline {
namespace detail {
base::Result<void> migrate(sqlite3* db);
base::Result<void> check_current(sqlite3* db);
}

namespace {

constexpr int kBusyTimeoutMs = 10000;

constexpr const char* kPragmas =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "PRAGMA foreign_keys = ON;"
    "PRAGMA cache_size = -32768;";  // 32 MiB: a large layer's inserts stay in memory

// mkdir -p for the database's parent directory; created directories are 0700.
base::Result<void> make_parents(const std::string& path) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return {};
    std::string parent = path.substr(0, slash);
    struct stat st {};
    if (::stat(parent.c_str(), &st) == 0) return {};
    if (auto r = make_parents(parent); !r) return r;
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST)
        return base::unexpected(base::Error::from_errno("mkdir " + parent));
    return {};
}

base::Result<sql::DbPtr> open_read_only(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return base::unexpected(base::Error::from_errno("no database at " + path));
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    sql::DbPtr db(raw);
    if (rc != SQLITE_OK) return base::unexpected(sql::error(db.get(), "open " + path));
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
    if (auto r = detail::check_current(db.get()); !r) return base::unexpected(r.error());
    return db;
}

}  // namespace

base::Result<sql::DbPtr> open_db(const std::string& path, Access access) {
    if (access == Access::ReadOnly) return open_read_only(path);
    if (path != ":memory:")
        if (auto r = make_parents(path); !r) return base::unexpected(r.error());
    sqlite3* raw = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    sql::DbPtr db(raw);
    if (rc != SQLITE_OK) return base::unexpected(sql::error(db.get(), "open " + path));
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
    if (auto r = sql::exec(db.get(), kPragmas); !r) return base::unexpected(r.error());
    if (auto r = detail::migrate(db.get()); !r) return base::unexpected(r.error());
    return db;
}

bool damaged(const std::string& path) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    sql::DbPtr db(raw);
    if (rc != SQLITE_OK) return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT;
    sqlite3_stmt* raw_stmt = nullptr;
    rc = sqlite3_prepare_v2(db.get(), "PRAGMA quick_check(1)", -1, &raw_stmt, nullptr);
    if (rc != SQLITE_OK) return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, sqlite3_finalize);
    rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
        return !text || std::string_view(text) != "ok";
    }
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

base::Result<std::string> set_aside(const std::string& path) {
    const std::string to = path + ".damaged-" + std::to_string(::time(nullptr));
    if (::rename(path.c_str(), to.c_str()) != 0)
        return base::unexpected(base::Error::from_errno("rename " + path + " to " + to));
    ::chmod(to.c_str(), 0600);
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string from = path + suffix, aside = to + suffix;
        if (::rename(from.c_str(), aside.c_str()) == 0) ::chmod(aside.c_str(), 0600);
    }
    return to;
}

std::string_view kind_name(EntryKind k) {
    switch (k) {
        case EntryKind::Regular: return "file";
        case EntryKind::Directory: return "dir";
        case EntryKind::OpaqueDirectory: return "opaque";
        case EntryKind::Symlink: return "symlink";
        case EntryKind::Whiteout: return "whiteout";
        case EntryKind::Other: return "other";
    }
    return "other";
}

EntryKind kind_from_name(std::string_view s) {
    for (auto k : {EntryKind::Regular, EntryKind::Directory, EntryKind::OpaqueDirectory, EntryKind::Symlink,
                   EntryKind::Whiteout})
        if (kind_name(k) == s) return k;
    return EntryKind::Other;
}

std::string layer_key(const std::string& dir) {
    char buf[PATH_MAX];
    if (::realpath(dir.c_str(), buf)) return buf;
    return dir;
}

base::Result<void> StoreDb::prepare() {
    struct {
        sql::Stmt* stmt;
        const char* text;
    } all[] = {
        {&layer_row, "SELECT id, state, owner_pid, owner_start, files, bytes, seconds, entries "
                     "FROM layers WHERE dir = ?1"},
        {&entry_at, "SELECT path, kind, sha256, size, mode, target FROM entries "
                    "WHERE layer_id = ?1 AND path = ?2"},
        {&layer_entries, "SELECT path, kind, sha256, size, mode, target FROM entries WHERE layer_id = ?1"},
        {&digest_in, "SELECT 1 FROM entries WHERE layer_id = ?2 AND sha256 = ?1 AND kind = 'file' LIMIT 1"},
        {&size_in, "SELECT 1 FROM entries WHERE layer_id = ?1 AND size = ?2 AND kind = 'file' LIMIT 1"},
        {&insert_entry, "INSERT INTO entries(layer_id, path, kind, sha256, size, mode, target) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&begin_read, "BEGIN DEFERRED"},
        {&end_read, "COMMIT"},
    };
    for (auto& s : all) {
        auto p = sql::Stmt::prepare(db.get(), s.text);
        if (!p) return base::unexpected(p.error());
        *s.stmt = std::move(*p);
    }
    return {};
}

Store::ReadSnapshot::ReadSnapshot(Store& store) : db_(store.impl_.get()) {
    // Not inside another transaction (autocommit on): otherwise do nothing.
    if (!sqlite3_get_autocommit(db_->db.get()) || db_->begin_read.reset().step() != SQLITE_DONE) db_ = nullptr;
}

Store::ReadSnapshot::~ReadSnapshot() {
    if (db_ && db_->end_read.reset().step() != SQLITE_DONE) (void)sql::exec(db_->db.get(), "ROLLBACK");
}

namespace {

std::optional<std::int64_t> complete_row(sql::Stmt& layer_row, const std::string& key) {
    layer_row.reset().bind_text(1, key);
    std::optional<std::int64_t> id;
    if (layer_row.step() == SQLITE_ROW && layer_row.text(1) == "complete") id = layer_row.int64(0);
    layer_row.reset();
    return id;
}

}  // namespace

// Discovery hands over real paths already; only other spellings pay for realpath().
std::optional<std::int64_t> StoreDb::complete_id(const std::string& dir) {
    if (auto id = complete_row(layer_row, dir)) return id;
    std::string key = layer_key(dir);
    if (key == dir) return std::nullopt;
    return complete_row(layer_row, key);
}

Entry StoreDb::entry_from_row(const sql::Stmt& s, const std::string& layer) {
    Entry e;
    e.path = s.blob(0);
    e.kind = kind_from_name(s.text(1));
    if (!s.is_null(2)) e.sha256 = s.digest(2);
    e.size = static_cast<std::uint64_t>(s.int64(3));
    e.mode = static_cast<std::uint32_t>(s.int64(4));
    e.target = s.blob(5);
    e.layer = layer;
    return e;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

base::Result<Store> Store::open(const std::string& path, Access access) {
    auto db = open_db(path, access);
    if (!db) return base::unexpected(db.error());
    auto impl = std::make_unique<Impl>();
    impl->db = std::move(*db);
    if (auto r = impl->prepare(); !r) return base::unexpected(r.error());
    return Store(std::move(impl));
}

std::optional<Entry> Store::lookup(const std::vector<std::string>& lowers, std::string_view path) {
    std::vector<std::optional<std::int64_t>> ids;
    for (const auto& l : lowers) ids.push_back(impl_->complete_id(l));
    LayerLookup one = [&](std::size_t layer, std::string_view p) -> std::optional<Entry> {
        if (!ids[layer]) return std::nullopt;
        sql::Stmt& s = impl_->entry_at;
        s.reset().bind(1, *ids[layer]).bind_blob(2, p);
        std::optional<Entry> e;
        if (s.step() == SQLITE_ROW) e = StoreDb::entry_from_row(s, lowers[layer]);
        s.reset();
        return e;
    };
    return resolve(lowers.size(), one, path);
}

namespace {

// Halving search of a layer's sorted digest array (layers.digests); nullopt when
// the layer has none (stored before schema version 3) or it cannot be read.
std::optional<bool> in_digest_array(sqlite3* db, std::int64_t layer_id, const model::Sha256& digest) {
    sqlite3_blob* raw = nullptr;
    if (sqlite3_blob_open(db, "main", "layers", "digests", layer_id, 0, &raw) != SQLITE_OK) {
        sqlite3_blob_close(raw);
        return std::nullopt;
    }
    std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> blob(raw, sqlite3_blob_close);
    int count = sqlite3_blob_bytes(blob.get()) / static_cast<int>(digest.size());
    int lo = 0, hi = count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        model::Sha256 at{};
        if (sqlite3_blob_read(blob.get(), at.data(), static_cast<int>(at.size()), mid * static_cast<int>(at.size())) !=
            SQLITE_OK)
            return std::nullopt;
        if (at == digest) return true;
        if (at < digest) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

}  // namespace

bool Store::contains_digest(const std::vector<std::string>& lowers, const model::Sha256& digest) {
    for (const auto& l : lowers) {
        auto id = impl_->complete_id(l);
        if (!id) continue;
        if (auto found = in_digest_array(impl_->db.get(), *id, digest)) {
            if (*found) return true;
            continue;
        }
        sql::Stmt& s = impl_->digest_in;  // row by row within the layer
        s.reset().bind_digest(1, digest).bind(2, *id);
        bool found = s.step() == SQLITE_ROW;
        s.reset();
        if (found) return true;
    }
    return false;
}

// No index on size: one pass over the layer's rows (milliseconds for a large
// layer), which the gate pays only for large marked copies instead of hashing them.
std::optional<bool> Store::has_file_of_size(const std::vector<std::string>& lowers, std::uint64_t size) {
    for (const auto& l : lowers) {
        auto id = impl_->complete_id(l);
        if (!id) return std::nullopt;
        sql::Stmt& s = impl_->size_in;
        s.reset().bind(1, *id).bind(2, static_cast<std::int64_t>(size));
        bool found = s.step() == SQLITE_ROW;
        s.reset();
        if (found) return true;
    }
    return false;
}

namespace {

// Every entry of every layer, by path, with the index of the layer it belongs to.
using Loaded = std::unordered_map<std::string, std::vector<std::pair<std::size_t, Entry>>>;

}  // namespace

std::vector<Entry> Store::effective_entries(const std::vector<std::string>& lowers) {
    Loaded loaded;
    for (std::size_t i = 0; i < lowers.size(); ++i) {
        auto id = impl_->complete_id(lowers[i]);
        if (!id) continue;
        sql::Stmt& s = impl_->layer_entries;
        s.reset().bind(1, *id);
        while (s.step() == SQLITE_ROW) {
            Entry e = StoreDb::entry_from_row(s, lowers[i]);
            std::string key = e.path;
            loaded[std::move(key)].emplace_back(i, std::move(e));
        }
        s.reset();
    }
    LayerLookup one = [&](std::size_t layer, std::string_view p) -> std::optional<Entry> {
        auto it = loaded.find(std::string(p));
        if (it == loaded.end()) return std::nullopt;
        for (const auto& [l, e] : it->second)
            if (l == layer) return e;
        return std::nullopt;
    };
    std::vector<std::string> paths;
    paths.reserve(loaded.size());
    for (const auto& kv : loaded) paths.push_back(kv.first);
    std::sort(paths.begin(), paths.end());
    detail::Resolver resolver(lowers.size(), one);
    std::vector<Entry> out;
    for (const auto& p : paths)
        if (auto e = resolver.resolve(p)) out.push_back(std::move(*e));
    return out;
}

bool Store::all_complete(const std::vector<std::string>& lowers) {
    for (const auto& l : lowers)
        if (!impl_->complete_id(l)) return false;
    return true;
}

namespace {

std::uint64_t count(sqlite3* db, const char* sql) {
    auto s = sql::Stmt::prepare(db, sql);
    if (!s || s->step() != SQLITE_ROW) return 0;
    return static_cast<std::uint64_t>(s->int64(0));
}

}  // namespace

std::uint64_t Store::layer_count() {
    return count(impl_->db.get(), "SELECT count(*) FROM layers WHERE state = 'complete'");
}

std::uint64_t Store::file_count() {
    return count(impl_->db.get(), "SELECT count(*) FROM entries WHERE kind = 'file'");
}

}  // namespace layerlock::baseline
