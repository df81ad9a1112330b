// The kfam and dashboard workgroup API without sockets, with a fake Authorizer: Kubeflow's JSON
// shapes, the RoleBindings kfam creates, who may add/remove/list contributors, cluster-admin
// queries, and the registration answers (exists, env-info, create).
#include "authz/kfam.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "authz/profile.hpp"
#include "authz/profile_controller.hpp"
#include "unit/authz/profile_fakes.hpp"

namespace skiff::authz {
namespace {

using testing::Exists;
using testing::FakeAuthorizer;
using ::testing::HasSubstr;
using testing::ProfileObject;
using testing::ThreadRunner;
using ::testing::UnorderedElementsAre;

const Principal kAlice{"alice@example.com", {}, "session", false};
const Principal kBob{"bob@example.com", {}, "session", false};
const Principal kMallory{"mallory@example.com", {}, "session", false};
const Principal kAdmin{"admin@example.com", {"admin"}, "session", true};

class KfamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(api::RegisterCoreKinds(kinds_).ok());
    // alice's profile, reconciled: namespace + namespaceAdmin.
    ASSERT_TRUE(store_->Create({std::string(kProfileResource), "", "alice"},
                               ProfileObject("alice", kAlice.name)));
    ProfileController controller(*store_, kinds_, clock_);
    ASSERT_TRUE(controller.Reconcile("alice").ok());
    authorizer_.Grant(kAlice.name, "alice", "kubeflow-admin");
    MakeApi(true, true);
  }
  void MakeApi(bool auto_create, bool registration_flow) {
    RegistrationOptions ro;
    ro.auto_create = auto_create;
    registration_ = std::make_unique<Registration>(*store_, runner_, clock_, ro);
    KfamOptions ko;
    ko.registration_flow = registration_flow;
    ko.kubeflow_version = "skiff-test";
    ko.on_write = [this](const store::Object& o, bool deleted) {
      writes_.push_back((deleted ? "-" : "+") + o.key.ns + "/" + o.key.name);
    };
    api_ = std::make_unique<KfamApi>(*store_, authorizer_, *registration_, clock_, ko);
  }
  http::Response Call(const Principal* who, std::string method, std::string target,
                      std::string body = {}) {
    http::Request req;
    req.method = std::move(method);
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.raw_query = target.substr(q + 1);
    req.body = std::move(body);
    if (who != nullptr) req.principal = *who;
    EXPECT_TRUE(KfamApi::Serves(req.path)) << req.path;
    return api_->Handle(req);
  }
  json::value Body(const http::Response& r) {
    auto v = ParseJson(r.body);
    EXPECT_TRUE(v.has_value()) << r.body;
    return v ? *v : json::value();
  }
  static std::string Binding(const std::string& user, const std::string& ns,
                             const std::string& role) {
    return Serialize(
        json::object{{"user", json::object{{"kind", "User"}, {"name", user}}},
                     {"referredNamespace", ns},
                     {"RoleRef", json::object{{"kind", "ClusterRole"}, {"name", role}}}});
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  api::KindRegistry kinds_;
  FakeAuthorizer authorizer_;
  ThreadRunner runner_;
  std::unique_ptr<Registration> registration_;
  std::unique_ptr<KfamApi> api_;
  std::vector<std::string> writes_;  // what on_write saw
};

TEST_F(KfamTest, OwnerAddsListsAndRemovesAContributor) {
  auto r = Call(&kAlice, "POST", "/kfam/v1/bindings", Binding(kBob.name, "alice", "edit"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto rb = store_->Get(
      {std::string(kRoleBindingsResource), "alice", "user-bob-example-com-clusterrole-edit"});
  ASSERT_TRUE(rb);
  EXPECT_EQ(GetString(rb->object, "roleRef.name"), "kubeflow-edit");
  EXPECT_EQ(GetString(rb->object, "subjects.0.name"), kBob.name);
  EXPECT_EQ(GetString(rb->object, "metadata.annotations.user"), kBob.name);
  EXPECT_EQ(GetString(rb->object, "metadata.annotations.role"), "edit");

  // The same again conflicts.
  r = Call(&kAlice, "POST", "/kfam/v1/bindings", Binding(kBob.name, "alice", "edit"));
  EXPECT_EQ(r.status, 409) << r.body;

  r = Call(&kAlice, "GET", "/kfam/v1/bindings?namespace=alice");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value list = Body(r);
  std::vector<std::string> rows;
  for (const auto& b : list.at("bindings").as_array()) {
    rows.push_back(GetString(b, "user.kind") + " " + GetString(b, "user.name") + " " +
                   GetString(b, "referredNamespace") + " " + GetString(b, "RoleRef.kind") + " " +
                   GetString(b, "RoleRef.name"));
  }
  EXPECT_THAT(rows, UnorderedElementsAre("User alice@example.com alice ClusterRole admin",
                                         "User bob@example.com alice ClusterRole edit"));

  // Filters.
  r = Call(&kAlice, "GET", "/kfam/v1/bindings?namespace=alice&role=edit");
  EXPECT_EQ(Body(r).at("bindings").as_array().size(), 1u);
  r = Call(&kAlice, "GET", "/kfam/v1/bindings?user=alice%40example.com");
  EXPECT_EQ(Body(r).at("bindings").as_array().size(), 1u);

  r = Call(&kAlice, "DELETE", "/kfam/v1/bindings", Binding(kBob.name, "alice", "edit"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(
      Exists(*store_, kRoleBindingsResource, "alice", "user-bob-example-com-clusterrole-edit"));
  r = Call(&kAlice, "DELETE", "/kfam/v1/bindings", Binding(kBob.name, "alice", "edit"));
  EXPECT_EQ(r.status, 404) << r.body;
  // The Authorizer was told of both writes before the responses.
  EXPECT_EQ(writes_, (std::vector<std::string>{"+alice/user-bob-example-com-clusterrole-edit",
                                               "-alice/user-bob-example-com-clusterrole-edit"}));
}

TEST_F(KfamTest, NonOwnersCannotAddOrRemoveContributors) {
  auto r = Call(&kMallory, "POST", "/kfam/v1/bindings", Binding(kMallory.name, "alice", "admin"));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(GetString(Body(r), "error"), "PERMISSION_DENIED");
  EXPECT_FALSE(Exists(*store_, kRoleBindingsResource, "alice",
                      "user-mallory-example-com-clusterrole-admin"));
  // An editor of the namespace may not manage contributors either.
  authorizer_.Grant(kBob.name, "alice", "kubeflow-edit");
  r = Call(&kBob, "POST", "/kfam/v1/bindings", Binding(kMallory.name, "alice", "view"));
  EXPECT_EQ(r.status, 403) << r.body;
  // Nor remove the owner.
  r = Call(&kMallory, "DELETE", "/kfam/v1/bindings", Binding(kAlice.name, "alice", "admin"));
  EXPECT_EQ(r.status, 403) << r.body;
  // A cluster admin may.
  r = Call(&kAdmin, "POST", "/kfam/v1/bindings", Binding(kMallory.name, "alice", "view"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(KfamTest, ListingShowsOnlyWhatTheCallerMaySee) {
  ASSERT_EQ(Call(&kAlice, "POST", "/kfam/v1/bindings", Binding(kBob.name, "alice", "view")).status,
            200);
  // mallory sees nothing of alice's namespace.
  auto r = Call(&kMallory, "GET", "/kfam/v1/bindings");
  EXPECT_EQ(Body(r).at("bindings").as_array().size(), 0u) << r.body;
  r = Call(&kMallory, "GET", "/kfam/v1/bindings?namespace=alice");
  EXPECT_EQ(Body(r).at("bindings").as_array().size(), 0u) << r.body;
  // bob sees his own binding (that is how the dashboard finds his namespaces).
  r = Call(&kBob, "GET", "/kfam/v1/bindings?user=bob%40example.com");
  json::value list = Body(r);
  ASSERT_EQ(list.at("bindings").as_array().size(), 1u) << r.body;
  EXPECT_EQ(GetString(list, "/bindings/0/RoleRef/name"), "view");
}

TEST_F(KfamTest, BadBindingsAreRefusedWithReasons) {
  auto r = Call(&kAlice, "POST", "/kfam/v1/bindings", "not json");
  EXPECT_EQ(r.status, 400);
  r = Call(&kAlice, "POST", "/kfam/v1/bindings", Binding(kBob.name, "alice", "owner"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("use admin, edit or view"));
  r = Call(&kAlice, "POST", "/kfam/v1/bindings", Binding("", "alice", "edit"));
  EXPECT_EQ(r.status, 400);
  // "roleRef" (lower case) and ClusterRole names are accepted too.
  r = Call(&kAlice, "POST", "/kfam/v1/bindings",
           Serialize(json::object{
               {"user", json::object{{"kind", "User"}, {"name", kBob.name}}},
               {"referredNamespace", "alice"},
               {"roleRef", json::object{{"kind", "ClusterRole"}, {"name", "kubeflow-view"}}}}));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(
      Exists(*store_, kRoleBindingsResource, "alice", "user-bob-example-com-clusterrole-view"));
  // A namespace that does not exist (as cluster admin, who passes authorization).
  r = Call(&kAdmin, "POST", "/kfam/v1/bindings", Binding(kBob.name, "nowhere", "edit"));
  EXPECT_EQ(r.status, 404);
  // Without a principal.
  r = Call(nullptr, "GET", "/kfam/v1/bindings");
  EXPECT_EQ(r.status, 401);
  r = Call(&kAlice, "PUT", "/kfam/v1/bindings");
  EXPECT_EQ(r.status, 405);
}

TEST_F(KfamTest, ClusterAdminQuery) {
  authorizer_.MakeClusterAdmin("root@example.com");
  EXPECT_EQ(Call(&kAdmin, "GET", "/kfam/v1/role/clusteradmin?user=admin%40example.com").body,
            "true");
  EXPECT_EQ(Call(&kAlice, "GET", "/kfam/v1/role/clusteradmin?user=alice%40example.com").body,
            "false");
  EXPECT_EQ(Call(&kAlice, "GET", "/kfam/v1/role/clusteradmin?user=root%40example.com").body,
            "true");
  EXPECT_EQ(Call(&kAlice, "GET", "/kfam/v1/role/clusteradmin").body, "false");
  // A configured admin (auth.admins) is one even when someone else asks.
  EXPECT_EQ(Call(&kAlice, "GET", "/kfam/v1/role/clusteradmin?user=ops%40example.com").body,
            "false");
  KfamOptions ko;
  ko.admin_users = {"ops@example.com"};
  api_ = std::make_unique<KfamApi>(*store_, authorizer_, *registration_, clock_, ko);
  EXPECT_EQ(Call(&kAlice, "GET", "/kfam/v1/role/clusteradmin?user=ops%40example.com").body, "true");
}

TEST_F(KfamTest, ExistsCreatesTheWorkgroupWhenAutoCreateIsOn) {
  auto r = Call(&kAlice, "GET", "/api/workgroup/exists");
  ASSERT_EQ(r.status, 200);
  json::value v = Body(r);
  EXPECT_EQ(v, ParseJson(R"({"hasAuth":true,"user":"alice@example.com","hasWorkgroup":true,
                             "registrationFlowAllowed":true})")
                   .value());
  // bob has none: auto-create makes "bob".
  r = Call(&kBob, "GET", "/api/workgroup/exists");
  EXPECT_TRUE(Body(r).at("hasWorkgroup").as_bool()) << r.body;
  auto p = store_->Get({std::string(kProfileResource), "", "bob"});
  ASSERT_TRUE(p);
  EXPECT_EQ(ProfileOwner(p->object), kBob.name);

  MakeApi(false, false);
  r = Call(&kMallory, "GET", "/api/workgroup/exists");
  v = Body(r);
  EXPECT_FALSE(v.at("hasWorkgroup").as_bool());
  EXPECT_FALSE(v.at("registrationFlowAllowed").as_bool());
  EXPECT_FALSE(Exists(*store_, kProfileResource, "", "mallory"));
}

TEST_F(KfamTest, EnvInfo) {
  authorizer_.Grant(kAlice.name, "team", "kubeflow-view");
  auto r = Call(&kAlice, "GET", "/api/workgroup/env-info");
  ASSERT_EQ(r.status, 200);
  json::value v = Body(r);
  EXPECT_EQ(GetString(v, "user"), kAlice.name);
  EXPECT_EQ(GetString(v, "platform.provider"), "skiff");
  EXPECT_EQ(GetString(v, "platform.kubeflowVersion"), "skiff-test");
  EXPECT_FALSE(v.at("isClusterAdmin").as_bool());
  std::vector<std::string> rows;
  for (const auto& n : v.at("namespaces").as_array()) {
    rows.push_back(GetString(n, "namespace") + " " + GetString(n, "role") + " " +
                   GetString(n, "user"));
  }
  EXPECT_THAT(rows, UnorderedElementsAre("alice owner alice@example.com",
                                         "team contributor alice@example.com"));
  EXPECT_TRUE(v.at("groups").as_array().empty());
  json::value admin = Body(Call(&kAdmin, "GET", "/api/workgroup/env-info"));
  EXPECT_TRUE(admin.at("isClusterAdmin").as_bool());
  ASSERT_EQ(admin.at("groups").as_array().size(), 1u);
  EXPECT_EQ(admin.at("groups").as_array()[0].as_string(), "admin");
}

TEST_F(KfamTest, CreateWorkgroup) {
  MakeApi(false, true);
  auto r = Call(&kBob, "POST", "/api/workgroup/create", "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(GetString(Body(r), "message"), "Created namespace bob");
  EXPECT_TRUE(Exists(*store_, kProfileResource, "", "bob"));
  // Once is enough for a non-admin.
  r = Call(&kBob, "POST", "/api/workgroup/create", R"({"namespace":"bob-two"})");
  EXPECT_EQ(r.status, 409) << r.body;
  // Not for someone else, unless a cluster admin asks.
  r = Call(&kMallory, "POST", "/api/workgroup/create",
           R"({"namespace":"victim","user":"victim@example.com"})");
  EXPECT_EQ(r.status, 403) << r.body;
  r = Call(&kAdmin, "POST", "/api/workgroup/create",
           R"({"namespace":"team-z","user":"zoe@example.com"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ProfileOwner(store_->Get({std::string(kProfileResource), "", "team-z"})->object),
            "zoe@example.com");
  // An existing namespace is never taken.
  r = Call(&kMallory, "POST", "/api/workgroup/create", R"({"namespace":"alice"})");
  EXPECT_EQ(r.status, 409) << r.body;
  r = Call(&kMallory, "POST", "/api/workgroup/create", R"({"namespace":"Bad_Name"})");
  EXPECT_EQ(r.status, 422) << r.body;

  MakeApi(false, false);
  r = Call(&kMallory, "POST", "/api/workgroup/create", "{}");
  EXPECT_EQ(r.status, 403) << r.body;
}

TEST_F(KfamTest, KfamProfilesAndNukeSelf) {
  MakeApi(false, true);
  const std::string bob_profile = R"({"metadata": {"name": "bobs"},
      "spec": {"owner": {"kind": "User", "name": "bob@example.com"}}})";
  // Not for someone else.
  auto r = Call(&kMallory, "POST", "/kfam/v1/profiles", bob_profile);
  EXPECT_EQ(r.status, 403) << r.body;
  r = Call(&kBob, "POST", "/kfam/v1/profiles", bob_profile);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ProfileOwner(store_->Get({std::string(kProfileResource), "", "bobs"})->object),
            kBob.name);
  // Only its owner (or a cluster admin) deletes it.
  r = Call(&kMallory, "DELETE", "/kfam/v1/profiles/bobs");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(Exists(*store_, kProfileResource, "", "bobs"));
  r = Call(&kBob, "DELETE", "/kfam/v1/profiles/bobs");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(Exists(*store_, kProfileResource, "", "bobs"));
  r = Call(&kBob, "DELETE", "/kfam/v1/profiles/bobs");
  EXPECT_EQ(r.status, 404) << r.body;

  // nuke-self removes the caller's own profile, and nothing else.
  r = Call(&kMallory, "DELETE", "/api/workgroup/nuke-self");
  EXPECT_EQ(r.status, 404) << r.body;
  r = Call(&kAlice, "DELETE", "/api/workgroup/nuke-self");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(GetString(Body(r), "message"), "Removed namespace/profile alice");
  EXPECT_FALSE(Exists(*store_, kProfileResource, "", "alice"));
}

TEST_F(KfamTest, DashboardContributorRoutes) {
  auto r = Call(&kAlice, "POST", "/api/workgroup/add-contributor/alice",
                R"({"contributor":"bob@example.com"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"(["bob@example.com"])");
  EXPECT_TRUE(
      Exists(*store_, kRoleBindingsResource, "alice", "user-bob-example-com-clusterrole-edit"));
  r = Call(&kMallory, "POST", "/api/workgroup/add-contributor/alice",
           R"({"contributor":"mallory@example.com"})");
  EXPECT_EQ(r.status, 403) << r.body;
  r = Call(&kAlice, "GET", "/api/workgroup/get-contributors/alice");
  EXPECT_EQ(r.body, R"(["bob@example.com"])");
  r = Call(&kAlice, "DELETE", "/api/workgroup/remove-contributor/alice",
           R"({"contributor":"bob@example.com"})");
  EXPECT_EQ(r.body, "[]");
  r = Call(&kAlice, "POST", "/api/workgroup/add-contributor/alice", R"({"contributor":"bob"})");
  EXPECT_EQ(r.status, 400);
}

}  // namespace
}  // namespace skiff::authz
