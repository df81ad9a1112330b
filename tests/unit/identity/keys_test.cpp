#include "identity/keys.hpp"

#include <gtest/gtest.h>

#include "core/fs.hpp"
#include "identity/throttle.hpp"
#include "test_util.hpp"

namespace skiff::identity {
namespace {

namespace jose = auth::jose;
using std::chrono::hours;
using std::chrono::seconds;

TEST(KeyManager, KeysPersistAndAnAlgorithmChangeRotatesKeepingTheOldKey) {
  testing::TmpDir dir;
  FakeClock clock;
  std::string kid;
  {
    auto m =
        KeyManager::Open(dir.path() + "/identity", jose::Alg::kRS256, hours(24), hours(1), clock);
    ASSERT_TRUE(m) << m.error();
    auto cur = (*m)->Current();
    kid = cur->signing.kid();
    EXPECT_EQ(kid, cur->signing.Thumbprint());
    EXPECT_TRUE(cur->signing.is_private());
    EXPECT_EQ(cur->public_keys->keys().size(), 1u);
    EXPECT_FALSE((*m)->RotationDue());
  }
  {
    auto again =
        KeyManager::Open(dir.path() + "/identity", jose::Alg::kRS256, hours(24), hours(1), clock);
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)->Current()->signing.kid(), kid);
  }
  auto es =
      KeyManager::Open(dir.path() + "/identity", jose::Alg::kES256, hours(24), hours(1), clock);
  ASSERT_TRUE(es) << es.error();
  auto cur = (*es)->Current();
  EXPECT_EQ(cur->signing.alg(), jose::Alg::kES256);
  ASSERT_EQ(cur->public_keys->keys().size(), 2u);
  EXPECT_EQ(cur->public_keys->Find(kid).size(), 1u);
  // A token signed by the new key verifies with the published set.
  json::object claims;
  claims["sub"] = "x";
  auto token = jose::Sign(cur->signing, claims);
  ASSERT_TRUE(token);
  auto jws = jose::Parse(*token);
  ASSERT_TRUE(jws);
  EXPECT_TRUE(jose::Verify(*jws, *cur->public_keys->Find(jws->kid)[0]).ok());
}

TEST(KeyManager, ShortenedRotationPeriodAppliesToTheStoredKey) {
  testing::TmpDir dir;
  FakeClock clock;
  ASSERT_TRUE(KeyManager::Open(dir.path(), jose::Alg::kRS256, hours(24), hours(1), clock));
  clock.Advance(hours(2));
  auto m = KeyManager::Open(dir.path(), jose::Alg::kRS256, hours(1), hours(1), clock);
  ASSERT_TRUE(m);
  EXPECT_TRUE((*m)->RotationDue());
  ASSERT_TRUE((*m)->RotateIfDue().ok());
  EXPECT_FALSE((*m)->RotationDue());
  EXPECT_EQ((*m)->Current()->public_keys->keys().size(), 2u);
}

TEST(KeyManager, ADamagedStateFileIsAnErrorNotANewKey) {
  testing::TmpDir dir;
  FakeClock clock;
  ASSERT_TRUE(KeyManager::Open(dir.path(), jose::Alg::kRS256, hours(24), hours(1), clock));
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/keys.json", "{\"signing\": 1", 0600).ok());
  auto m = KeyManager::Open(dir.path(), jose::Alg::kRS256, hours(24), hours(1), clock);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("keys.json"), std::string::npos) << m.error();
}

TEST(LoginThrottle, ExponentialWithACap) {
  FakeClock clock;
  LoginThrottle t(clock, 3, seconds(10));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(t.RetryAfter("u", "a").count(), 0);
    t.RecordFailure("u", "a");
  }
  EXPECT_EQ(t.RetryAfter("u", "a").count(), 1);
  EXPECT_EQ(t.RetryAfter("u", "other-address").count(), 1);  // per user
  EXPECT_EQ(t.RetryAfter("v", "a").count(), 0);              // the address allows 4x more
  for (int i = 0; i < 10; i++) t.RecordFailure("u", "a");
  EXPECT_EQ(t.RetryAfter("u", "b").count(), 10);  // 2^10 s capped at 10 s
  clock.Advance(seconds(10));
  EXPECT_EQ(t.RetryAfter("u", "b").count(), 0);
  t.RecordSuccess("u");
  t.RecordFailure("u", "b");
  EXPECT_EQ(t.RetryAfter("u", "b").count(), 0);  // the success cleared the user's count
}

TEST(LoginThrottle, MemoryIsBounded) {
  FakeClock clock;
  LoginThrottle t(clock, 1, seconds(60), /*max_entries=*/100);
  for (int i = 0; i < 1000; i++) {
    t.RecordFailure("user" + std::to_string(i), "addr" + std::to_string(i));
  }
  // The latest users are still tracked; the oldest were dropped.
  EXPECT_GT(t.RetryAfter("user999", "x").count(), 0);
  EXPECT_EQ(t.RetryAfter("user0", "x").count(), 0);
}

}  // namespace
}  // namespace skiff::identity
