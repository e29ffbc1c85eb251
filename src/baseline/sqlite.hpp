// SPDX-License-Identifier: Apache-2.0
// A thin RAII layer over the SQLite C API for the baseline module only (sqlite3.h
// stays in src/baseline). It owns connection and statement handles and turns
// SQLite result codes into base::Error values; it knows nothing of the schema.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "layerlock/base/result.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::baseline::sql {

struct DbDeleter {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbDeleter>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// An error from the connection's last failure; SQLITE_BUSY maps to EBUSY so that
// callers can tell contention from corruption.
base::Error error(sqlite3* db, std::string_view what);

base::Result<void> exec(sqlite3* db, const char* sql);

// A prepared statement, reset and re-bound for each use.
class Stmt {
public:
    Stmt() = default;
    static base::Result<Stmt> prepare(sqlite3* db, const char* sql);

    Stmt& reset() noexcept;
    Stmt& bind(int i, std::int64_t v) noexcept;
    Stmt& bind(int i, double v) noexcept;
    Stmt& bind_text(int i, std::string_view v) noexcept;
    Stmt& bind_blob(int i, std::string_view v) noexcept;   // bytes; never interpreted as UTF-8
    Stmt& bind_digest(int i, const model::Sha256& d) noexcept;
    Stmt& bind_null(int i) noexcept;

    int step() noexcept;                       // SQLITE_ROW, SQLITE_DONE or an error code
    base::Result<void> run();                  // step to completion, then reset

    std::int64_t int64(int col) const noexcept;
    double real(int col) const noexcept;
    std::string text(int col) const;
    std::string blob(int col) const;
    model::Sha256 digest(int col) const noexcept;  // all-zero when NULL or the wrong size
    bool is_null(int col) const noexcept;

    sqlite3_stmt* get() const noexcept { return s_.get(); }

private:
    explicit Stmt(sqlite3_stmt* s) : s_(s) {}
    StmtPtr s_;
};

}  // namespace layerlock::baseline::sql
