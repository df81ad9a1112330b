// Access reviews: SelfSubjectAccessReview (resource and non-resource), SelfSubjectRulesReview
// and SubjectAccessReview over the real RbacAuthorizer, and the kinds' registration.
#include "authz/review.hpp"

#include <gtest/gtest.h>

#include "api/kind.hpp"
#include "authz/rolebinding.hpp"
#include "authz/roles.hpp"
#include "store/store.hpp"
#include "unit/authz/profile_fakes.hpp"

namespace skiff::authz {
namespace {

json::object Obj(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.has_value()) << text;
  return v->as_object();
}

class ReviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
    auto rb = Obj(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
      "metadata":{"name":"alice","namespace":"team-a"},
      "subjects":[{"kind":"User","name":"alice"}],
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole",
                 "name":"kubeflow-edit"}})");
    ASSERT_TRUE(store_->Create({std::string(kRoleBindingResource), "team-a", "alice"}, rb));
    RbacOptions opts;
    opts.admin_users = {"root"};
    authz_ = std::make_unique<RbacAuthorizer>(*store_, opts);
    ASSERT_TRUE(authz_->Start().ok());
    ASSERT_TRUE(api::RegisterCoreKinds(kinds_).ok());
    ASSERT_TRUE(RegisterRbacKinds(kinds_).ok());
    ASSERT_TRUE(RegisterReviewKinds(kinds_, *authz_).ok());
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<RbacAuthorizer> authz_;
  api::KindRegistry kinds_;
  Principal alice_{"alice", {}, "jwt", false};
};

TEST_F(ReviewTest, SelfSubjectAccessReview) {
  auto yes = AccessReview(*authz_, alice_, Obj(R"({"spec":{"resourceAttributes":{
      "namespace":"team-a","verb":"delete","group":"serving.kserve.io",
      "resource":"inferenceservices","name":"m"}}})"));
  ASSERT_TRUE(yes.has_value());
  EXPECT_EQ(Find(*yes, "status.allowed")->as_bool(), true);
  EXPECT_EQ(GetString(*yes, "status.reason"),
            "alice may \"delete\" inferenceservices.serving.kserve.io \"m\" in namespace "
            "\"team-a\" (kubeflow-edit)");
  // The spec is echoed.
  EXPECT_EQ(GetString(*yes, "spec.resourceAttributes.name"), "m");

  auto no = AccessReview(*authz_, alice_, Obj(R"({"spec":{"resourceAttributes":{
      "namespace":"team-a","verb":"create","group":"rbac.authorization.k8s.io",
      "resource":"rolebindings"}}})"));
  ASSERT_TRUE(no.has_value());
  EXPECT_EQ(Find(*no, "status.allowed")->as_bool(), false);
  EXPECT_NE(GetString(*no, "status.reason").find("needs kubeflow-admin"), std::string::npos);

  // Wildcards: cluster admins only.
  auto star = AccessReview(*authz_, alice_, Obj(R"({"spec":{"resourceAttributes":{
      "namespace":"team-a","verb":"*","group":"*","resource":"*"}}})"));
  EXPECT_EQ(Find(*star, "status.allowed")->as_bool(), false);

  // Non-resource: discovery for everyone, the rest for cluster admins.
  auto disc =
      AccessReview(*authz_, alice_, Obj(R"({"spec":{"nonResourceAttributes":{"path":"/apis/x",
                                "verb":"get"}}})"));
  EXPECT_EQ(Find(*disc, "status.allowed")->as_bool(), true);
  auto metrics =
      AccessReview(*authz_, alice_, Obj(R"({"spec":{"nonResourceAttributes":{"path":"/metrics",
                                   "verb":"get"}}})"));
  EXPECT_EQ(Find(*metrics, "status.allowed")->as_bool(), false);

  auto neither = AccessReview(*authz_, alice_, Obj(R"({"spec":{}})"));
  ASSERT_FALSE(neither.has_value());
  EXPECT_EQ(neither.error().code(), Code::kInvalidArgument);
}

TEST_F(ReviewTest, NamespaceOfAClusterScopedKindIsIgnored) {
  // kubectl auth can-i get namespace/team-a sends its context's namespace ("default").
  const char* body = R"({"spec":{"resourceAttributes":{"namespace":"default","verb":"get",
      "group":"","version":"v1","resource":"namespaces","name":"team-a"}}})";
  auto with_kinds = AccessReview(*authz_, alice_, Obj(body), &kinds_);
  EXPECT_EQ(Find(*with_kinds, "status.allowed")->as_bool(), true);
  auto without = AccessReview(*authz_, alice_, Obj(body), nullptr);
  EXPECT_EQ(Find(*without, "status.allowed")->as_bool(), false);
}

TEST_F(ReviewTest, RulesReview) {
  auto rules = RulesReview(*authz_, alice_, Obj(R"({"spec":{"namespace":"team-a"}})"));
  ASSERT_TRUE(rules.has_value());
  std::string text = Serialize(*rules);
  EXPECT_NE(text.find("\"inferenceservices\""), std::string::npos);
  EXPECT_NE(text.find("\"selfsubjectaccessreviews\""), std::string::npos);
  EXPECT_NE(text.find("\"resourceNames\":[\"team-a\"]"), std::string::npos) << text;
  EXPECT_EQ(Find(*rules, "status.incomplete")->as_bool(), false);

  auto elsewhere = RulesReview(*authz_, alice_, Obj(R"({"spec":{"namespace":"team-b"}})"));
  std::string other = Serialize(*elsewhere);
  EXPECT_EQ(other.find("\"inferenceservices\""), std::string::npos) << other;

  Principal root{"root", {}, "session", true};
  auto all = RulesReview(*authz_, root, Obj(R"({"spec":{"namespace":"team-b"}})"));
  EXPECT_NE(Serialize(*all).find("\"resources\":[\"*\"]"), std::string::npos);
}

TEST_F(ReviewTest, SubjectAccessReviewUsesTheConfiguredAdmins) {
  auto as_alice = SubjectReview(*authz_, Obj(R"({"spec":{"user":"alice","resourceAttributes":{
      "namespace":"team-a","verb":"create","group":"serving.kserve.io",
      "resource":"inferenceservices"}}})"));
  EXPECT_EQ(Find(*as_alice, "status.allowed")->as_bool(), true);
  auto as_root = SubjectReview(*authz_, Obj(R"({"spec":{"user":"root","resourceAttributes":{
      "verb":"delete","resource":"namespaces","name":"team-a"}}})"));
  EXPECT_EQ(Find(*as_root, "status.allowed")->as_bool(), true);
  auto nobody = SubjectReview(*authz_, Obj(R"({"spec":{"resourceAttributes":{"verb":"get"}}})"));
  ASSERT_FALSE(nobody.has_value());
}

TEST_F(ReviewTest, RegisteredAsComputedClusterScopedCreateOnlyKinds) {
  for (const char* plural :
       {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"}) {
    const api::KindInfo* k = kinds_.ByPlural("authorization.k8s.io", "v1", plural);
    ASSERT_NE(k, nullptr) << plural;
    EXPECT_FALSE(k->namespaced);
    EXPECT_EQ(k->verbs, std::vector<std::string>{"create"});
    EXPECT_TRUE(static_cast<bool>(k->review));
    EXPECT_NE(k->protobuf, nullptr);
  }
  const api::KindInfo* self =
      kinds_.ByPlural("authorization.k8s.io", "v1", "selfsubjectaccessreviews");
  auto anonymous = self->review(nullptr, Obj(R"({"spec":{}})"));
  ASSERT_FALSE(anonymous.has_value());
  EXPECT_EQ(anonymous.error().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace skiff::authz

namespace skiff::authz {
namespace {

TEST(ClusterRoles, WrittenOnceAndRepairedReadOnlyThroughTheApi) {
  std::unique_ptr<store::Store> s = testing::MemoryStore();
  ASSERT_NE(s, nullptr);
  store::Store& store = *s;
  ASSERT_TRUE(EnsureClusterRoles(store, SystemClock()).ok());
  auto list = store.List(std::string(kClusterRoleResource), {});
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(list->items[0].key.name, "kubeflow-admin");
  int64_t version = store.CurrentVersion();
  // Idempotent: nothing written when nothing changed.
  ASSERT_TRUE(EnsureClusterRoles(store, SystemClock()).ok());
  EXPECT_EQ(store.CurrentVersion(), version);
  // A role whose rules were changed in the store is put back.
  store::Key key{std::string(kClusterRoleResource), "", "kubeflow-view"};
  auto view = store.Get(key);
  ASSERT_TRUE(view.has_value());
  json::object changed = view->object;
  changed["rules"] = json::array{};
  ASSERT_TRUE(store.Update(key, changed, 0).has_value());
  ASSERT_TRUE(EnsureClusterRoles(store, SystemClock()).ok());
  auto repaired = store.Get(key);
  EXPECT_EQ(repaired->object.at("rules").as_array().size(),
            FindRole("kubeflow-view")->rules.size());

  api::KindRegistry kinds;
  ASSERT_TRUE(RegisterRbacKinds(kinds).ok());
  const api::KindInfo* k = kinds.ByPlural("rbac.authorization.k8s.io", "v1", "clusterroles");
  ASSERT_NE(k, nullptr);
  EXPECT_FALSE(k->namespaced);
  EXPECT_EQ(k->verbs, (std::vector<std::string>{"get", "list", "watch"}));
  auto errs = k->validate(repaired->object);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].type, api::FieldError::Type::kForbidden);
}

}  // namespace
}  // namespace skiff::authz
