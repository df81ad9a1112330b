#include "identity/keys.hpp"

#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/log.hpp"

namespace skiff::identity {

using auth::jose::Key;
using std::chrono::system_clock;

namespace {

int64_t Unix(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
system_clock::time_point FromUnix(int64_t s) {
  return system_clock::time_point(std::chrono::seconds(s));
}

Result<Key> LoadKey(const json::object& o, std::string_view what) {
  auto alg = auth::jose::AlgFromName(GetString(o, "alg"));
  if (!alg) return InvalidArgument(std::string(what) + ": unknown alg");
  auto key = Key::FromPem(GetString(o, "pem"));
  if (!key) return key.error().WithPrefix(what);
  key->set_alg(*alg);
  key->set_kid(GetString(o, "kid"));
  if (key->kid().empty()) key->set_kid(key->Thumbprint());
  return key;
}

int64_t GetInt(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

Result<std::unique_ptr<KeyManager>> KeyManager::Open(std::string dir, auth::jose::Alg alg,
                                                     std::chrono::seconds rotation,
                                                     std::chrono::seconds token_ttl,
                                                     const Clock& clock) {
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  std::unique_ptr<KeyManager> m(new KeyManager(std::move(dir), alg, rotation, token_ttl, clock));
  std::lock_guard lock(m->rotate_mu_);
  bool rotate_now = false;
  SKIFF_RETURN_IF_ERROR(m->Load(&rotate_now));
  if (rotate_now) SKIFF_RETURN_IF_ERROR(m->Rotate());
  return m;
}

Status KeyManager::Load(bool* rotate_now) {
  std::string path = dir_ + "/keys.json";
  auto text = ReadFile(path, 1 << 20);
  if (!text) {
    if (text.error().code() != Code::kNotFound) return text.error().WithPrefix(path);
    *rotate_now = true;  // first start: make the first key
    return Status::Ok();
  }
  auto doc = ParseJsonObject(*text);
  if (!doc) return doc.error().WithPrefix(path);
  const json::object* s = GetObject(*doc, "signing");
  if (s == nullptr) return InvalidArgument(path + ": no signing key");
  SKIFF_ASSIGN_OR_RETURN(Key signing, LoadKey(*s, path + ": signing"));
  if (!signing.is_private()) return InvalidArgument(path + ": the signing key is not private");
  created_ = FromUnix(GetInt(*s, "created"));
  auto rotate_at = FromUnix(GetInt(*s, "rotateAt"));
  std::vector<Retired> retired;
  if (auto* v = doc->if_contains("verification"); v && v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      SKIFF_ASSIGN_OR_RETURN(Key k, LoadKey(e.as_object(), path + ": verification key"));
      retired.push_back({std::move(k), FromUnix(GetInt(e.as_object(), "expiresAt"))});
    }
  }
  // Never keep a key longer than the configured period, even if the period was shortened.
  if (rotate_at > created_ + rotation_) rotate_at = created_ + rotation_;
  if (signing.alg() != alg_) *rotate_now = true;
  Publish(std::move(signing), rotate_at, std::move(retired));
  return Status::Ok();
}

void KeyManager::Publish(Key signing, system_clock::time_point rotate_at,
                         std::vector<Retired> retired) {
  auto now = clock_.Now();
  std::erase_if(retired, [&](const Retired& r) { return r.expires_at <= now; });
  retired_ = std::move(retired);
  auto set = std::make_shared<auth::jose::KeySet>();
  auto pub = Key::FromPem(signing.PublicPem());
  if (pub) {
    pub->set_alg(*signing.alg());
    pub->set_kid(signing.kid());
    set->Add(std::move(*pub));
  }
  for (const auto& r : retired_) set->Add(r.key);
  auto snap = std::make_shared<Snapshot>();
  snap->signing = std::move(signing);
  snap->public_keys = std::move(set);
  snap->rotate_at = rotate_at;
  std::lock_guard lock(mu_);
  current_ = std::move(snap);
}

Status KeyManager::Save(const Key& signing, system_clock::time_point created,
                        system_clock::time_point rotate_at, const std::vector<Retired>& retired) {
  json::object doc;
  json::object s;
  SKIFF_ASSIGN_OR_RETURN(std::string pem, signing.PrivatePem());
  s["pem"] = pem;
  s["kid"] = signing.kid();
  s["alg"] = std::string(auth::jose::AlgName(*signing.alg()));
  s["created"] = Unix(created);
  s["rotateAt"] = Unix(rotate_at);
  doc["signing"] = std::move(s);
  json::array v;
  for (const auto& r : retired) {
    json::object e;
    e["pem"] = r.key.PublicPem();
    e["kid"] = r.key.kid();
    e["alg"] = std::string(auth::jose::AlgName(*r.key.alg()));
    e["expiresAt"] = Unix(r.expires_at);
    v.push_back(std::move(e));
  }
  doc["verification"] = std::move(v);
  return WriteFileAtomic(dir_ + "/keys.json", Serialize(doc), 0600);
}

Status KeyManager::Rotate() {
  auto now = clock_.Now();
  SKIFF_ASSIGN_OR_RETURN(Key fresh, Key::Generate(alg_));
  fresh.set_alg(alg_);
  fresh.set_kid(fresh.Thumbprint());
  std::vector<Retired> retired = retired_;
  if (auto cur = Current()) {
    auto pub = Key::FromPem(cur->signing.PublicPem());
    if (!pub) return pub.error();
    pub->set_alg(*cur->signing.alg());
    pub->set_kid(cur->signing.kid());
    retired.push_back({std::move(*pub), now + token_ttl_});
  }
  std::erase_if(retired, [&](const Retired& r) { return r.expires_at <= now; });
  auto rotate_at = now + rotation_;
  // On disk first: a crash after this point restarts with the new key.
  SKIFF_RETURN_IF_ERROR(Save(fresh, now, rotate_at, retired));
  created_ = now;
  spdlog::info("identity: signing key {} ({}) in use; {} older key(s) published", fresh.kid(),
               auth::jose::AlgName(alg_), retired.size());
  Publish(std::move(fresh), rotate_at, std::move(retired));
  return Status::Ok();
}

std::shared_ptr<const KeyManager::Snapshot> KeyManager::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

bool KeyManager::RotationDue() const {
  auto cur = Current();
  return !cur || clock_.Now() >= cur->rotate_at;
}

Status KeyManager::RotateIfDue() {
  std::lock_guard lock(rotate_mu_);
  if (!RotationDue()) {
    // Drop public keys whose tokens have all expired.
    auto now = clock_.Now();
    bool any = std::any_of(retired_.begin(), retired_.end(),
                           [&](const Retired& r) { return r.expires_at <= now; });
    if (any) {
      auto cur = Current();
      std::vector<Retired> kept = retired_;
      std::erase_if(kept, [&](const Retired& r) { return r.expires_at <= now; });
      SKIFF_RETURN_IF_ERROR(Save(cur->signing, created_, cur->rotate_at, kept));
      Publish(cur->signing, cur->rotate_at, std::move(kept));
    }
    return Status::Ok();
  }
  return Rotate();
}

}  // namespace skiff::identity
