#pragma once
// A thin RAII layer over the SQLite C API for the SQLite store: connections with cached
// prepared statements, statements that reset themselves, and transactions that roll back unless
// committed. SQLite result codes become Status values here and nowhere else.
//
// Threading: a Connection (and its statements) is used by one thread at a time; the store
// decides which (the writer under its write mutex, a reader while leased from the pool).
// SQLite is opened with SQLITE_OPEN_NOMUTEX because of that rule.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff::store::sqlite {

// Maps a SQLite result code to a Status: BUSY/LOCKED -> Unavailable, FULL -> ResourceExhausted,
// CANTOPEN/READONLY/PERM -> FailedPrecondition (the operator must fix the path or permissions),
// CORRUPT/NOTADB -> DataLoss, anything else -> Internal. `what` says what was being done.
Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what);

// A prepared statement borrowed from a Connection's cache. Resets and clears its bindings when
// it goes out of scope so the next user starts clean. Column accessors are valid after Step()
// returned true, until the next Step() or destruction.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Statement(Statement&& other) noexcept : stmt_(other.stmt_), db_(other.db_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindNull(int index);

  // true when a row is available, false when done.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();

  int64_t ColumnInt(int index) const;
  std::string_view ColumnText(int index) const;  // empty for NULL
  bool ColumnIsNull(int index) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
};

class Connection {
 public:
  // Opens `path` (created when missing unless `read_only`). ":memory:" opens a private
  // in-memory database.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool read_only,
                                                  int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Executes one or more statements that return no rows we need (PRAGMAs, DDL, BEGIN, ...).
  Status Exec(const std::string& sql);
  // Runs a statement that returns one text value in its first row (e.g. "PRAGMA journal_mode").
  Result<std::string> QueryText(const std::string& sql);
  Result<int64_t> QueryInt(const std::string& sql);
  // A cached prepared statement for `sql`.
  Result<Statement> Prepare(const std::string& sql);

  sqlite3* db() const { return db_; }
  // True when no transaction is open (sqlite3_get_autocommit).
  bool InAutocommit() const { return sqlite3_get_autocommit(db_) != 0; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// A transaction on a connection: Begin() starts it ("BEGIN IMMEDIATE" for writers takes the
// write lock up front so a write never fails half-way on a lock upgrade; "BEGIN" for readers
// pins one WAL snapshot for all statements until the end). Rolls back on destruction unless
// Commit() succeeded.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static Result<Transaction> Begin(Connection& conn, Kind kind);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_), open_(other.open_) {
    other.open_ = false;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  // Returns only after SQLite reports the commit durable to the level `PRAGMA synchronous` asks.
  Status Commit();

 private:
  explicit Transaction(Connection& conn) : conn_(&conn), open_(true) {}
  void Rollback();
  Connection* conn_;
  bool open_;
};

}  // namespace skiff::store::sqlite
