// The registration flow: names derived from e-mails (sanitised, prefixed, collisions), one
// Profile per user even under concurrent first requests, who is skipped, and the background
// hook's once-per-user behaviour.
#include "authz/registration.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "authz/profile.hpp"
#include "unit/authz/profile_fakes.hpp"

namespace skiff::authz {
namespace {

using testing::Exists;
using ::testing::HasSubstr;
using testing::NamespaceObject;
using testing::ProfileObject;
using testing::ThreadRunner;

RegistrationOptions Opts(std::string prefix = {}, std::string from = "local-part") {
  RegistrationOptions o;
  o.name_prefix = std::move(prefix);
  o.name_from = std::move(from);
  return o;
}

TEST(ProfileNameFor, DerivesDns1123LabelsFromEmails) {
  EXPECT_EQ(ProfileNameFor("alice@example.com", Opts()), "alice");
  EXPECT_EQ(ProfileNameFor("Alice.Smith+ml@Example.com", Opts()), "alice-smith-ml");
  EXPECT_EQ(ProfileNameFor("alice@example.com", Opts("", "email")), "alice-example-com");
  EXPECT_EQ(ProfileNameFor("alice@example.com", Opts("u-")), "u-alice");
  EXPECT_EQ(ProfileNameFor("admin", Opts()), "admin");
  EXPECT_EQ(ProfileNameFor("_x_@example.com", Opts()), "x");
  EXPECT_EQ(ProfileNameFor("@@@", Opts()), "user");
  EXPECT_EQ(ProfileNameFor("...@example.com", Opts("u-")), "u-user");
  EXPECT_EQ(ProfileNameFor("Ünïcode@example.com", Opts()), "n-code");
  std::string long_name = ProfileNameFor(std::string(80, 'a') + "-b@example.com", Opts());
  EXPECT_EQ(long_name.size(), 57u);
  EXPECT_NE(long_name.back(), '-');
}

TEST(ProfileNameFor, OptionsAreValidated) {
  EXPECT_TRUE(ValidateRegistrationOptions(Opts("u-")).ok());
  EXPECT_THAT(ValidateRegistrationOptions(Opts("", "domain")).message(),
              HasSubstr("profiles.nameFrom"));
  EXPECT_THAT(ValidateRegistrationOptions(Opts("U_")).message(), HasSubstr("profiles.namePrefix"));
}

TEST(Registrable, SkipsTokensAndSystemIdentities) {
  EXPECT_TRUE(IsRegistrable(Principal{"alice@example.com", {}, "session", false}));
  EXPECT_TRUE(IsRegistrable(Principal{"admin@example.com", {}, "jwt", true}));
  EXPECT_FALSE(IsRegistrable(Principal{"admin", {"system:masters"}, "token", true}));
  EXPECT_FALSE(IsRegistrable(Principal{"system:serviceaccount:a:b", {}, "jwt", false}));
  EXPECT_FALSE(IsRegistrable(Principal{"", {}, "session", false}));
}

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::MemoryStore();
    ASSERT_NE(store_, nullptr);
  }
  Registration Make(RegistrationOptions o = {}) {
    return Registration(*store_, runner_, clock_, o);
  }
  std::vector<std::string> ProfilesOwnedBy(const std::string& user) {
    std::vector<std::string> out;
    auto list = store_->List(std::string(kProfileResource), {});
    for (const auto& p : list->items) {
      if (ProfileOwner(p.object) == user) out.push_back(p.key.name);
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  ThreadRunner runner_;
};

TEST_F(RegistrationTest, CreatesOneProfileAndFindsItAgain) {
  Registration r = Make();
  bool created = false;
  auto ns = r.EnsureProfile("alice@example.com", &created);
  ASSERT_TRUE(ns.has_value()) << ns.error().ToString();
  EXPECT_EQ(*ns, "alice");
  EXPECT_TRUE(created);
  auto p = store_->Get({std::string(kProfileResource), "", "alice"});
  ASSERT_TRUE(p);
  EXPECT_EQ(GetString(p->object, "apiVersion"), "kubeflow.org/v1");
  EXPECT_EQ(GetString(p->object, "kind"), "Profile");
  EXPECT_EQ(GetString(p->object, "spec.owner.kind"), "User");
  EXPECT_EQ(ProfileOwner(p->object), "alice@example.com");
  EXPECT_TRUE(ValidateProfile(p->object).empty());

  ns = r.EnsureProfile("alice@example.com", &created);
  EXPECT_EQ(*ns, "alice");
  EXPECT_FALSE(created);
  EXPECT_EQ(ProfilesOwnedBy("alice@example.com").size(), 1u);
}

TEST_F(RegistrationTest, CollisionsTakeTheNextFreeSuffixAndNeverAnExistingNamespace) {
  // "alice" is someone's namespace; "alice-2" someone's profile.
  ASSERT_TRUE(store_->Create({"namespaces", "", "alice"}, NamespaceObject("alice", "x@y.z")));
  ASSERT_TRUE(store_->Create({std::string(kProfileResource), "", "alice-2"},
                             ProfileObject("alice-2", "alice@other.org")));
  Registration r = Make();
  auto ns = r.EnsureProfile("alice@example.com");
  ASSERT_TRUE(ns);
  EXPECT_EQ(*ns, "alice-3");
  // The existing namespace is untouched and still not a profile.
  EXPECT_FALSE(Exists(*store_, kProfileResource, "", "alice"));

  // Reserved names are never used.
  ns = r.EnsureProfile("default@example.com");
  ASSERT_TRUE(ns);
  EXPECT_EQ(*ns, "default-2");
  ns = r.EnsureProfile("kube-system@example.com");
  ASSERT_TRUE(ns);
  EXPECT_EQ(*ns, "kube-system-2");
  EXPECT_TRUE(IsReservedNamespace("kubeflow"));
  EXPECT_FALSE(IsReservedNamespace("kube-system-2"));
}

TEST_F(RegistrationTest, AnAdminBindingCountsAsOwningAWorkgroup) {
  ASSERT_TRUE(store_->Create({"namespaces", "", "team"}, NamespaceObject("team")));
  ASSERT_TRUE(store_->Create(
      {std::string(kRoleBindingsResource), "team", "user-bob-example-com-clusterrole-admin"},
      ContributorRoleBinding("team", "bob@example.com", "admin", clock_)));
  Registration r = Make();
  EXPECT_EQ(*r.OwnedWorkgroup("bob@example.com"), "team");
  bool created = true;
  EXPECT_EQ(*r.EnsureProfile("bob@example.com", &created), "team");
  EXPECT_FALSE(created);
  // An edit binding does not.
  ASSERT_TRUE(store_->Create(
      {std::string(kRoleBindingsResource), "team", "user-carol-example-com-clusterrole-edit"},
      ContributorRoleBinding("team", "carol@example.com", "edit", clock_)));
  EXPECT_EQ(*r.OwnedWorkgroup("carol@example.com"), "");
}

TEST_F(RegistrationTest, ConcurrentFirstRequestsCreateOneProfile) {
  Registration r = Make();
  std::vector<std::thread> threads;
  std::vector<std::string> names(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto ns = r.EnsureProfile("dave@example.com");
      names[i] = ns ? *ns : ns.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& n : names) EXPECT_EQ(n, "dave");
  EXPECT_EQ(ProfilesOwnedBy("dave@example.com").size(), 1u);
}

TEST_F(RegistrationTest, OnRequestCreatesInTheBackgroundOncePerUser) {
  Registration r = Make();
  r.OnRequest(Principal{"admin", {"system:masters"}, "token", true});
  EXPECT_EQ(runner_.posted(), 0);
  for (int i = 0; i < 5; ++i) r.OnRequest(Principal{"erin@example.com", {}, "session", false});
  EXPECT_EQ(runner_.posted(), 1);
  runner_.Drain();
  EXPECT_EQ(ProfilesOwnedBy("erin@example.com"), std::vector<std::string>{"erin"});
  r.OnRequest(Principal{"erin@example.com", {}, "jwt", false});
  EXPECT_EQ(runner_.posted(), 1);
  // From another thread too (its own cache starts empty).
  std::thread([&] { r.OnRequest(Principal{"erin@example.com", {}, "jwt", false}); }).join();
  EXPECT_EQ(runner_.posted(), 1);
  // Another Registration has not seen erin (the per-thread cache is per instance); it finds her
  // profile and creates nothing.
  Registration other = Make();
  other.OnRequest(Principal{"erin@example.com", {}, "session", false});
  EXPECT_EQ(runner_.posted(), 2);
  runner_.Drain();
  EXPECT_EQ(ProfilesOwnedBy("erin@example.com"), std::vector<std::string>{"erin"});
  r.OnRequest(Principal{"erin@example.com", {}, "session", false});
  EXPECT_EQ(runner_.posted(), 2);

  Registration off = Make([] {
    RegistrationOptions o;
    o.auto_create = false;
    return o;
  }());
  off.OnRequest(Principal{"frank@example.com", {}, "session", false});
  EXPECT_EQ(runner_.posted(), 2);
}

TEST_F(RegistrationTest, AFailedBackgroundCreationIsRetriedOnlyAfterAWhile) {
  RegistrationOptions o;
  o.max_suffix = 2;
  o.retry_after = std::chrono::seconds(30);
  Registration r = Make(o);
  // Every name gina may get is taken.
  ASSERT_TRUE(store_->Create({"namespaces", "", "gina"}, NamespaceObject("gina")));
  ASSERT_TRUE(store_->Create({"namespaces", "", "gina-2"}, NamespaceObject("gina-2")));
  const Principal gina{"gina@example.com", {}, "session", false};
  r.OnRequest(gina);
  runner_.Drain();
  EXPECT_EQ(runner_.posted(), 1);
  EXPECT_TRUE(ProfilesOwnedBy(gina.name).empty());
  r.OnRequest(gina);
  EXPECT_EQ(runner_.posted(), 1);  // not on every request
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(store_->Delete({"namespaces", "", "gina-2"}, 0));
  r.OnRequest(gina);
  runner_.Drain();
  EXPECT_EQ(runner_.posted(), 2);
  EXPECT_EQ(ProfilesOwnedBy(gina.name), std::vector<std::string>{"gina-2"});
}

TEST_F(RegistrationTest, CreateProfileChecksTheName) {
  Registration r = Make();
  EXPECT_TRUE(r.CreateProfile("team-x", "g@example.com").ok());
  EXPECT_EQ(r.CreateProfile("team-x", "g@example.com").code(), Code::kAlreadyExists);
  EXPECT_EQ(r.CreateProfile("Team_X", "g@example.com").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.CreateProfile("kube-system", "g@example.com").code(), Code::kInvalidArgument);
  ASSERT_TRUE(store_->Create({"namespaces", "", "taken"}, NamespaceObject("taken")));
  EXPECT_EQ(r.CreateProfile("taken", "g@example.com").code(), Code::kAlreadyExists);
}

}  // namespace
}  // namespace skiff::authz
