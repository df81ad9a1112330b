#include "auth/jwt_cache.hpp"

#include <algorithm>

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

VerifiedJwtCache::Key VerifiedJwtCache::KeyOf(std::string_view token) {
  return Key{token, ProcessKeyedHash(token)};
}

std::unordered_multimap<uint64_t, std::list<VerifiedJwtCache::Node>::iterator>::iterator
VerifiedJwtCache::Locate(Shard& s, const Key& k) {
  auto [it, end] = s.index.equal_range(k.hash);
  for (; it != end; ++it) {
    if (ConstantTimeEquals(it->second->token, k.token)) return it;
  }
  return s.index.end();
}

std::optional<VerifiedJwtCache::Entry> VerifiedJwtCache::Find(
    const Key& key, std::chrono::system_clock::time_point now) {
  if (!enabled()) return std::nullopt;
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  auto it = Locate(s, key);
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

void VerifiedJwtCache::Insert(const Key& key, Entry entry) {
  if (!enabled()) return;
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  if (auto it = Locate(s, key); it != s.index.end()) {
    it->second->entry = std::move(entry);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  while (s.lru.size() >= per_shard_) {
    const auto last = std::prev(s.lru.end());
    auto [it, end] = s.index.equal_range(last->hash);
    while (it != end && it->second != last) ++it;
    SKIFF_CHECK(it != end);
    s.index.erase(it);
    s.lru.pop_back();
  }
  s.lru.push_front(Node{std::string(key.token), key.hash, std::move(entry)});
  s.index.emplace(key.hash, s.lru.begin());
}

void VerifiedJwtCache::Rebind(const Key& key, std::shared_ptr<const jose::KeySet> set,
                              const jose::Key* jwk) {
  if (!enabled()) return;
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  if (auto it = Locate(s, key); it != s.index.end()) {
    it->second->entry.set = std::move(set);
    it->second->entry.key = jwk;
  }
}

void VerifiedJwtCache::Erase(const Key& key) {
  if (!enabled()) return;
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  if (auto it = Locate(s, key); it != s.index.end()) {
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
