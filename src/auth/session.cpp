#include "auth/session.hpp"

#include "core/crypto.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "store/store.hpp"

namespace skiff::auth {

namespace {

using std::chrono::system_clock;

// Sessions are kept under a storage name no API kind uses, so they are never served.
constexpr std::string_view kResource = "sessions.auth.skiff.internal";

std::string Digest(std::string_view id) { return HexEncode(Sha256(id)); }

int64_t UnixSeconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

system_clock::time_point FromUnix(int64_t s) {
  return system_clock::time_point(std::chrono::seconds(s));
}

// The ID token stays in memory only: a copy of the database must not yield tokens that the
// gateway would accept as Bearer credentials. (After a restart, logout goes without
// id_token_hint.)
json::object ToObject(const std::string& name, const Session& s) {
  json::array groups;
  for (const auto& g : s.groups) groups.emplace_back(g);
  return json::object{{"metadata", json::object{{"name", name}}},
                      {"user", s.user},
                      {"groups", std::move(groups)},
                      {"created", UnixSeconds(s.created)},
                      {"lastSeen", UnixSeconds(s.last_seen)}};
}

Session FromObject(const json::object& o) {
  Session s;
  s.user = GetString(o, "user");
  if (const auto* g = o.if_contains("groups"); g && g->is_array()) {
    for (const auto& v : g->get_array()) {
      if (v.is_string()) s.groups.emplace_back(v.get_string());
    }
  }
  auto num = [&](std::string_view k) -> int64_t {
    const auto* v = o.if_contains(k);
    return v && v->is_int64() ? v->get_int64() : 0;
  };
  s.created = FromUnix(num("created"));
  s.last_seen = FromUnix(num("lastSeen"));
  return s;
}

}  // namespace

SessionStore::SessionStore(Clock& clock, SessionOptions options, store::Store* backing,
                           http::TaskRunner* writer)
    : clock_(clock),
      options_(options),
      backing_(backing),
      last_sweep_(clock.Now()),
      writer_(writer) {}

bool SessionStore::Expired(const Session& s) const {
  auto now = clock_.Now();
  return now - s.created >= options_.max_age || now - s.last_seen >= options_.idle_timeout;
}

void SessionStore::SweepLocked() {
  auto now = clock_.Now();
  if (now - last_sweep_ < std::chrono::minutes(1)) return;
  last_sweep_ = now;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (Expired(it->second)) {
      persisted_.erase(it->first);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  auto steady = clock_.Steady();
  for (auto it = misses_.begin(); it != misses_.end();) {
    it = it->second <= steady ? misses_.erase(it) : std::next(it);
  }
}

Result<std::string> SessionStore::Create(Session session) {
  std::string id = RandomToken(32);  // 256 bits
  std::string digest = Digest(id);
  session.created = session.last_seen = clock_.Now();
  if (backing_ != nullptr) {
    auto created =
        backing_->Create({std::string(kResource), "", digest}, ToObject(digest, session));
    if (!created) return created.error();
  }
  std::lock_guard lock(mu_);
  SweepLocked();
  persisted_[digest] = session.last_seen;
  sessions_[digest] = std::move(session);
  return id;
}

SessionStore::FindResult SessionStore::Find(std::string_view id, Session* out) {
  std::string digest = Digest(id);
  std::lock_guard lock(mu_);
  auto it = sessions_.find(digest);
  FindResult result;
  if (it == sessions_.end()) {
    auto miss = misses_.find(digest);
    bool known_miss = miss != misses_.end() && miss->second > clock_.Steady();
    result = backing_ && !known_miss ? FindResult::kUnknownHere : FindResult::kMissing;
  } else if (Expired(it->second)) {
    sessions_.erase(it);
    // The backing copy is removed by Delete or ignored by Load (it applies the same expiry).
    result = FindResult::kExpired;
  } else {
    it->second.last_seen = clock_.Now();
    *out = it->second;
    result = FindResult::kFound;
    auto& persisted = persisted_[digest];
    if (backing_ != nullptr && writer_ != nullptr &&
        it->second.last_seen - persisted >= options_.idle_timeout / 10) {
      persisted = it->second.last_seen;
      std::string name = digest;
      json::object obj = ToObject(name, it->second);
      store::Store* backing = backing_;
      writer_->Post([backing, name, obj = std::move(obj)]() mutable {
        auto r = backing->Update({std::string(kResource), "", name}, std::move(obj), 0);
        if (!r && r.error().code() != Code::kNotFound) {
          spdlog::warn("auth: cannot record session activity: {}", r.error().message());
        }
      });
    }
  }
  SweepLocked();
  return result;
}

Result<Session> SessionStore::Load(std::string_view id) {
  Session s;
  switch (Find(id, &s)) {
    case FindResult::kFound:
      return s;
    case FindResult::kExpired:
      return Unauthenticated("session expired");
    case FindResult::kMissing:
      return NotFound("no such session");
    case FindResult::kUnknownHere:
      break;
  }
  std::string digest = Digest(id);
  auto obj = backing_->Get({std::string(kResource), "", digest});
  if (!obj) {
    if (obj.error().code() == Code::kNotFound) {
      std::lock_guard lock(mu_);
      if (misses_.size() < 100'000) misses_[digest] = clock_.Steady() + std::chrono::minutes(1);
      return NotFound("no such session");
    }
    return obj.error();
  }
  s = FromObject(obj->object);
  if (Expired(s)) {
    (void)backing_->Delete({std::string(kResource), "", digest}, 0);
    return Unauthenticated("session expired");
  }
  auto persisted = s.last_seen;
  s.last_seen = clock_.Now();
  std::lock_guard lock(mu_);
  persisted_[digest] = persisted;
  sessions_[digest] = s;
  return s;
}

void SessionStore::Delete(std::string_view id) {
  std::string digest = Digest(id);
  {
    std::lock_guard lock(mu_);
    sessions_.erase(digest);
    persisted_.erase(digest);
  }
  if (backing_ != nullptr) {
    auto r = backing_->Delete({std::string(kResource), "", digest}, 0);
    if (!r && r.error().code() != Code::kNotFound) {
      spdlog::warn("auth: cannot delete a session from the store: {}", r.error().message());
    }
  }
}

size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace skiff::auth
