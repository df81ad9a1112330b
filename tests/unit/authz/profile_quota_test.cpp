// The object-count quota guard: count/<resource> in a namespace's ResourceQuotas limits creates
// through the API; other namespaces, other kinds and other verbs pass through.
#include "authz/profile_quota.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "authz/profile.hpp"
#include "unit/authz/profile_fakes.hpp"

namespace skiff::authz {
namespace {

using ::testing::HasSubstr;

constexpr char kIsvc[] = "inferenceservices.serving.kserve.io";

class QuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
    guard_ = std::make_unique<QuotaGuard>(*store_);
    ASSERT_TRUE(store_->Create(
        {std::string(kResourceQuotaResource), "alice", "kf-resource-quota"},
        json::object{
            {"metadata", json::object{{"name", "kf-resource-quota"}}},
            {"spec", json::object{{"hard", json::object{{std::string("count/") + kIsvc, "2"}}}}}}));
  }
  void AddIsvc(const std::string& ns, const std::string& name) {
    ASSERT_TRUE(store_->Create({kIsvc, ns, name},
                               json::object{{"metadata", json::object{{"name", name}}}}));
  }
  http::Response Post(const std::string& path, const std::string& name) {
    http::Request req;
    req.method = "POST";
    req.path = path;
    req.body = Serialize(json::object{{"metadata", json::object{{"name", name}}}});
    return wrapped_(req);
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<QuotaGuard> guard_;
  int api_calls_ = 0;
  http::SyncHandler wrapped_;
};

TEST_F(QuotaTest, CountsObjectsAgainstTheHardLimit) {
  EXPECT_TRUE(guard_->Check(kIsvc, "alice", "a").ok());
  AddIsvc("alice", "a");
  EXPECT_TRUE(guard_->Check(kIsvc, "alice", "b").ok());
  AddIsvc("alice", "b");
  Status s = guard_->Check(kIsvc, "alice", "c");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "inferenceservices.serving.kserve.io \"c\" is forbidden: exceeded quota: "
            "kf-resource-quota, requested: count/inferenceservices.serving.kserve.io=1, used: "
            "count/inferenceservices.serving.kserve.io=2, limited: "
            "count/inferenceservices.serving.kserve.io=2");
  // Other namespaces and kinds are not limited.
  AddIsvc("bob", "a");
  AddIsvc("bob", "b");
  EXPECT_TRUE(guard_->Check(kIsvc, "bob", "c").ok());
  EXPECT_TRUE(guard_->Check("virtualservices.networking.istio.io", "alice", "c").ok());
}

TEST_F(QuotaTest, WrapRefusesCreatesOverTheLimitBeforeTheApiRuns) {
  wrapped_ = guard_->Wrap([this](http::Request&) {
    ++api_calls_;
    return http::Response::Json(201, "{}");
  });
  const std::string path = "/apis/serving.kserve.io/v1beta1/namespaces/alice/inferenceservices";
  AddIsvc("alice", "a");
  AddIsvc("alice", "b");
  auto r = Post(path, "c");
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("exceeded quota: kf-resource-quota"));
  EXPECT_THAT(r.body, HasSubstr("\"kind\":\"Status\""));
  EXPECT_EQ(api_calls_, 0);
  // Another namespace, a non-create, a status write: through.
  EXPECT_EQ(Post("/apis/serving.kserve.io/v1beta1/namespaces/bob/inferenceservices", "c").status,
            201);
  http::Request get;
  get.method = "GET";
  get.path = path;
  EXPECT_EQ(wrapped_(get).status, 201);
  EXPECT_EQ(api_calls_, 2);
  // Under the limit again after a delete.
  ASSERT_TRUE(store_->Delete({kIsvc, "alice", "a"}, 0));
  EXPECT_EQ(Post(path, "c").status, 201);
}

TEST_F(QuotaTest, ConcurrentCreatesCannotBothTakeTheLastSlot) {
  // The "API" creates the object in the store, as the resource API does.
  wrapped_ = guard_->Wrap([this](http::Request& req) {
    std::string name = GetString(ParseJsonObject(req.body).value(), "metadata.name");
    auto created = store_->Create({kIsvc, "alice", name},
                                  json::object{{"metadata", json::object{{"name", name}}}});
    return http::Response::Json(created ? 201 : 409, "{}");
  });
  const std::string path = "/apis/serving.kserve.io/v1beta1/namespaces/alice/inferenceservices";
  std::vector<std::thread> threads;
  std::atomic<int> created{0}, refused{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      int status = Post(path, "m" + std::to_string(i)).status;
      if (status == 201) ++created;
      if (status == 403) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 2);
  EXPECT_EQ(refused.load(), 6);
  store::ListOptions lo;
  lo.ns = "alice";
  EXPECT_EQ(store_->List(kIsvc, lo)->items.size(), 2u);
}

}  // namespace
}  // namespace skiff::authz
