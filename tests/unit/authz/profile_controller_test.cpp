// The profile controller over an in-memory SQLite store: the namespace, owner binding and quota a
// Profile stands for, Kubeflow's names and labels, idempotence, adoption and refusal of existing
// namespaces, owner changes, deletion (with the namespace's contents), and recovery at start.
#include "authz/profile_controller.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/kind.hpp"
#include "authz/profile.hpp"
#include "unit/authz/profile_fakes.hpp"
#include "unit/wait_until.hpp"

namespace skiff::authz {
namespace {

using ::skiff::testing::WaitUntil;
using testing::Exists;
using ::testing::HasSubstr;
using testing::NamespaceObject;
using testing::ProfileObject;

class ProfileControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(api::RegisterCoreKinds(kinds_).ok());
    ASSERT_TRUE(RegisterProfileKind(kinds_).ok());
    ProfileControllerOptions o;
    o.retry_delay = std::chrono::milliseconds(20);
    o.on_write = [this](const store::Object& obj, bool deleted) {
      std::lock_guard lock(writes_mu_);
      writes_.push_back((deleted ? "-" : "+") + obj.key.resource + " " + obj.key.ns + "/" +
                        obj.key.name);
    };
    controller_ = std::make_unique<ProfileController>(*store_, kinds_, clock_, o);
  }
  void TearDown() override { controller_.reset(); }

  void CreateProfile(const std::string& name, const std::string& owner,
                     json::object quota_hard = {}) {
    json::object p = ProfileObject(name, owner);
    if (!quota_hard.empty()) {
      EnsureObject(p, "spec")["resourceQuotaSpec"] = json::object{{"hard", quota_hard}};
    }
    ASSERT_TRUE(store_->Create({std::string(kProfileResource), "", name}, std::move(p)));
  }
  json::object Get(std::string_view resource, const std::string& ns, const std::string& name) {
    auto o = store_->Get({std::string(resource), ns, name});
    EXPECT_TRUE(o.has_value()) << resource << " " << ns << "/" << name;
    return o ? o->object : json::object{};
  }
  std::string Condition(const std::string& profile, const std::string& type,
                        const std::string& field = "status") {
    json::object p = Get(kProfileResource, "", profile);
    const json::value* conds = Find(p, "status.conditions");
    if (conds == nullptr || !conds->is_array()) return {};
    for (const auto& c : conds->get_array()) {
      if (GetString(c, "type") == type) return GetString(c, field);
    }
    return {};
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  api::KindRegistry kinds_;
  std::unique_ptr<ProfileController> controller_;
  std::mutex writes_mu_;             // guards writes_
  std::vector<std::string> writes_;  // what on_write saw
};

TEST_F(ProfileControllerTest, CreatesNamespaceWithKubeflowLabelsAndOwnerBinding) {
  CreateProfile("alice", "alice@example.com");
  ASSERT_TRUE(controller_->Reconcile("alice").ok());

  json::object ns = Get(kNamespaceResource, "", "alice");
  EXPECT_EQ(GetString(ns, "/metadata/labels/app.kubernetes.io~1part-of"), "kubeflow-profile");
  EXPECT_EQ(GetString(ns, "/metadata/labels/istio-injection"), "enabled");
  EXPECT_EQ(GetString(ns, "/metadata/labels/katib-metricscollector-injection"), "enabled");
  EXPECT_EQ(GetString(ns, "/metadata/labels/serving.kubeflow.org~1inferenceservice"), "enabled");
  EXPECT_EQ(GetString(ns, "metadata.annotations.owner"), "alice@example.com");
  EXPECT_EQ(GetString(ns, "status.phase"), "Active");
  EXPECT_TRUE(OwnedByProfile(ns, "alice"));
  EXPECT_EQ(GetString(ns, "metadata.ownerReferences.0.uid"),
            GetString(Get(kProfileResource, "", "alice"), "metadata.uid"));

  json::object rb = Get(kRoleBindingsResource, "alice", "namespaceAdmin");
  EXPECT_EQ(GetString(rb, "kind"), "RoleBinding");
  EXPECT_EQ(GetString(rb, "apiVersion"), "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(GetString(rb, "metadata.namespace"), "alice");
  EXPECT_EQ(GetString(rb, "roleRef.kind"), "ClusterRole");
  EXPECT_EQ(GetString(rb, "roleRef.name"), "kubeflow-admin");
  EXPECT_EQ(GetString(rb, "subjects.0.kind"), "User");
  EXPECT_EQ(GetString(rb, "subjects.0.name"), "alice@example.com");
  EXPECT_EQ(GetString(rb, "metadata.annotations.user"), "alice@example.com");
  EXPECT_EQ(GetString(rb, "metadata.annotations.role"), "admin");

  EXPECT_EQ(Condition("alice", "Ready"), "True");
  EXPECT_EQ(Condition("alice", "Failed"), "");
  EXPECT_FALSE(Exists(*store_, kResourceQuotaResource, "alice", "kf-resource-quota"));
  std::lock_guard lock(writes_mu_);
  EXPECT_THAT(writes_,
              ::testing::Contains("+rolebindings.rbac.authorization.k8s.io alice/namespaceAdmin"));
}

TEST_F(ProfileControllerTest, ReconcileTwiceWritesNothingTheSecondTime) {
  CreateProfile("alice", "alice@example.com");
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  int64_t version = store_->CurrentVersion();
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  EXPECT_EQ(store_->CurrentVersion(), version);
}

TEST_F(ProfileControllerTest, RefusesANamespaceOwnedBySomeoneElse) {
  ASSERT_TRUE(
      store_->Create({"namespaces", "", "team"}, NamespaceObject("team", "bob@example.com")));
  CreateProfile("team", "mallory@example.com");
  ASSERT_TRUE(controller_->Reconcile("team").ok());
  EXPECT_EQ(Condition("team", "Ready"), "False");
  EXPECT_EQ(Condition("team", "Failed"), "True");
  EXPECT_THAT(Condition("team", "Ready", "message"),
              HasSubstr("namespace already exist, but not owned by profile creator "
                        "mallory@example.com"));
  EXPECT_EQ(Condition("team", "Ready", "reason"), "NamespaceOwnedByOther");
  // Nothing was granted or changed.
  EXPECT_FALSE(Exists(*store_, kRoleBindingsResource, "team", "namespaceAdmin"));
  json::object ns = Get(kNamespaceResource, "", "team");
  EXPECT_EQ(GetString(ns, "metadata.annotations.owner"), "bob@example.com");
  EXPECT_FALSE(OwnedByProfile(ns, "team"));

  // A namespace without any owner annotation is not taken either.
  ASSERT_TRUE(store_->Create({"namespaces", "", "plain"}, NamespaceObject("plain")));
  CreateProfile("plain", "mallory@example.com");
  ASSERT_TRUE(controller_->Reconcile("plain").ok());
  EXPECT_EQ(Condition("plain", "Ready"), "False");

  // Deleting the refused profile leaves the namespace alone.
  ASSERT_TRUE(store_->Delete({std::string(kProfileResource), "", "team"}, 0));
  ASSERT_TRUE(controller_->Reconcile("team").ok());
  EXPECT_TRUE(Exists(*store_, kNamespaceResource, "", "team"));
}

TEST_F(ProfileControllerTest, AdoptsANamespaceAnnotatedWithTheSameOwnerAndKeepsItOnDelete) {
  ASSERT_TRUE(
      store_->Create({"namespaces", "", "alice"}, NamespaceObject("alice", "alice@example.com")));
  CreateProfile("alice", "alice@example.com");
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  EXPECT_EQ(Condition("alice", "Ready"), "True");
  json::object ns = Get(kNamespaceResource, "", "alice");
  EXPECT_EQ(GetString(ns, "/metadata/labels/istio-injection"), "enabled");
  EXPECT_TRUE(Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"));

  ASSERT_TRUE(store_->Delete({std::string(kProfileResource), "", "alice"}, 0));
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  EXPECT_TRUE(Exists(*store_, kNamespaceResource, "", "alice"));
  EXPECT_FALSE(Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"));
}

TEST_F(ProfileControllerTest, DeletingTheProfileDeletesItsNamespaceAndEverythingInIt) {
  CreateProfile("alice", "alice@example.com", json::object{{"count/pods", "3"}});
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  ASSERT_TRUE(store_->Create(
      {std::string(kRoleBindingsResource), "alice", "user-bob-example-com-clusterrole-edit"},
      ContributorRoleBinding("alice", "bob@example.com", "edit", clock_)));
  ASSERT_TRUE(store_->Create({"events", "alice", "e1"},
                             json::object{{"metadata", json::object{{"name", "e1"}}}}));
  // Another namespace's objects stay.
  ASSERT_TRUE(store_->Create({"namespaces", "", "other"}, NamespaceObject("other")));
  ASSERT_TRUE(store_->Create({"events", "other", "e2"},
                             json::object{{"metadata", json::object{{"name", "e2"}}}}));

  ASSERT_TRUE(store_->Delete({std::string(kProfileResource), "", "alice"}, 0));
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  EXPECT_FALSE(Exists(*store_, kNamespaceResource, "", "alice"));
  EXPECT_FALSE(Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"));
  EXPECT_FALSE(
      Exists(*store_, kRoleBindingsResource, "alice", "user-bob-example-com-clusterrole-edit"));
  EXPECT_FALSE(Exists(*store_, kResourceQuotaResource, "alice", "kf-resource-quota"));
  EXPECT_FALSE(Exists(*store_, "events", "alice", "e1"));
  EXPECT_TRUE(Exists(*store_, "events", "other", "e2"));
  EXPECT_TRUE(Exists(*store_, kNamespaceResource, "", "other"));
  std::lock_guard lock(writes_mu_);
  EXPECT_THAT(writes_,
              ::testing::Contains("-rolebindings.rbac.authorization.k8s.io alice/namespaceAdmin"));
}

TEST_F(ProfileControllerTest, QuotaFollowsTheProfile) {
  CreateProfile("alice", "alice@example.com",
                json::object{{"count/inferenceservices.serving.kserve.io", 2}, {"cpu", "4"}});
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  json::object q = Get(kResourceQuotaResource, "alice", "kf-resource-quota");
  EXPECT_EQ(GetString(q, "kind"), "ResourceQuota");
  EXPECT_EQ(GetString(q, "/spec/hard/count~1inferenceservices.serving.kserve.io"), "2");
  EXPECT_EQ(GetString(q, "spec.hard.cpu"), "4");

  // Changing the profile's quota changes the ResourceQuota; removing it deletes it.
  auto p = store_->Get({std::string(kProfileResource), "", "alice"});
  ASSERT_TRUE(p);
  json::object obj = p->object;
  obj["spec"].as_object()["resourceQuotaSpec"] =
      json::object{{"hard", json::object{{"count/inferenceservices.serving.kserve.io", "5"}}}};
  ASSERT_TRUE(store_->Update(p->key, obj, 0));
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  q = Get(kResourceQuotaResource, "alice", "kf-resource-quota");
  EXPECT_EQ(GetString(q, "/spec/hard/count~1inferenceservices.serving.kserve.io"), "5");
  EXPECT_EQ(GetString(q, "spec.hard.cpu"), "");

  obj["spec"].as_object().erase("resourceQuotaSpec");
  ASSERT_TRUE(store_->Update(p->key, obj, 0));
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  EXPECT_FALSE(Exists(*store_, kResourceQuotaResource, "alice", "kf-resource-quota"));
}

TEST_F(ProfileControllerTest, OwnerChangeMovesTheBindingAndAnnotation) {
  CreateProfile("alice", "alice@example.com");
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  auto p = store_->Get({std::string(kProfileResource), "", "alice"});
  ASSERT_TRUE(p);
  json::object obj = p->object;
  obj["spec"].as_object()["owner"] = json::object{{"kind", "User"}, {"name", "carol@example.com"}};
  ASSERT_TRUE(store_->Update(p->key, obj, 0));
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  json::object rb = Get(kRoleBindingsResource, "alice", "namespaceAdmin");
  EXPECT_EQ(GetString(rb, "subjects.0.name"), "carol@example.com");
  EXPECT_EQ(GetString(rb, "metadata.annotations.user"), "carol@example.com");
  EXPECT_EQ(GetString(Get(kNamespaceResource, "", "alice"), "metadata.annotations.owner"),
            "carol@example.com");
  EXPECT_EQ(Condition("alice", "Ready"), "True");
}

TEST_F(ProfileControllerTest, WatchesProfilesNamespacesAndBindings) {
  ASSERT_TRUE(controller_->Start().ok());
  CreateProfile("alice", "alice@example.com");
  ASSERT_TRUE(
      WaitUntil([&] { return Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"); }));
  ASSERT_TRUE(WaitUntil([&] { return Condition("alice", "Ready") == "True"; }));

  // A hand-deleted owner binding comes back; so does a hand-deleted namespace.
  ASSERT_TRUE(store_->Delete({std::string(kRoleBindingsResource), "alice", "namespaceAdmin"}, 0));
  EXPECT_TRUE(
      WaitUntil([&] { return Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"); }));
  ASSERT_TRUE(store_->Delete({"namespaces", "", "alice"}, 0));
  EXPECT_TRUE(WaitUntil([&] { return Exists(*store_, kNamespaceResource, "", "alice"); }));

  ASSERT_TRUE(store_->Delete({std::string(kProfileResource), "", "alice"}, 0));
  EXPECT_TRUE(WaitUntil([&] { return !Exists(*store_, kNamespaceResource, "", "alice"); }));
  EXPECT_TRUE(WaitUntil(
      [&] { return !Exists(*store_, kRoleBindingsResource, "alice", "namespaceAdmin"); }));
  EXPECT_TRUE(controller_->WaitIdle(std::chrono::seconds(10)));
}

TEST_F(ProfileControllerTest, StartReconcilesWhatChangedWhileStopped) {
  CreateProfile("alice", "alice@example.com");
  CreateProfile("bob", "bob@example.com");
  ASSERT_TRUE(controller_->Reconcile("alice").ok());
  // While no controller runs: alice's profile goes, bob's was never reconciled.
  ASSERT_TRUE(store_->Delete({std::string(kProfileResource), "", "alice"}, 0));
  ASSERT_TRUE(controller_->Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return !Exists(*store_, kNamespaceResource, "", "alice"); }));
  EXPECT_TRUE(
      WaitUntil([&] { return Exists(*store_, kRoleBindingsResource, "bob", "namespaceAdmin"); }));
}

TEST_F(ProfileControllerTest, AProfileWithoutOwnerReportsIt) {
  json::object p = ProfileObject("x", "");
  ASSERT_TRUE(store_->Create({std::string(kProfileResource), "", "x"}, std::move(p)));
  ASSERT_TRUE(controller_->Reconcile("x").ok());
  EXPECT_EQ(Condition("x", "Ready"), "False");
  EXPECT_EQ(Condition("x", "Ready", "reason"), "InvalidOwner");
  EXPECT_FALSE(Exists(*store_, kNamespaceResource, "", "x"));
}

}  // namespace
}  // namespace skiff::authz
