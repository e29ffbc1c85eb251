// SPDX-License-Identifier: Apache-2.0
// Implementation of the RAII SQLite helpers: statement preparation, binding with
// SQLITE_TRANSIENT-free lifetimes (callers keep bound data alive until the next
// reset), and mapping of result codes to errors. No schema knowledge here.
#include "sqlite.hpp"

#include <cerrno>
#include <cstring>

namespace layerlock::baseline::sql {

base::Error error(sqlite3* db, std::string_view what) {
    int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
    std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no connection");
    int primary = code & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return base::Error::from_errno(std::move(msg), EBUSY);
    if (primary == SQLITE_NOMEM) return base::Error::from_errno(std::move(msg), ENOMEM);
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM)
        return base::Error::from_errno(std::move(msg), EACCES);
    return base::Error::from_errno(std::move(msg), EIO);
}

base::Result<void> exec(sqlite3* db, const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
        return base::unexpected(error(db, sql));
    return {};
}

base::Result<Stmt> Stmt::prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        return base::unexpected(error(db, std::string("prepare ") + sql));
    return Stmt(s);
}

Stmt& Stmt::reset() noexcept {
    sqlite3_reset(s_.get());
    sqlite3_clear_bindings(s_.get());
    return *this;
}

Stmt& Stmt::bind(int i, std::int64_t v) noexcept {
    sqlite3_bind_int64(s_.get(), i, v);
    return *this;
}

Stmt& Stmt::bind(int i, double v) noexcept {
    sqlite3_bind_double(s_.get(), i, v);
    return *this;
}

Stmt& Stmt::bind_text(int i, std::string_view v) noexcept {
    sqlite3_bind_text(s_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view v) noexcept {
    // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
    sqlite3_bind_blob(s_.get(), i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
}

Stmt& Stmt::bind_digest(int i, const model::Sha256& d) noexcept {
    sqlite3_bind_blob(s_.get(), i, d.data(), static_cast<int>(d.size()), SQLITE_STATIC);
    return *this;
}

Stmt& Stmt::bind_null(int i) noexcept {
    sqlite3_bind_null(s_.get(), i);
    return *this;
}

int Stmt::step() noexcept { return sqlite3_step(s_.get()); }

base::Result<void> Stmt::run() {
    int rc = step();
    while (rc == SQLITE_ROW) rc = step();
    if (rc != SQLITE_DONE) {
        base::Error e = error(sqlite3_db_handle(s_.get()), sqlite3_sql(s_.get()));
        reset();
        return base::unexpected(std::move(e));
    }
    reset();
    return {};
}

std::int64_t Stmt::int64(int col) const noexcept { return sqlite3_column_int64(s_.get(), col); }
double Stmt::real(int col) const noexcept { return sqlite3_column_double(s_.get(), col); }
bool Stmt::is_null(int col) const noexcept { return sqlite3_column_type(s_.get(), col) == SQLITE_NULL; }

std::string Stmt::text(int col) const {
    const unsigned char* p = sqlite3_column_text(s_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_.get(), col)))
             : std::string();
}

std::string Stmt::blob(int col) const {
    const void* p = sqlite3_column_blob(s_.get(), col);
    int n = sqlite3_column_bytes(s_.get(), col);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}

model::Sha256 Stmt::digest(int col) const noexcept {
    model::Sha256 d{};
    const void* p = sqlite3_column_blob(s_.get(), col);
    if (p && sqlite3_column_bytes(s_.get(), col) == static_cast<int>(d.size())) std::memcpy(d.data(), p, d.size());
    return d;
}

}  // namespace layerlock::baseline::sql
