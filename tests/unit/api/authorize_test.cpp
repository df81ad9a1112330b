// The resource API's authorization hook (every resource request, not discovery; 403 in the API
// server's words; 401 without a principal), its write observer (every committed object, deletes
// of a namespace's contents included) and computed kinds (KindInfo::review).
#include <gtest/gtest.h>

#include "api_fixture.hpp"

namespace skiff::api::testing {
namespace {

class AuthorizeTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    KindInfo review;
    review.group = "authorization.k8s.io";
    review.version = "v1";
    review.kind = "SelfSubjectAccessReview";
    review.plural = "selfsubjectaccessreviews";
    review.singular = "selfsubjectaccessreview";
    review.namespaced = false;
    review.verbs = {"create"};
    review.review = [](const Principal* who, json::object obj) -> Result<json::object> {
      obj["status"] = json::object{{"allowed", who != nullptr && who->name == "admin"},
                                   {"reason", who != nullptr ? who->name : "nobody"}};
      return obj;
    };
    ASSERT_TRUE(kinds_->Register(std::move(review)).ok());
    ApiOptions o;
    // admin: everything; alice: reads in team-a, and creating reviews.
    o.authorize = [this](const Principal& who, const RequestInfo& info) {
      asked_.push_back(info.verb + " " + info.resource + " " + info.ns + " " + info.name);
      if (who.name == "admin") return ApiOptions::Verdict{true, ""};
      if (info.resource == "selfsubjectaccessreviews") return ApiOptions::Verdict{true, ""};
      bool read = info.verb == "get" || info.verb == "list" || info.verb == "watch";
      if (read && info.ns == "team-a") return ApiOptions::Verdict{true, ""};
      return ApiOptions::Verdict{false, "needs kubeflow-edit in \"" + info.ns + "\""};
    };
    o.on_write = [this](const store::Object& obj, bool deleted) {
      written_.push_back(std::string(deleted ? "deleted " : "wrote ") + obj.key.resource + " " +
                         obj.key.ns + "/" + obj.key.name + "@" +
                         std::to_string(obj.resource_version));
    };
    api_ = std::make_unique<ResourceApi>(*kinds_, *store_, clock_, o);
    principal_ = Principal{"admin", {}, "token", true};
    ASSERT_EQ(CreateNamespace("team-a").status, 201);
    ASSERT_EQ(CreateNamespace("team-b").status, 201);
    written_.clear();
    asked_.clear();
  }

  Reply CreateWidget(std::string_view ns, std::string_view name) {
    return Do("POST", "/apis/example.com/v1/namespaces/" + std::string(ns) + "/widgets",
              R"({"metadata":{"name":")" + std::string(name) + R"("},"spec":{"replicas":1}})");
  }

  std::vector<std::string> asked_;
  std::vector<std::string> written_;
};

TEST_F(AuthorizeTest, ForbiddenInTheApiServersWords) {
  ASSERT_EQ(CreateWidget("team-b", "w").status, 201);
  principal_ = Principal{"alice", {}, "jwt", false};
  int writes = store_->writes();
  written_.clear();

  Reply r = Do("DELETE", "/apis/example.com/v1/namespaces/team-b/widgets/w");
  EXPECT_EQ(r.status, 403) << r;
  EXPECT_EQ(r.Str("kind"), "Status");
  EXPECT_EQ(r.Str("reason"), "Forbidden");
  EXPECT_EQ(r.At("code"), json::value(403));
  EXPECT_EQ(r.Str("message"),
            "widgets.example.com \"w\" is forbidden: User \"alice\" cannot delete resource "
            "\"widgets\" in API group \"example.com\" in the namespace \"team-b\": needs "
            "kubeflow-edit in \"team-b\"");
  EXPECT_EQ(r.Str("details.name"), "w");
  EXPECT_EQ(r.Str("details.group"), "example.com");
  EXPECT_EQ(r.Str("details.kind"), "widgets");

  // Core group, collection, cluster scope.
  r = Get("/api/v1/namespaces");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Str("message"),
            "namespaces is forbidden: User \"alice\" cannot list resource \"namespaces\" in API "
            "group \"\" at the cluster scope: needs kubeflow-edit in \"\"");
  // Subresource.
  r = Do("PUT", "/apis/example.com/v1/namespaces/team-a/widgets/w/status", "{}");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.Str("message").find("cannot update resource \"widgets/status\""), std::string::npos)
      << r;
  // Nothing was written by any refused request.
  EXPECT_EQ(store_->writes(), writes);
  EXPECT_TRUE(written_.empty());
}

TEST_F(AuthorizeTest, AskedForEveryResourceRequestWithThePathsNamespace) {
  ASSERT_EQ(CreateWidget("team-a", "w").status, 201);
  principal_ = Principal{"alice", {}, "jwt", false};
  asked_.clear();
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/team-a/widgets/w").status, 200);
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/team-a/widgets?labelSelector=a%3Db").status, 200);
  // Across namespaces, by label selector or not: cluster scope, refused.
  EXPECT_EQ(Get("/apis/example.com/v1/widgets?labelSelector=a%3Db").status, 403);
  EXPECT_EQ(Get("/apis/example.com/v1/widgets?watch=1").status, 403);
  EXPECT_EQ(Get("/apis/example.com/v1/watch/namespaces/team-b/widgets").status, 403);
  EXPECT_EQ(Get("/apis/example.com/v1/watch/namespaces/team-a/widgets?timeoutSeconds=1").status,
            200);
  EXPECT_EQ(asked_, (std::vector<std::string>{"get widgets team-a w", "list widgets team-a ",
                                              "list widgets  ", "watch widgets  ",
                                              "watch widgets team-b ", "watch widgets team-a "}));
  // Unknown resources are refused before they are looked up (no probing of what exists).
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/team-b/gadgets").status, 403);
}

TEST_F(AuthorizeTest, DiscoveryIsNotAskedButNeedsAPrincipal) {
  principal_ = Principal{"alice", {}, "jwt", false};
  for (const char* path : {"/api", "/api/v1", "/apis", "/apis/example.com/v1", "/version",
                           "/openapi/v3", "/openapi/v3/apis/example.com/v1"}) {
    EXPECT_EQ(Get(path).status, 200) << path;
  }
  EXPECT_TRUE(asked_.empty());
  principal_.reset();
  for (const char* path : {"/api", "/version", "/openapi/v3", "/api/v1/namespaces/team-a"}) {
    Reply r = Get(path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.Str("reason"), "Unauthorized");
  }
}

TEST_F(AuthorizeTest, BodyNamespaceDifferentFromThePathWritesNothing) {
  // alice may not write anywhere; admin may, but the body must agree with the path.
  Reply r = Do("POST", "/apis/example.com/v1/namespaces/team-a/widgets",
               R"({"metadata":{"name":"x","namespace":"team-b"}})");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_NE(r.Str("message").find("does not match the namespace"), std::string::npos);
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/team-b/widgets/x").status, 404);
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/team-a/widgets/x").status, 404);
  EXPECT_TRUE(written_.empty());
}

TEST_F(AuthorizeTest, OnWriteSeesEveryCommittedObject) {
  Reply c = CreateWidget("team-a", "w");
  ASSERT_EQ(c.status, 201);
  int64_t v1 = Rv(c);
  Reply p = Patch("/apis/example.com/v1/namespaces/team-a/widgets/w",
                  "application/merge-patch+json", R"({"spec":{"replicas":2}})");
  ASSERT_EQ(p.status, 200) << p;
  int64_t v2 = Rv(p);
  ASSERT_EQ(CreateWidget("team-b", "u").status, 201);
  Reply d = Do("DELETE", "/api/v1/namespaces/team-b");
  ASSERT_EQ(d.status, 200) << d;
  ASSERT_EQ(written_.size(), 5u);
  EXPECT_EQ(written_[0], "wrote widgets.example.com team-a/w@" + std::to_string(v1));
  EXPECT_EQ(written_[1], "wrote widgets.example.com team-a/w@" + std::to_string(v2));
  EXPECT_EQ(written_[2].substr(0, 32), "wrote widgets.example.com team-b");
  // The namespace's contents are reported as deleted with it.
  EXPECT_EQ(written_[3].substr(0, 36), "deleted widgets.example.com team-b/u");
  EXPECT_EQ(written_[4].substr(0, 26), "deleted namespaces /team-b");
  // A write that changes nothing commits nothing and reports nothing.
  written_.clear();
  ASSERT_EQ(Patch("/apis/example.com/v1/namespaces/team-a/widgets/w",
                  "application/merge-patch+json", R"({"spec":{"replicas":2}})")
                .status,
            200);
  EXPECT_TRUE(written_.empty());
  ASSERT_EQ(Do("DELETE", "/apis/example.com/v1/namespaces/team-a/widgets").status, 200);
  ASSERT_EQ(written_.size(), 1u);
  EXPECT_EQ(written_[0].substr(0, 36), "deleted widgets.example.com team-a/w");
}

TEST_F(AuthorizeTest, ReviewKindsAreComputedNotStored) {
  principal_ = Principal{"alice", {}, "jwt", false};
  const std::string path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
  Reply r = Do("POST", path,
               R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",)"
               R"("spec":{"resourceAttributes":{"verb":"get"}}})");
  EXPECT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.Str("kind"), "SelfSubjectAccessReview");
  EXPECT_EQ(r.At("status.allowed"), json::value(false));
  EXPECT_EQ(r.Str("status.reason"), "alice");
  EXPECT_EQ(r.Str("spec.resourceAttributes.verb"), "get");
  EXPECT_TRUE(written_.empty());
  EXPECT_EQ(Get(path).status, 405);
  EXPECT_EQ(Do("DELETE", path + "/x").status, 405);
  // Discovery lists it with the create verb only.
  Reply list = Get("/apis/authorization.k8s.io/v1");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.text.find("\"selfsubjectaccessreviews\""), std::string::npos);
  EXPECT_NE(list.text.find("\"verbs\":[\"create\"]"), std::string::npos) << list;
}

}  // namespace
}  // namespace skiff::api::testing
