// SPDX-License-Identifier: Apache-2.0
// The baseline database schema and its migrations, keyed by PRAGMA user_version.
// Each migration runs in one IMMEDIATE transaction, so two processes opening a new
// database at once cannot both create it. A database from a newer layerlock
// (higher user_version) is refused rather than misread. Queries live in store.cpp.
#include <cerrno>
#include <string>

#include "sqlite.hpp"

namespace layerlock::baseline::detail {
namespace {

// Version 1. Paths and symlink targets are BLOBs: container file names are bytes,
// not necessarily UTF-8. kind: file, dir, opaque, symlink, whiteout, other.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE layers(
    id          INTEGER PRIMARY KEY,
    dir         TEXT NOT NULL UNIQUE,       -- real absolute path of the layer directory
    state       TEXT NOT NULL CHECK (state IN ('building', 'complete', 'failed')),
    files       INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    entries     INTEGER NOT NULL DEFAULT 0,
    built_at    INTEGER,                    -- unix time of the commit
    seconds     REAL,
    owner_pid   INTEGER,                    -- builder, while state = 'building'
    owner_start INTEGER,                    -- builder's start time (/proc/<pid>/stat), against pid reuse
    started_at  INTEGER,
    error       TEXT
);
CREATE TABLE entries(
    layer_id INTEGER NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    path     BLOB NOT NULL,
    kind     TEXT NOT NULL,
    sha256   BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),
    size     INTEGER NOT NULL,
    mode     INTEGER NOT NULL,
    target   BLOB,
    PRIMARY KEY (layer_id, path)
) WITHOUT ROWID;
CREATE INDEX entries_by_sha256 ON entries(sha256) WHERE sha256 IS NOT NULL;
)sql";

// Version 2: the drift event table behind `layerlock events`, and the file
// changes already reported per container (so a reconcile reports each once,
// across daemon restarts).
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE events(
    id             INTEGER PRIMARY KEY,
    time_us        INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    severity       INTEGER NOT NULL,          -- 0 info .. 4 critical
    action         TEXT NOT NULL,
    change         TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    runtime        TEXT NOT NULL DEFAULT '',
    container_id   TEXT NOT NULL DEFAULT '',
    container_name TEXT NOT NULL DEFAULT '',
    image          TEXT NOT NULL DEFAULT '',
    path           BLOB NOT NULL DEFAULT '',
    sha256         TEXT NOT NULL DEFAULT '',
    pid            INTEGER NOT NULL DEFAULT 0,
    comm           BLOB NOT NULL DEFAULT '',
    parent_comm    BLOB NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    package        TEXT NOT NULL DEFAULT '',
    count          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX events_by_time ON events(time_us);
CREATE INDEX events_by_container ON events(container_name, time_us);
CREATE TABLE file_drift_seen(
    container_id TEXT NOT NULL,
    path         BLOB NOT NULL,
    change       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    PRIMARY KEY (container_id, path, change, sha256)
) WITHOUT ROWID;
)sql";

// Version 3: the look-up "is this content a regular file of that layer?" uses one
// sorted array of the layer's file digests (32 bytes each) stored with the layer,
// searched by halving; a global index on entries.sha256 cost a random b-tree
// insert per file of every import. Layers stored before have no array and are
// searched row by row (correct, slower) until rebuilt. `content` is the engine's
// identity of the layer's content (its diff id, "sha256:<hex>"), when known: a
// directory of another engine holding the same layer takes its entries from the
// layer already hashed instead of hashing them again. Events record the image's id
// or digest beside its reference.
constexpr const char* kSchemaV3 = R"sql(
ALTER TABLE layers ADD COLUMN digests BLOB CHECK (digests IS NULL OR length(digests) % 32 = 0);
ALTER TABLE layers ADD COLUMN content TEXT;
ALTER TABLE layers ADD COLUMN copied_from INTEGER;
ALTER TABLE events ADD COLUMN image_id TEXT NOT NULL DEFAULT '';
CREATE INDEX layers_by_content ON layers(content) WHERE content IS NOT NULL;
DROP INDEX entries_by_sha256;
)sql";

// Version 4: events of the code-open gate and of tmpfs/volume mounts say which
// executable opened the file and where the file lives.
constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE events ADD COLUMN exe BLOB NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN location TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN mount BLOB NOT NULL DEFAULT '';
)sql";

// Version 5: behaviour drift. Events carry the process's command line, uid and
// process tree; the network check keeps each container's learned listeners and
// the end of its learning window, so a restart neither forgets nor relearns them.
constexpr const char* kSchemaV5 = R"sql(
ALTER TABLE events ADD COLUMN cmdline BLOB NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN uid INTEGER NOT NULL DEFAULT -1;
ALTER TABLE events ADD COLUMN process_tree BLOB NOT NULL DEFAULT '';
CREATE TABLE learned_listeners(
    container_id TEXT NOT NULL,
    proto        TEXT NOT NULL,
    port         INTEGER NOT NULL,
    PRIMARY KEY (container_id, proto, port)
) WITHOUT ROWID;
CREATE TABLE container_learning(
    container_id TEXT PRIMARY KEY,
    until_us     INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 6: one event record (alert/record.hpp): the parent pid, the user name and
// the time in nanoseconds are kept too; summed repeats update a row's count.
constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE events ADD COLUMN ppid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN user BLOB NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN time_ns INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 7: alert deduplication: a row's count sums the repeats of its alert,
// and last_ns is the time of the last one (0: never repeated).
constexpr const char* kSchemaV7 = R"sql(
ALTER TABLE events ADD COLUMN last_ns INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 8: baselines made before deploy. Records of a layer known by its content
// alone (read from an image archive, or imported from a signed bundle) are stored
// under dir "content:sha256:<hex>"; `origin` says where a layer's records came from
// (NULL: hashed from a host directory), `signed_by` the key that signed them (copied
// to a host directory's row with them), `verified_at` and `tampered` the last check
// of a host directory against its signed records. `images`: the references, config
// and manifest digests and layers of the images whose baselines were made this way.
constexpr const char* kSchemaV8 = R"sql(
ALTER TABLE layers ADD COLUMN origin TEXT;
ALTER TABLE layers ADD COLUMN signed_by TEXT;
ALTER TABLE layers ADD COLUMN verified_at INTEGER;
ALTER TABLE layers ADD COLUMN tampered TEXT;
CREATE TABLE images(
    ref             TEXT NOT NULL,
    config_digest   TEXT NOT NULL,
    manifest_digest TEXT NOT NULL DEFAULT '',
    diff_ids        TEXT NOT NULL,             -- space-separated, bottom first
    origin          TEXT NOT NULL,             -- 'archive' | 'bundle'
    signed_by       TEXT,
    added_at        INTEGER NOT NULL,
    PRIMARY KEY (ref, config_digest)
) WITHOUT ROWID;
)sql";

struct Migration {
    int to;
    const char* sql;
};
constexpr Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaV4}, {5, kSchemaV5}, {6, kSchemaV6},
                                   {7, kSchemaV7}, {8, kSchemaV8}};
constexpr int kCurrentVersion = 8;

base::Result<int> user_version(sqlite3* db) {
    auto s = sql::Stmt::prepare(db, "PRAGMA user_version");
    if (!s) return base::unexpected(s.error());
    if (s->step() != SQLITE_ROW) return base::unexpected(sql::error(db, "user_version"));
    return static_cast<int>(s->int64(0));
}

base::Result<void> migrate_locked(sqlite3* db) {
    auto version = user_version(db);
    if (!version) return base::unexpected(version.error());
    if (*version > kCurrentVersion)
        return base::unexpected(base::Error::from_errno(
            "baseline schema version " + std::to_string(*version) + " is newer than this layerlock", EPROTO));
    for (const Migration& m : kMigrations) {
        if (m.to <= *version) continue;
        if (auto r = sql::exec(db, m.sql); !r) return r;
        std::string set = "PRAGMA user_version = " + std::to_string(m.to);
        if (auto r = sql::exec(db, set.c_str()); !r) return r;
    }
    return {};
}

}  // namespace

base::Result<void> check_current(sqlite3* db) {
    auto v = user_version(db);
    if (!v) return base::unexpected(v.error());
    if (*v == kCurrentVersion) return {};
    return base::unexpected(base::Error::plain(
        "database schema version " + std::to_string(*v) + ", this layerlock reads version " +
        std::to_string(kCurrentVersion) + (*v < kCurrentVersion ? " (start layerlockd once to migrate it)" : "")));
}

base::Result<void> migrate(sqlite3* db) {
    // A current schema needs no write lock: readers (the gate's workers) must not
    // queue behind a layer import's long write transaction just to open the file.
    if (auto v = user_version(db); v && *v == kCurrentVersion) return {};
    if (auto r = sql::exec(db, "BEGIN IMMEDIATE"); !r) return r;
    auto r = migrate_locked(db);
    if (!r) {
        (void)sql::exec(db, "ROLLBACK");
        return r;
    }
    return sql::exec(db, "COMMIT");
}

}  // namespace layerlock::baseline::detail
