// The RBAC engine: roles x verbs x resources as a table, cluster scope, group mapping, the
// RoleBinding index kept by watch and by Observe (visible on the next Decide), configuration
// errors and RoleBinding validation.
#include "authz/authorizer.hpp"

#include <gtest/gtest.h>

#include "authz/roles.hpp"
#include "core/json.hpp"
#include "store/store.hpp"
#include "unit/authz/profile_fakes.hpp"
#include "unit/wait_until.hpp"

namespace skiff::authz {
namespace {

using skiff::testing::WaitUntil;

json::object RoleBindingObject(const std::string& ns, const std::string& name,
                               const std::string& role, json::array subjects) {
  return json::object{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                      {"kind", "RoleBinding"},
                      {"metadata", json::object{{"name", name}, {"namespace", ns}}},
                      {"subjects", std::move(subjects)},
                      {"roleRef", json::object{{"apiGroup", "rbac.authorization.k8s.io"},
                                               {"kind", "ClusterRole"},
                                               {"name", role}}}};
}

json::object User(const std::string& name) {
  return json::object{{"kind", "User"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}
json::object Group(const std::string& name) {
  return json::object{{"kind", "Group"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}

Principal Person(std::string name, std::vector<std::string> groups = {}) {
  return Principal{std::move(name), std::move(groups), "jwt", false};
}

Attributes Attr(std::string verb, std::string group, std::string resource, std::string ns,
                std::string name = "", std::string sub = "") {
  Attributes a;
  a.verb = std::move(verb);
  a.group = std::move(group);
  a.resource = std::move(resource);
  a.ns = std::move(ns);
  a.name = std::move(name);
  a.subresource = std::move(sub);
  return a;
}

class AuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
  }
  void Start(RbacOptions options = {}) {
    authz_ = std::make_unique<RbacAuthorizer>(*store_, std::move(options));
    ASSERT_TRUE(authz_->Start().ok());
  }
  store::Object Put(const std::string& ns, const std::string& name, const std::string& role,
                    json::array subjects) {
    auto created = store_->Create({std::string(kRoleBindingResource), ns, name},
                                  RoleBindingObject(ns, name, role, std::move(subjects)));
    EXPECT_TRUE(created.has_value());
    return *created;
  }
  // Decide's answer, checked against Allows (the fast path must agree everywhere).
  bool Allowed(const Principal& who, const Attributes& a) {
    bool allowed = authz_->Decide(who, a).allowed;
    EXPECT_EQ(authz_->Allows(who, a), allowed) << a.ToString() << " as " << who.name;
    return allowed;
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<RbacAuthorizer> authz_;
};

// role -> verb/group/resource -> allowed, for a user holding that role in "team-a".
struct Cell {
  const char* role;
  const char* verb;
  const char* group;
  const char* resource;
  const char* sub;
  bool allowed;
};

constexpr Cell kMatrix[] = {
    // kubeflow-view: reads, predict, KFP reads and readArtifact; no writes.
    {"kubeflow-view", "get", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-view", "list", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-view", "watch", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-view", "get", "serving.kserve.io", "inferenceservices", "status", true},
    {"kubeflow-view", "predict", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-view", "predict", "serving.kubeflow.org", "inferenceservices", "", true},
    {"kubeflow-view", "create", "serving.kserve.io", "inferenceservices", "", false},
    {"kubeflow-view", "update", "serving.kserve.io", "inferenceservices", "", false},
    {"kubeflow-view", "patch", "serving.kserve.io", "inferenceservices", "", false},
    {"kubeflow-view", "delete", "serving.kserve.io", "inferenceservices", "", false},
    {"kubeflow-view", "deletecollection", "serving.kserve.io", "inferenceservices", "", false},
    {"kubeflow-view", "get", "networking.istio.io", "virtualservices", "", true},
    {"kubeflow-view", "create", "networking.istio.io", "virtualservices", "", false},
    {"kubeflow-view", "list", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-view", "readArtifact", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-view", "get", "pipelines.kubeflow.org", "pipelines", "versions", true},
    {"kubeflow-view", "create", "pipelines.kubeflow.org", "runs", "", false},
    {"kubeflow-view", "terminate", "pipelines.kubeflow.org", "runs", "", false},
    {"kubeflow-view", "list", "rbac.authorization.k8s.io", "rolebindings", "", true},
    {"kubeflow-view", "create", "rbac.authorization.k8s.io", "rolebindings", "", false},
    {"kubeflow-view", "get", "", "resourcequotas", "", true},
    // kubeflow-edit: view + writes + KFP verbs; not RoleBindings, not status writes.
    {"kubeflow-edit", "get", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "predict", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "create", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "update", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "patch", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "delete", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "deletecollection", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-edit", "update", "serving.kserve.io", "inferenceservices", "status", false},
    {"kubeflow-edit", "create", "networking.istio.io", "virtualservices", "", true},
    {"kubeflow-edit", "delete", "networking.istio.io", "virtualservices", "", true},
    {"kubeflow-edit", "create", "pipelines.kubeflow.org", "pipelines", "", true},
    {"kubeflow-edit", "create", "pipelines.kubeflow.org", "pipelines", "versions", true},
    {"kubeflow-edit", "archive", "pipelines.kubeflow.org", "experiments", "", true},
    {"kubeflow-edit", "unarchive", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-edit", "terminate", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-edit", "retry", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-edit", "reportMetrics", "pipelines.kubeflow.org", "runs", "", true},
    {"kubeflow-edit", "list", "rbac.authorization.k8s.io", "rolebindings", "", true},
    {"kubeflow-edit", "create", "rbac.authorization.k8s.io", "rolebindings", "", false},
    {"kubeflow-edit", "delete", "rbac.authorization.k8s.io", "rolebindings", "", false},
    {"kubeflow-edit", "update", "", "resourcequotas", "", false},
    // kubeflow-admin: edit + contributors.
    {"kubeflow-admin", "delete", "serving.kserve.io", "inferenceservices", "", true},
    {"kubeflow-admin", "create", "rbac.authorization.k8s.io", "rolebindings", "", true},
    {"kubeflow-admin", "update", "rbac.authorization.k8s.io", "rolebindings", "", true},
    {"kubeflow-admin", "delete", "rbac.authorization.k8s.io", "rolebindings", "", true},
    {"kubeflow-admin", "predict", "serving.kserve.io", "inferenceservices", "", true},
    // Nobody but cluster admins: unknown groups and resources.
    {"kubeflow-admin", "get", "example.com", "widgets", "", false},
    {"kubeflow-admin", "get", "", "secrets", "", false},
};

TEST_F(AuthorizerTest, RoleMatrixInOwnNamespaceAndNothingElsewhere) {
  Start();
  Put("team-a", "alice-view", "kubeflow-view", {User("view@x")});
  Put("team-a", "alice-edit", "kubeflow-edit", {User("edit@x")});
  Put("team-a", "alice-admin", "kubeflow-admin", {User("admin@x")});
  ASSERT_TRUE(WaitUntil([&] { return authz_->NamespacesOf(Person("admin@x")).size() == 1; }));
  for (const Cell& c : kMatrix) {
    std::string role = c.role;
    std::string user = role.substr(std::string("kubeflow-").size()) + "@x";
    SCOPED_TRACE(role + " " + c.verb + " " + c.group + "/" + c.resource + "/" + c.sub);
    EXPECT_EQ(Allowed(Person(user), Attr(c.verb, c.group, c.resource, "team-a", "m", c.sub)),
              c.allowed);
    // The same request in another namespace: never.
    EXPECT_FALSE(Allowed(Person(user), Attr(c.verb, c.group, c.resource, "team-b", "m", c.sub)));
    // The role's own definition agrees with the engine.
    EXPECT_EQ(RoleAllows(*FindRole(role), c.verb, c.group, c.resource, c.sub), c.allowed);
    // The index agrees with the rules it was built from.
    EXPECT_EQ(RulesAllow(FindRole(role)->rules, c.verb, c.group, c.resource, c.sub), c.allowed);
  }
}

TEST_F(AuthorizerTest, ReasonsAndRules) {
  Start();
  Put("team-a", "alice", "kubeflow-view", {User("alice")});
  ASSERT_TRUE(WaitUntil([&] { return !authz_->NamespacesOf(Person("alice")).empty(); }));
  auto ok = authz_->Decide(Person("alice"),
                           Attr("get", "serving.kserve.io", "inferenceservices", "team-a", "m"));
  EXPECT_TRUE(ok.allowed);
  EXPECT_EQ(ok.rule, "RoleBinding team-a/alice (kubeflow-view)");
  EXPECT_EQ(ok.reason,
            "alice may \"get\" inferenceservices.serving.kserve.io \"m\" in namespace \"team-a\" "
            "(kubeflow-view)");

  auto no = authz_->Decide(Person("alice"),
                           Attr("delete", "serving.kserve.io", "inferenceservices", "team-a", "m"));
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.rule, "");
  EXPECT_EQ(no.reason,
            "alice may not \"delete\" inferenceservices.serving.kserve.io \"m\" in namespace "
            "\"team-a\": needs kubeflow-edit in \"team-a\"; holds RoleBinding team-a/alice "
            "(kubeflow-view)");

  auto foreign = authz_->Decide(
      Person("alice"), Attr("create", "rbac.authorization.k8s.io", "rolebindings", "team-b"));
  EXPECT_FALSE(foreign.allowed);
  EXPECT_NE(foreign.reason.find("needs kubeflow-admin in \"team-b\"; no RoleBinding or group "
                                "mapping gives alice a role there"),
            std::string::npos)
      << foreign.reason;

  EXPECT_EQ(Attr("delete", "serving.kserve.io", "inferenceservices", "team-b", "m").ToString(),
            "delete inferenceservices.serving.kserve.io \"m\" in namespace \"team-b\"");
}

TEST_F(AuthorizerTest, ClusterScope) {
  RbacOptions o;
  o.admin_users = {"root@x"};
  o.admin_groups = {"ops"};
  Start(o);
  Put("team-a", "alice", "kubeflow-edit", {User("alice")});
  ASSERT_TRUE(WaitUntil([&] { return !authz_->NamespacesOf(Person("alice")).empty(); }));
  Principal alice = Person("alice");
  // Namespaces: get of one where she holds a role; nothing else.
  EXPECT_TRUE(Allowed(alice, Attr("get", "", "namespaces", "", "team-a")));
  EXPECT_TRUE(Allowed(alice, Attr("get", "kubeflow.org", "profiles", "", "team-a")));
  EXPECT_FALSE(Allowed(alice, Attr("get", "", "namespaces", "", "team-b")));
  EXPECT_TRUE(Allowed(alice, Attr("watch", "", "namespaces", "", "team-a")));  // get -w
  EXPECT_FALSE(Allowed(alice, Attr("watch", "", "namespaces", "", "team-b")));
  EXPECT_FALSE(Allowed(alice, Attr("list", "", "namespaces", "")));
  EXPECT_FALSE(Allowed(alice, Attr("watch", "", "namespaces", "")));
  EXPECT_FALSE(Allowed(alice, Attr("create", "", "namespaces", "")));
  EXPECT_FALSE(Allowed(alice, Attr("delete", "", "namespaces", "", "team-a")));
  EXPECT_FALSE(Allowed(alice, Attr("patch", "", "namespaces", "", "team-a")));
  EXPECT_FALSE(Allowed(alice, Attr("update", "", "namespaces", "", "team-a", "status")));
  EXPECT_FALSE(Allowed(alice, Attr("create", "kubeflow.org", "profiles", "")));
  // Namespaced kinds across all namespaces.
  auto all = authz_->Decide(alice, Attr("list", "serving.kserve.io", "inferenceservices", ""));
  EXPECT_FALSE(all.allowed);
  EXPECT_NE(all.reason.find("in all namespaces"), std::string::npos) << all.reason;
  EXPECT_FALSE(Allowed(alice, Attr("watch", "serving.kserve.io", "inferenceservices", "")));
  // Self reviews: everyone.
  auto review = authz_->Decide(
      Person("nobody"), Attr("create", "authorization.k8s.io", "selfsubjectaccessreviews", ""));
  EXPECT_TRUE(review.allowed);
  EXPECT_EQ(review.rule, "system:basic-user");

  // Cluster admins, and the rule that made them so.
  Principal token{"admin", {"system:masters"}, "token", true};
  EXPECT_EQ(authz_->Decide(token, Attr("list", "", "namespaces", "")).rule, "bootstrap token");
  Principal root{"root@x", {}, "session", true};
  EXPECT_EQ(authz_->Decide(root, Attr("create", "", "namespaces", "")).rule,
            "auth.admins (user root@x)");
  Principal ops{"bob", {"dev", "ops"}, "jwt", true};
  EXPECT_EQ(authz_->Decide(ops, Attr("delete", "kubeflow.org", "profiles", "", "p")).rule,
            "auth.adminGroups (group ops)");
  // Cluster admins see only their own namespaces in NamespacesOf.
  EXPECT_TRUE(authz_->NamespacesOf(root).empty());
}

TEST_F(AuthorizerTest, GroupMapping) {
  auto section = ParseJson(R"({
    "admin": {"clusterAdmin": true},
    "datascience": {"role": "kubeflow-edit", "namespaces": ["team-a", "team-b"]},
    "validator": {"role": "kubeflow-view", "namespaces": ["team-a"]}
  })");
  ASSERT_TRUE(section.has_value());
  auto groups = ParseGroupMappings(*section);
  ASSERT_TRUE(groups.has_value()) << groups.error().ToString();
  ASSERT_EQ(groups->size(), 3u);
  RbacOptions o;
  o.groups = *groups;
  Start(o);
  Put("team-c", "val", "kubeflow-view", {Group("validator")});
  ASSERT_TRUE(
      WaitUntil([&] { return authz_->NamespacesOf(Person("v", {"validator"})).size() == 2; }));

  Principal admin = Person("a", {"admin"});
  auto d = authz_->Decide(admin, Attr("create", "", "namespaces", ""));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "authz.groups.admin (cluster admin)");

  Principal ds = Person("d", {"datascience"});
  auto e = authz_->Decide(ds, Attr("create", "serving.kserve.io", "inferenceservices", "team-b"));
  EXPECT_TRUE(e.allowed);
  EXPECT_EQ(e.rule, "authz.groups.datascience (kubeflow-edit in team-b)");
  EXPECT_FALSE(Allowed(ds, Attr("create", "serving.kserve.io", "inferenceservices", "team-c")));
  EXPECT_FALSE(Allowed(ds, Attr("create", "rbac.authorization.k8s.io", "rolebindings", "team-a")));
  EXPECT_FALSE(Allowed(ds, Attr("list", "", "namespaces", "")));
  EXPECT_TRUE(Allowed(ds, Attr("get", "", "namespaces", "", "team-a")));

  Principal val = Person("v", {"validator"});
  EXPECT_TRUE(Allowed(val, Attr("predict", "serving.kserve.io", "inferenceservices", "team-a")));
  EXPECT_FALSE(Allowed(val, Attr("create", "serving.kserve.io", "inferenceservices", "team-a")));
  EXPECT_FALSE(Allowed(val, Attr("predict", "serving.kserve.io", "inferenceservices", "team-b")));
  // And through a RoleBinding naming the group.
  auto rb = authz_->Decide(val, Attr("get", "serving.kserve.io", "inferenceservices", "team-c"));
  EXPECT_TRUE(rb.allowed);
  EXPECT_EQ(rb.rule, "RoleBinding team-c/val (kubeflow-view)");

  auto spaces = authz_->NamespacesOf(Person("x", {"datascience", "validator"}));
  ASSERT_EQ(spaces.size(), 3u);
  EXPECT_EQ(spaces[0].ns, "team-a");
  EXPECT_EQ(spaces[0].role, "kubeflow-edit");  // the higher of edit (datascience) and view
  EXPECT_EQ(spaces[1].ns, "team-b");
  EXPECT_EQ(spaces[2].ns, "team-c");
  EXPECT_EQ(spaces[2].rule, "RoleBinding team-c/val (kubeflow-view)");
}

TEST(GroupMappingConfig, Errors) {
  struct Case {
    const char* yaml_json;
    const char* error;
  };
  const Case cases[] = {
      {R"([1])", "authz.groups: must map group names"},
      {R"({"g": "edit"})", "authz.groups.g: must be {clusterAdmin: true}"},
      {R"({"g": {"role": "editor", "namespaces": ["a"]}})",
       "authz.groups.g.role: \"editor\" is not a role: use kubeflow-admin, kubeflow-edit or "
       "kubeflow-view"},
      {R"({"g": {"role": "kubeflow-edit"}})",
       "authz.groups.g.namespaces: list the namespaces where the group holds kubeflow-edit"},
      {R"({"g": {"role": "kubeflow-edit", "namespaces": "a"}})",
       "authz.groups.g.namespaces: must be a list"},
      {R"({"g": {"role": "kubeflow-edit", "namespaces": ["Team_A"]}})",
       "authz.groups.g.namespaces: \"Team_A\" is not a namespace name"},
      {R"({"g": {"clusterAdmin": "yes"}})", "authz.groups.g.clusterAdmin: must be true or false"},
      {R"({"g": {"clusterAdmin": true, "role": "kubeflow-view"}})",
       "authz.groups.g: clusterAdmin: true already allows everything"},
      {R"({"g": {}})", "authz.groups.g: needs clusterAdmin: true, or role"},
      {R"({"g": {"roles": "kubeflow-view"}})", "authz.groups.g.roles: unknown field"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml_json);
    auto v = ParseJson(c.yaml_json);
    ASSERT_TRUE(v.has_value());
    auto parsed = ParseGroupMappings(*v);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find(c.error), std::string::npos)
        << parsed.error().message();
  }
  auto none = ParseGroupMappings(json::value(nullptr));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_F(AuthorizerTest, ObserveMakesAWriteVisibleOnTheNextDecide) {
  Start();
  const Attributes get = Attr("get", "serving.kserve.io", "inferenceservices", "team-a", "m");
  // Written behind the watch's back and fed to Observe: visible at once, no waiting.
  store::Object created = Put("team-a", "carol", "kubeflow-view", {User("carol")});
  authz_->Observe(created, false);
  EXPECT_TRUE(Allowed(Person("carol"), get));

  auto deleted = store_->Delete(created.key, 0);
  ASSERT_TRUE(deleted.has_value());
  authz_->Observe(*deleted, true);
  EXPECT_FALSE(Allowed(Person("carol"), get));

  // The watch's older events (the create) arrive later and must not resurrect the binding.
  Put("team-a", "marker", "kubeflow-view", {User("marker")});
  ASSERT_TRUE(WaitUntil([&] { return Allowed(Person("marker"), get); }));
  EXPECT_FALSE(Allowed(Person("carol"), get));

  // A stale Observe (older version) changes nothing either.
  authz_->Observe(created, false);
  EXPECT_FALSE(Allowed(Person("carol"), get));

  // Other resources are ignored.
  store::Object other = created;
  other.key.resource = "inferenceservices.serving.kserve.io";
  other.resource_version = 1'000'000;
  authz_->Observe(other, false);
  EXPECT_FALSE(Allowed(Person("carol"), get));
}

TEST_F(AuthorizerTest, WatchKeepsOtherWritersInStep) {
  Put("team-a", "before", "kubeflow-edit", {User("dave")});
  Start();
  const Attributes create = Attr("create", "serving.kserve.io", "inferenceservices", "team-a");
  EXPECT_TRUE(Allowed(Person("dave"), create));  // listed at Start
  auto old = store_->Get({std::string(kRoleBindingResource), "team-a", "before"});
  ASSERT_TRUE(old.has_value());
  // Another writer changes the subject: the watch catches up.
  json::object changed = RoleBindingObject("team-a", "before", "kubeflow-edit", {User("erin")});
  ASSERT_TRUE(store_->Update(old->key, changed, 0).has_value());
  ASSERT_TRUE(WaitUntil([&] { return Allowed(Person("erin"), create); }));
  EXPECT_FALSE(Allowed(Person("dave"), create));
  ASSERT_TRUE(store_->Delete(old->key, 0).has_value());
  ASSERT_TRUE(WaitUntil([&] { return !Allowed(Person("erin"), create); }));
}

TEST_F(AuthorizerTest, InvalidStoredBindingGrantsNothing) {
  json::object bad = RoleBindingObject("team-a", "bad", "cluster-admin", {User("mallory")});
  ASSERT_TRUE(store_->Create({std::string(kRoleBindingResource), "team-a", "bad"}, bad));
  Start();
  EXPECT_FALSE(Allowed(Person("mallory"), Attr("get", "", "pods", "team-a")));
  EXPECT_TRUE(authz_->NamespacesOf(Person("mallory")).empty());
}

TEST(ServiceAccountSubject, MatchesItsUserName) {
  Binding b;
  b.subjects = {{"ServiceAccount", "pipeline-runner", "team-a"}};
  EXPECT_TRUE(b.Matches(Person("system:serviceaccount:team-a:pipeline-runner")));
  EXPECT_FALSE(b.Matches(Person("pipeline-runner")));
}

TEST(RoleBindingValidation, FieldErrors) {
  auto fields = [](const json::object& obj) {
    std::vector<std::string> out;
    for (const auto& e : ValidateRoleBinding(obj)) out.push_back(e.field);
    return out;
  };
  json::object good = RoleBindingObject("a", "b", "kubeflow-edit", {User("u"), Group("g")});
  EXPECT_TRUE(fields(good).empty());

  json::object bad_role = RoleBindingObject("a", "b", "cluster-admin", {User("u")});
  EXPECT_EQ(fields(bad_role), std::vector<std::string>{"roleRef.name"});
  json::object role_kind = good;
  role_kind["roleRef"].as_object()["kind"] = "Role";
  EXPECT_EQ(fields(role_kind), std::vector<std::string>{"roleRef.kind"});
  json::object group = good;
  group["roleRef"].as_object()["apiGroup"] = "";
  EXPECT_EQ(fields(group), std::vector<std::string>{"roleRef.apiGroup"});
  json::object no_ref = good;
  no_ref.erase("roleRef");
  EXPECT_EQ(fields(no_ref), std::vector<std::string>{"roleRef"});
  json::object subj = RoleBindingObject(
      "a", "b", "kubeflow-view",
      {User("u"), json::object{{"kind", "Robot"}, {"name", "r"}}, json::object{{"kind", "User"}},
       json::object{{"kind", "ServiceAccount"}, {"name", "s"}}});
  EXPECT_EQ(fields(subj), (std::vector<std::string>{"subjects[1].kind", "subjects[2].name",
                                                    "subjects[3].namespace"}));

  json::object changed = RoleBindingObject("a", "b", "kubeflow-admin", {User("u")});
  auto upd = ValidateRoleBindingUpdate(changed, good);
  ASSERT_EQ(upd.size(), 1u);
  EXPECT_EQ(upd[0].field, "roleRef");
  EXPECT_EQ(upd[0].detail, "cannot change roleRef");
  json::object more_subjects = RoleBindingObject("a", "b", "kubeflow-edit", {User("v")});
  EXPECT_TRUE(ValidateRoleBindingUpdate(more_subjects, good).empty());
}

}  // namespace
}  // namespace skiff::authz
