#pragma once
// Server-side browser sessions. A session id is 256 random bits minted only after a successful
// login; the server keeps only its SHA-256 (in memory, and in the resource store when one is
// given, so sessions survive a restart). Idle and absolute expiry follow the injected clock.
//
// Thread-safety: every method is thread-safe (one mutex guards the in-memory map). Find never
// blocks; Create, Delete and Load touch the backing store (SQLite) and block: call them from the
// blocking pool when a backing store is set.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::store {
class Store;
}

namespace skiff::auth {

struct Session {
  std::string user;
  std::vector<std::string> groups;
  std::string id_token;  // the provider's ID token for logout's id_token_hint (memory only)
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point last_seen;
};

struct SessionOptions {
  std::chrono::seconds idle_timeout{8 * 3600};
  std::chrono::seconds max_age{24 * 3600};
};

class SessionStore {
 public:
  // `backing` may be null (memory only); otherwise not owned and must outlive this object.
  // `writer` (optional, not owned) runs the backing store's idle-timer updates off the caller's
  // thread: Find posts one when a session's last persisted activity is older than a tenth of
  // the idle timeout, so that idle expiry survives a restart.
  SessionStore(Clock& clock, SessionOptions options, store::Store* backing,
               http::TaskRunner* writer = nullptr);

  // Stores `session` (created/last_seen set to now) under a new random id; returns the id (the
  // cookie value). Blocking when a backing store is set.
  Result<std::string> Create(Session session);

  enum class FindResult { kFound, kMissing, kExpired, kUnknownHere };
  // Looks the id up in memory and, when found and not expired, refreshes its idle timer.
  // kUnknownHere: not in memory but a backing store exists, so Load may still find it. Ids
  // that Load recently did not find answer kMissing at once (bogus cookies cost no I/O).
  FindResult Find(std::string_view id, Session* out);
  // Memory, then the backing store (blocking). NotFound or Unauthenticated ("session expired").
  Result<Session> Load(std::string_view id);
  // Forgets the session (memory and backing store; blocking when one is set).
  void Delete(std::string_view id);

  const SessionOptions& options() const { return options_; }
  size_t size() const;

 private:
  bool Expired(const Session& s) const;
  // Drops expired sessions from memory. REQUIRES: mu_ held.
  void SweepLocked();

  Clock& clock_;
  SessionOptions options_;
  store::Store* backing_;
  mutable std::mutex mu_;
  std::map<std::string, Session, std::less<>> sessions_;  // hex(sha256(id)) -> session; mu_
  std::chrono::system_clock::time_point last_sweep_;      // mu_
  http::TaskRunner* writer_;
  // hex(sha256(id)) -> last_seen as last written to the backing store; mu_
  std::map<std::string, std::chrono::system_clock::time_point, std::less<>> persisted_;
  // Digests Load did not find, until when they are answered kMissing without I/O; mu_
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> misses_;
};

}  // namespace skiff::auth
