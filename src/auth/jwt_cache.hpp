#pragma once
// VerifiedJwtCache: remembers JWTs whose signature and claims a JwtVerifier has checked, so a
// client that sends the same Bearer token on every request pays for the signature once
// (issue 5, "JWT verification costing under 10%: cache verified tokens until expiry").
//
// Keyed by the exact token bytes: an entry holds a copy of its token, found through the
// token's SipHash-2-4 under a random per-process key (ProcessKeyedHash: clients cannot choose
// tokens that share a bucket, so no hash flooding) and then compared with the presented token
// in constant time (ConstantTimeEquals), so a token that differs in any byte is a different
// key and the comparison says nothing about a held token. (The cache holds verified tokens,
// which are bearer credentials until they expire, as the requests carrying them do; it held
// only their SHA-256 before, which cost a digest of the whole token on every request.) An
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

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
  // A presented token as the cache looks it up: the bytes and their keyed hash (KeyOf). Views
  // the caller's token. Tests may pick `hash` (it selects the shard by its top byte).
  struct Key {
    std::string_view token;
    uint64_t hash = 0;
  };

  // What was verified and with which key. `set` keeps `key` alive (it points into it).
  struct Entry {
    std::shared_ptr<const VerifiedJwt> jwt;
    std::shared_ptr<const jose::KeySet> set;
    const jose::Key* key = nullptr;
    std::chrono::system_clock::time_point cached_at;
  };

  explicit VerifiedJwtCache(JwtCacheOptions options);

  static Key KeyOf(std::string_view token);

  bool enabled() const { return capacity_ > 0; }
  // The entry for `key` when it is younger than max_age at `now` (and marks it recently
  // used); nullopt otherwise (an entry past max_age is removed).
  std::optional<Entry> Find(const Key& key, std::chrono::system_clock::time_point now);
  // Inserts or replaces; evicts the least recently used entry of the shard when full.
  void Insert(const Key& key, Entry entry);
  // Replaces the key-set snapshot of an entry (the same key found in a newer set), if present.
  void Rebind(const Key& key, std::shared_ptr<const jose::KeySet> set, const jose::Key* jwk);
  void Erase(const Key& key);
  void Clear();
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  struct Node {
    std::string token;
    uint64_t hash = 0;
    Entry entry;
  };
  struct Shard {
    mutable std::mutex mu;  // guards lru and index
    std::list<Node> lru;    // most recently used first
    // hash -> node; several nodes share a hash only by a 2^-64 chance, each is compared.
    std::unordered_multimap<uint64_t, std::list<Node>::iterator> index;
  };
  Shard& ShardFor(const Key& k) { return shards_[(k.hash >> 56) % shards_.size()]; }
  // The index entry of `k`'s node (its token compared in constant time), or index.end().
  static std::unordered_multimap<uint64_t, std::list<Node>::iterator>::iterator Locate(
      Shard& s, const Key& k);

  const JwtCacheOptions options_;
  size_t capacity_ = 0;  // total bound: per_shard_ * shards_.size() <= max_entries
  size_t per_shard_ = 0;
  std::vector<Shard> shards_;  // fixed size after construction
};

}  // namespace skiff::auth
