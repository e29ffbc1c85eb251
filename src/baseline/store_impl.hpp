// SPDX-License-Identifier: Apache-2.0
// Store::Impl (StoreDb), shared by store.cpp (schema, queries) and layer_import.cpp (the
// build protocol). One SQLite connection and its prepared statements; nothing
// here is thread-safe, exactly like the Store that owns it. Internal to src/baseline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "layerlock/baseline/store.hpp"
#include "sqlite.hpp"

namespace layerlock::baseline {

// Text names of entry kinds and layer states as stored (readable with sqlite3(1)).
std::string_view kind_name(EntryKind k);
EntryKind kind_from_name(std::string_view s);

// The connection and its statements; Store::Impl is this (named so that free
// functions of the module can take it: Store::Impl itself is private).
struct StoreDb {
    sql::DbPtr db;
    sql::Stmt layer_row;      // id, state, owner_pid, owner_start, files, bytes, seconds, entries by dir
    sql::Stmt entry_at;       // one layer's own entry at a path
    sql::Stmt layer_entries;  // every entry of a layer
    sql::Stmt digest_in;      // a regular file with this digest in a layer?
    sql::Stmt size_in;        // a regular file of this size in a layer?
    sql::Stmt insert_entry;
    sql::Stmt begin_read, end_read;   // Store::ReadSnapshot

    base::Result<void> prepare();
    // id of a Complete layer, nullopt otherwise.
    std::optional<std::int64_t> complete_id(const std::string& dir);
    // The row of entry_at / layer_entries (columns path, kind, sha256, size, mode, target).
    static Entry entry_from_row(const sql::Stmt& s, const std::string& layer);
};

struct Store::Impl : StoreDb {};

// Opens the database: ReadWrite creates the parent directories (0700), the file
// and the schema as needed; ReadOnly creates nothing.
base::Result<sql::DbPtr> open_db(const std::string& path, Access access);

// Canonical key of a layer directory: its real absolute path, or the input when
// it cannot be resolved (it then matches nothing that was imported).
std::string layer_key(const std::string& dir);

}  // namespace layerlock::baseline
