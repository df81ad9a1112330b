#include "store/sqlite_db.hpp"

namespace skiff::store::sqlite {

Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // sqlite3_errmsg describes the most recent failure on the connection, which is this one as
  // long as the connection is used by one thread at a time.
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable("database is busy: " + msg);
    case SQLITE_FULL:
      return ResourceExhausted("database or disk is full: " + msg);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return FailedPrecondition(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {Code::kDataLoss, "database is corrupt: " + msg};
    default:
      return Internal("sqlite: " + msg);
  }
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFromSqlite(rc, db_, "step");
}

Status Statement::Run() {
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t Statement::ColumnInt(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string_view Statement::ColumnText(int index) const {
  const unsigned char* p = sqlite3_column_text(stmt_, index);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, index))};
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, bool read_only,
                                                     int busy_timeout_ms) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = StatusFromSqlite(rc, db, "opening database " + path);
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return StatusFromSqlite(rc, db_, sql);
  return Status::Ok();
}

Result<std::string> Connection::QueryText(const std::string& sql) {
  SKIFF_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal("sqlite: no result from " + sql);
  return std::string(st.ColumnText(0));
}

Result<int64_t> Connection::QueryInt(const std::string& sql) {
  SKIFF_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal("sqlite: no result from " + sql);
  return st.ColumnInt(0);
}

Result<Statement> Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return StatusFromSqlite(rc, db_, "preparing " + sql);
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(it->second, db_);
}

Result<Transaction> Transaction::Begin(Connection& conn, Kind kind) {
  SKIFF_RETURN_IF_ERROR(conn.Exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(conn);
}

Transaction::~Transaction() {
  if (open_) Rollback();
}

Status Transaction::Commit() {
  Status s = conn_->Exec("COMMIT");
  if (!s.ok()) {
    // A failed COMMIT may leave the transaction open (SQLITE_BUSY); never leave it half-done.
    Rollback();
    return s;
  }
  open_ = false;
  return Status::Ok();
}

void Transaction::Rollback() {
  open_ = false;
  if (!conn_->InAutocommit()) (void)conn_->Exec("ROLLBACK");
}

}  // namespace skiff::store::sqlite
