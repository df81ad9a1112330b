#include "auth/jwt_cache.hpp"

#include <algorithm>

#include "auth/auth.hpp"
#include "core/crypto.hpp"
#include "core/result.hpp"

namespace skiff::auth {

VerifiedJwtCache::VerifiedJwtCache(JwtCacheOptions options) : options_(options) {
  if (options_.max_entries == 0 || options_.max_age <= std::chrono::seconds(0)) return;
  const size_t shards = std::min<size_t>(16, options_.max_entries);
  per_shard_ = options_.max_entries / shards;
  capacity_ = per_shard_ * shards;
  shards_ = std::vector<Shard>(shards);
}

VerifiedJwtCache::Digest VerifiedJwtCache::DigestOf(std::string_view token) {
  return CredentialDigest(token);
}

std::optional<VerifiedJwtCache::Entry> VerifiedJwtCache::Find(
    const Digest& digest, std::chrono::system_clock::time_point now) {
  if (!enabled()) return std::nullopt;
  Shard& s = ShardFor(digest);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(digest);
  if (it == s.index.end()) return std::nullopt;
  const Entry& e = it->second->entry;
  if (now < e.cached_at || now >= e.cached_at + options_.max_age) {
    s.lru.erase(it->second);
    s.index.erase(it);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return e;
}

void VerifiedJwtCache::Insert(const Digest& digest, Entry entry) {
  if (!enabled()) return;
  Shard& s = ShardFor(digest);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(digest); it != s.index.end()) {
    it->second->entry = std::move(entry);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  while (s.lru.size() >= per_shard_) {
    s.index.erase(s.lru.back().digest);
    s.lru.pop_back();
  }
  s.lru.push_front(Node{digest, std::move(entry)});
  s.index.emplace(digest, s.lru.begin());
}

void VerifiedJwtCache::Rebind(const Digest& digest, std::shared_ptr<const jose::KeySet> set,
                              const jose::Key* key) {
  if (!enabled()) return;
  Shard& s = ShardFor(digest);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(digest); it != s.index.end()) {
    it->second->entry.set = std::move(set);
    it->second->entry.key = key;
  }
}

void VerifiedJwtCache::Erase(const Digest& digest) {
  if (!enabled()) return;
  Shard& s = ShardFor(digest);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(digest); it != s.index.end()) {
    s.lru.erase(it->second);
    s.index.erase(it);
  }
}

void VerifiedJwtCache::Clear() {
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.index.clear();
    s.lru.clear();
  }
}

size_t VerifiedJwtCache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.lru.size();
  }
  return n;
}

}  // namespace skiff::auth
