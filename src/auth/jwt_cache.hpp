#pragma once
// VerifiedJwtCache: remembers JWTs whose signature and claims a JwtVerifier has checked, so a
// client that sends the same Bearer token on every request pays for the signature once
// (issue 5, "JWT verification costing under 10%: cache verified tokens until expiry").
//
// Keyed by SHA-256 of the exact token bytes: the token itself is never stored, so a dump of
// the cache holds no credential, and a token that differs in any byte is a different key. An
// entry holds the verified result and the key that verified it, and is served only while
//   - the wall clock `now` given to Find is within [cached_at, cached_at + max_age) (a clock
//     that went back counts as a miss), and
//   - the caller's checks pass (JwtVerifier re-validates exp/nbf/iss/aud at every hit and that
//     the key is still in the key source's current set, so a key removed from the JWKS stops
//     being honoured at the next refresh of the set, and anything else within max_age).
// Only successes are inserted; failures (bad signature, unknown key, expired) never are.
//
// Bounded: at most `max_entries` entries, least recently used evicted first, per shard.
// Thread-safe: 16 shards, each with its own mutex held only for a map lookup and a list splice
// (no crypto, no allocation on a hit); fit for I/O threads.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/jose.hpp"

namespace skiff::auth {

struct VerifiedJwt;

struct JwtCacheOptions {
  size_t max_entries = 10'000;           // 0 turns the cache off
  std::chrono::seconds max_age{5 * 60};  // the longest an entry is served, whatever its exp
};

class VerifiedJwtCache {
 public:
  using Digest = std::array<uint8_t, 32>;  // SHA-256 of the token

  // What was verified and with which key. `set` keeps `key` alive (it points into it).
  struct Entry {
    std::shared_ptr<const VerifiedJwt> jwt;
    std::shared_ptr<const jose::KeySet> set;
    const jose::Key* key = nullptr;
    std::chrono::system_clock::time_point cached_at;
  };

  explicit VerifiedJwtCache(JwtCacheOptions options);

  static Digest DigestOf(std::string_view token);

  bool enabled() const { return capacity_ > 0; }
  // The entry for `digest` when it is younger than max_age at `now` (and marks it recently
  // used); nullopt otherwise (an entry past max_age is removed).
  std::optional<Entry> Find(const Digest& digest, std::chrono::system_clock::time_point now);
  // Inserts or replaces; evicts the least recently used entry of the shard when full.
  void Insert(const Digest& digest, Entry entry);
  // Replaces the key-set snapshot of an entry (the same key found in a newer set), if present.
  void Rebind(const Digest& digest, std::shared_ptr<const jose::KeySet> set, const jose::Key* key);
  void Erase(const Digest& digest);
  void Clear();
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof(h));
      return h;
    }
  };
  struct Node {
    Digest digest;
    Entry entry;
  };
  struct Shard {
    mutable std::mutex mu;  // guards lru and index
    std::list<Node> lru;    // most recently used first
    std::unordered_map<Digest, std::list<Node>::iterator, DigestHash> index;
  };
  Shard& ShardFor(const Digest& d) { return shards_[d[31] % shards_.size()]; }

  const JwtCacheOptions options_;
  size_t capacity_ = 0;  // total bound: per_shard_ * shards_.size() <= max_entries
  size_t per_shard_ = 0;
  std::vector<Shard> shards_;  // fixed size after construction
};

}  // namespace skiff::auth
