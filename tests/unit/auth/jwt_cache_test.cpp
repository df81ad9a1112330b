// The verified-JWT cache (jwt_cache.hpp) and JwtVerifier's use of it: a hit skips the signature,
// expiry and max-age are checked at every hit against the injected clock, a token differing by
// one byte is never served from the cache, failures are never cached, a key removed from the
// key source stops being honoured, the size bound holds, and concurrent use is safe.

#include "auth/jwt_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <thread>
#include <vector>

#include "auth/auth.hpp"
#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/json.hpp"

namespace skiff::auth {
namespace {

using std::chrono::seconds;

constexpr std::string_view kIssuer = "https://issuer.test";

class JwtCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const Result<jose::Key> rsa = jose::Key::Generate(jose::Alg::kRS256);
    static const Result<jose::Key> ec = jose::Key::Generate(jose::Alg::kES256);
    ASSERT_TRUE(rsa && ec);
    rsa_ = *rsa;
    rsa_.set_kid("rsa1");
    ec_ = *ec;
    ec_.set_kid("ec1");
    source_ = std::make_shared<StaticKeySource>(SetOf({&rsa_, &ec_}));
  }

  static std::shared_ptr<const jose::KeySet> SetOf(std::vector<const jose::Key*> keys) {
    auto set = std::make_shared<jose::KeySet>();
    for (const jose::Key* k : keys) set->Add(*jose::Key::FromJwk(k->PublicJwk()));
    return set;
  }

  std::unique_ptr<JwtVerifier> Verifier(JwtCacheOptions cache = {}) const {
    JwtVerifierOptions o;
    o.algorithms = {jose::Alg::kRS256, jose::Alg::kES256};
    o.claims.issuers = {std::string(kIssuer)};
    o.claims.audiences = {"skiff"};
    o.claims.skew = seconds(30);
    o.cache = cache;
    return std::make_unique<JwtVerifier>(o, source_);
  }

  int64_t NowSec() const {
    return std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count();
  }

  std::string Token(const jose::Key& key, std::string sub = "alice", int64_t ttl = 300) const {
    json::object c;
    c["iss"] = kIssuer;
    c["aud"] = "skiff";
    c["sub"] = std::move(sub);
    c["iat"] = NowSec();
    c["exp"] = NowSec() + ttl;
    return *jose::Sign(key, c);
  }

  FakeClock clock_;
  jose::Key rsa_, ec_;
  std::shared_ptr<StaticKeySource> source_;
};

TEST_F(JwtCacheTest, HitReturnsTheSameClaimsWithoutCheckingTheSignatureAgain) {
  auto v = Verifier();
  for (const jose::Key* key : {&rsa_, &ec_}) {
    const std::string token = Token(*key);
    const uint64_t checks = v->stats().signature_checks;
    auto first = v->Verify(token, clock_.Now());
    ASSERT_TRUE(first) << first.error();
    EXPECT_EQ(v->stats().signature_checks, checks + 1);
    clock_.Advance(seconds(10));
    for (int i = 0; i < 5; ++i) {
      auto again = v->Verify(token, clock_.Now());
      ASSERT_TRUE(again) << again.error();
      EXPECT_EQ(Serialize(again->claims), Serialize(first->claims));
      EXPECT_EQ(again->kid, key->kid());
      EXPECT_EQ(again->alg, first->alg);
    }
    EXPECT_EQ(v->stats().signature_checks, checks + 1);
  }
  EXPECT_EQ(v->stats().cache_hits, 10u);
  EXPECT_EQ(v->stats().cache_misses, 2u);
  // The shared form hands out the very object the cache holds.
  const std::string token = Token(ec_, "bob");
  auto a = v->VerifyShared(token, clock_.Now());
  auto b = v->VerifyOrRefreshShared(token, clock_.Now());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
}

TEST_F(JwtCacheTest, ExpiredEntryIsRefusedAtTheHit) {
  JwtCacheOptions long_lived;
  long_lived.max_age = std::chrono::hours(1);
  auto v = Verifier(long_lived);
  const std::string token = Token(ec_, "alice", /*ttl=*/60);
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  clock_.Advance(seconds(89));  // exp + skew (30 s) not yet reached
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  const uint64_t checks = v->stats().signature_checks;
  clock_.Advance(seconds(2));
  auto r = v->Verify(token, clock_.Now());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
  EXPECT_EQ(r.error().message().rfind("token expired at ", 0), 0u) << r.error();
  EXPECT_FALSE(NeedsKeyRefresh(r.error()));
  // Refused from the entry (no signature check), and the entry is gone.
  EXPECT_EQ(v->stats().signature_checks, checks);
  EXPECT_EQ(v->cache().size(), 0u);
  EXPECT_FALSE(v->Verify(token, clock_.Now()));
}

// FindCached answers from the cache alone: nothing before a first verification, the shared
// result after it, and the claims' refusal once they no longer pass.
TEST_F(JwtCacheTest, FindCachedAnswersOnlyWhatWasVerified) {
  auto v = Verifier();
  const std::string token = Token(rsa_, "alice", /*ttl=*/60);
  const auto key = VerifiedJwtCache::KeyOf(token);
  EXPECT_FALSE(v->FindCached(key, clock_.Now()).has_value());
  auto first = v->VerifyShared(token, clock_.Now());
  ASSERT_TRUE(first) << first.error();
  auto hit = v->FindCached(key, clock_.Now());
  ASSERT_TRUE(hit.has_value());
  ASSERT_TRUE(*hit);
  EXPECT_EQ(hit->value().get(), first->get());
  EXPECT_FALSE(v->FindCached(VerifiedJwtCache::KeyOf(token + "x"), clock_.Now()).has_value());
  clock_.Advance(seconds(91));  // past exp + skew
  auto expired = v->FindCached(key, clock_.Now());
  ASSERT_TRUE(expired.has_value());
  ASSERT_FALSE(*expired);
  EXPECT_EQ(expired->error().code(), Code::kUnauthenticated);
  EXPECT_FALSE(v->FindCached(key, clock_.Now()).has_value());  // the entry is gone
}

TEST_F(JwtCacheTest, EntriesLiveAtMostMaxAge) {
  JwtCacheOptions short_lived;
  short_lived.max_age = seconds(300);
  auto v = Verifier(short_lived);
  const std::string token = Token(rsa_, "alice", /*ttl=*/3600);
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  clock_.Advance(seconds(299));
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  EXPECT_EQ(v->stats().signature_checks, 1u);
  clock_.Advance(seconds(1));
  ASSERT_TRUE(v->Verify(token, clock_.Now()));  // verified afresh, and cached again
  EXPECT_EQ(v->stats().signature_checks, 2u);
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  EXPECT_EQ(v->stats().signature_checks, 2u);
  // A wall clock that went back does not stretch an entry's life: verified in full.
  ASSERT_TRUE(v->Verify(token, clock_.Now() - seconds(5)));
  EXPECT_EQ(v->stats().signature_checks, 3u);
}

TEST_F(JwtCacheTest, ATokenDifferingByOneByteIsNotServedFromTheCache) {
  auto v = Verifier();
  const std::string good = Token(rsa_);
  ASSERT_TRUE(v->Verify(good, clock_.Now()));
  const size_t d1 = good.find('.');
  const size_t d2 = good.find('.', d1 + 1);
  // One byte in the middle of the header, the payload and the signature (not a last
  // character, whose slack bits could decode to the same bytes).
  for (size_t pos : {d1 / 2, (d1 + d2) / 2, (d2 + good.size()) / 2}) {
    std::string bad = good;
    bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
    const uint64_t checks = v->stats().signature_checks;
    auto r = v->Verify(bad, clock_.Now());
    ASSERT_FALSE(r) << "position " << pos;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
    EXPECT_LE(v->stats().signature_checks, checks + 1);
  }
  // The good token is still served, and nothing bad was added.
  EXPECT_EQ(v->cache().size(), 1u);
  ASSERT_TRUE(v->Verify(good, clock_.Now()));
}

TEST_F(JwtCacheTest, BadSignaturesAreNeverCached) {
  auto v = Verifier();
  auto stranger = jose::Key::Generate(jose::Alg::kES256);
  ASSERT_TRUE(stranger);
  stranger->set_kid("ec1");  // claims a real kid; the signature is the stranger's
  const std::string forged = Token(*stranger, "admin");
  for (int i = 1; i <= 3; ++i) {
    auto r = v->Verify(forged, clock_.Now());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "signature does not verify");
    EXPECT_EQ(v->stats().signature_checks, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(v->cache().size(), 0u);
  EXPECT_EQ(v->stats().cache_hits, 0u);
}

TEST_F(JwtCacheTest, AKeyRemovedFromTheSourceIsNoLongerHonoured) {
  auto v = Verifier();
  const std::string token = Token(rsa_);
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  // A refresh that brings the same public key (a new snapshot, new objects) keeps the entry.
  source_->Set(SetOf({&rsa_, &ec_}));
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  EXPECT_EQ(v->stats().signature_checks, 1u);
  EXPECT_EQ(v->stats().cache_hits, 1u);
  // The key is rotated out: the entry is dropped and the token refused.
  source_->Set(SetOf({&ec_}));
  auto r = v->Verify(token, clock_.Now());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unknown kid \"rsa1\"");
  EXPECT_EQ(v->cache().size(), 0u);
  // Another key under the same kid does not inherit the entry either.
  EXPECT_FALSE(v->Verify(token, clock_.Now()));
  source_->Set(SetOf({&rsa_}));
  ASSERT_TRUE(v->Verify(token, clock_.Now()));  // cached again under rsa1
  auto impostor = jose::Key::Generate(jose::Alg::kRS256);
  ASSERT_TRUE(impostor);
  impostor->set_kid("rsa1");
  source_->Set(SetOf({&*impostor}));
  auto r2 = v->Verify(token, clock_.Now());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message(), "signature does not verify");
}

// The cached path never serves what a full verification refuses: a token for another audience
// or another issuer is never cached, and a cached one stops being served at exp + skew exactly
// (not later), also when the key set it was verified with was replaced meanwhile.
TEST_F(JwtCacheTest, CachedPathRefusesWhatAFullVerificationRefuses) {
  JwtCacheOptions long_lived;
  long_lived.max_age = std::chrono::hours(1);
  auto v = Verifier(long_lived);
  json::object c;
  c["iss"] = kIssuer;
  c["aud"] = "someone-else";
  c["sub"] = "mallory";
  c["exp"] = NowSec() + 300;
  const std::string wrong_aud = *jose::Sign(rsa_, c);
  c["aud"] = "skiff";
  c["iss"] = "https://other.test";
  const std::string wrong_iss = *jose::Sign(rsa_, c);
  for (int i = 0; i < 2; ++i) {
    auto r = v->Verify(wrong_aud, clock_.Now());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "aud \"someone-else\" is not an accepted audience");
    auto r2 = v->Verify(wrong_iss, clock_.Now());
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().message(), "iss \"https://other.test\" is not an accepted issuer");
  }
  EXPECT_EQ(v->cache().size(), 0u);
  EXPECT_EQ(v->stats().cache_hits, 0u);
  const std::string token = Token(rsa_, "alice", /*ttl=*/60);
  const uint64_t checks = v->stats().signature_checks;  // the refusals above checked theirs
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  source_->Set(SetOf({&rsa_, &ec_}));  // same keys, new snapshot: the entry is kept, rebound
  clock_.Advance(seconds(89));
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  clock_.Advance(std::chrono::milliseconds(999));  // 1 ms before exp + skew
  ASSERT_TRUE(v->Verify(token, clock_.Now()));
  EXPECT_EQ(v->stats().signature_checks, checks + 1);
  clock_.Advance(std::chrono::milliseconds(1));  // exp + skew
  auto r = v->Verify(token, clock_.Now());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind("token expired at ", 0), 0u) << r.error();
  EXPECT_EQ(v->stats().signature_checks, checks + 1);
}

// The verified result records the times its claims are valid within, for the cached path.
TEST_F(JwtCacheTest, VerifiedResultCarriesItsClaimTimes) {
  auto v = Verifier();
  const std::string token = Token(ec_, "alice", /*ttl=*/120);
  auto r = v->VerifyShared(token, clock_.Now());
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE((*r)->times.known);
  EXPECT_EQ((*r)->times.exp, static_cast<double>(NowSec() + 120));
  EXPECT_EQ((*r)->times.not_before, static_cast<double>(NowSec()));  // iat
}

TEST_F(JwtCacheTest, DisabledCacheChecksEverySignature) {
  JwtCacheOptions off;
  off.max_entries = 0;
  auto v = Verifier(off);
  const std::string token = Token(ec_);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(v->Verify(token, clock_.Now()));
    EXPECT_EQ(v->stats().signature_checks, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(v->cache().size(), 0u);
  EXPECT_EQ(v->stats().cache_hits, 0u);
}

TEST_F(JwtCacheTest, SizeBoundHoldsThroughTheVerifier) {
  JwtCacheOptions small;
  small.max_entries = 40;
  auto v = Verifier(small);
  EXPECT_LE(v->cache().capacity(), 40u);
  EXPECT_GT(v->cache().capacity(), 0u);
  std::string last;
  for (int i = 0; i < 200; ++i) {
    last = Token(ec_, "user" + std::to_string(i));
    ASSERT_TRUE(v->Verify(last, clock_.Now()));
    ASSERT_LE(v->cache().size(), v->cache().capacity());
  }
  EXPECT_GE(v->cache().size(), v->cache().capacity() / 2);  // it does hold entries
  const uint64_t checks = v->stats().signature_checks;
  ASSERT_TRUE(v->Verify(last, clock_.Now()));  // the most recent one is still there
  EXPECT_EQ(v->stats().signature_checks, checks);
}

// A key whose hash puts it in shard `shard_byte % 16` (the top byte picks the shard); `id`
// tells keys apart (token and hash).
VerifiedJwtCache::Key KeyIn(uint8_t shard_byte, uint8_t id) {
  static std::deque<std::string> tokens;  // the keys view them
  tokens.push_back("token-" + std::to_string(shard_byte) + "-" + std::to_string(id));
  return VerifiedJwtCache::Key{tokens.back(), (uint64_t{shard_byte} << 56) | id};
}

TEST(VerifiedJwtCache, EvictsTheLeastRecentlyUsedOfAShard) {
  JwtCacheOptions o;
  o.max_entries = 64;  // 16 shards of 4
  VerifiedJwtCache cache(o);
  ASSERT_EQ(cache.capacity(), 64u);
  const auto now = std::chrono::system_clock::time_point(seconds(1'700'000'000));
  auto entry = [&] {
    VerifiedJwtCache::Entry e;
    e.jwt = std::make_shared<VerifiedJwt>();
    e.cached_at = now;
    return e;
  };
  for (uint8_t id = 0; id < 4; ++id) cache.Insert(KeyIn(16, id), entry());  // shard 0
  ASSERT_TRUE(cache.Find(KeyIn(16, 0), now));  // 0 is now the most recent
  cache.Insert(KeyIn(32, 4), entry());         // same shard: evicts 1
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_TRUE(cache.Find(KeyIn(16, 0), now));
  EXPECT_FALSE(cache.Find(KeyIn(16, 1), now));
  EXPECT_TRUE(cache.Find(KeyIn(16, 2), now));
  EXPECT_TRUE(cache.Find(KeyIn(32, 4), now));
  // Re-inserting a present key replaces it without growing.
  cache.Insert(KeyIn(16, 2), entry());
  EXPECT_EQ(cache.size(), 4u);
  // Filling every shard never exceeds the total bound.
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(KeyIn(static_cast<uint8_t>(i), static_cast<uint8_t>(i / 256 + 10)), entry());
    ASSERT_LE(cache.size(), 64u);
  }
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  // Odd bounds round down, never up.
  o.max_entries = 10;
  EXPECT_EQ(VerifiedJwtCache(o).capacity(), 10u);
  o.max_entries = 100;
  EXPECT_LE(VerifiedJwtCache(o).capacity(), 100u);
}

TEST(VerifiedJwtCache, KeyIsTheTokensBytes) {
  const auto now = std::chrono::system_clock::time_point(seconds(1'700'000'000));
  VerifiedJwtCache cache(JwtCacheOptions{});
  VerifiedJwtCache::Entry e;
  e.jwt = std::make_shared<VerifiedJwt>();
  e.cached_at = now;
  const std::string held = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
  const auto key = VerifiedJwtCache::KeyOf(held);
  EXPECT_EQ(key.token, held);
  EXPECT_EQ(key.hash, VerifiedJwtCache::KeyOf(std::string(held)).hash);  // bytes, not address
  cache.Insert(key, e);
  EXPECT_TRUE(cache.Find(VerifiedJwtCache::KeyOf(std::string(held)), now));
  // A token of the same length differing in one byte (first, middle, last) is another key.
  for (size_t i : {size_t{0}, held.size() / 2, held.size() - 1}) {
    std::string other = held;
    other[i] = other[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(cache.Find(VerifiedJwtCache::KeyOf(other), now)) << i;
    // Even when its hash is the held token's (a collision): the bytes are compared.
    EXPECT_FALSE(cache.Find(VerifiedJwtCache::Key{other, key.hash}, now)) << i;
  }
  EXPECT_FALSE(cache.Find(VerifiedJwtCache::Key{held + "x", key.hash}, now));
  EXPECT_FALSE(cache.Find(VerifiedJwtCache::Key{held.substr(1), key.hash}, now));
  // Two tokens under one hash are two entries, each found by its own bytes.
  VerifiedJwtCache::Entry e2 = e;
  e2.jwt = std::make_shared<VerifiedJwt>();
  const std::string twin = held + "2";
  cache.Insert(VerifiedJwtCache::Key{twin, key.hash}, e2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(key, now)->jwt, e.jwt);
  EXPECT_EQ(cache.Find(VerifiedJwtCache::Key{twin, key.hash}, now)->jwt, e2.jwt);
  cache.Erase(key);
  EXPECT_FALSE(cache.Find(key, now));
  EXPECT_TRUE(cache.Find(VerifiedJwtCache::Key{twin, key.hash}, now));
}

TEST_F(JwtCacheTest, ConcurrentVerifiesAgreeWithTheSignature) {
  JwtCacheOptions small;
  small.max_entries = 32;  // smaller than the token set: hits, misses and evictions race
  auto v = Verifier(small);
  std::vector<std::string> good, bad;
  for (int i = 0; i < 48; ++i) {
    good.push_back(Token(i % 2 ? ec_ : rsa_, "user" + std::to_string(i)));
    std::string b = good.back();
    const size_t mid = b.find('.') + 10;
    b[mid] = b[mid] == 'A' ? 'B' : 'A';
    bad.push_back(std::move(b));
  }
  const auto now = clock_.Now();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 600; ++i) {
        const size_t n = static_cast<size_t>((i * 7 + t * 13) % 48);
        auto r = v->VerifyShared(good[n], now);
        if (!r || GetString((*r)->claims, "sub") != "user" + std::to_string(n)) ++wrong;
        if (i % 5 == 0 && v->Verify(bad[n], now)) ++wrong;
        if (i % 50 == 0) source_->Set(SetOf({&rsa_, &ec_}));  // refreshes race with hits
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(v->cache().size(), v->cache().capacity());
  EXPECT_GT(v->stats().cache_hits, 0u);
}

}  // namespace
}  // namespace skiff::auth
