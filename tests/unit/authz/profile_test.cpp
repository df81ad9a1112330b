// The Profile kind: registration, validation with field paths, and the names and objects built
// the way Kubeflow's profile controller and kfam build them.
#include "authz/profile.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/validation.hpp"
#include "unit/authz/profile_fakes.hpp"

namespace skiff::authz {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Fields(const api::FieldErrors& errs) {
  std::vector<std::string> out;
  for (const auto& e : errs) out.push_back(api::FormatFieldError(e));
  return out;
}

json::object WithSpec(json::object spec) {
  return json::object{{"metadata", json::object{{"name", "p"}}}, {"spec", std::move(spec)}};
}

TEST(ProfileKind, RegistersClusterScopedWithStatus) {
  api::KindRegistry kinds;
  ASSERT_TRUE(RegisterProfileKind(kinds).ok());
  const api::KindInfo* k = kinds.ByPlural("kubeflow.org", "v1", "profiles");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->kind, "Profile");
  EXPECT_FALSE(k->namespaced);
  EXPECT_TRUE(k->status_subresource);
  EXPECT_TRUE(k->name_is_label);
  EXPECT_EQ(k->StorageResource(), kProfileResource);
  ASSERT_GE(k->columns.size(), 1u);
  EXPECT_EQ(k->columns[0].json_path, ".spec.owner.name");
  const api::KindInfo* beta = kinds.ByPlural("kubeflow.org", "v1beta1", "profiles");
  ASSERT_NE(beta, nullptr);
  EXPECT_EQ(beta->StorageResource(), kProfileResource);
  EXPECT_EQ(kinds.Versions("kubeflow.org").front(), "v1");
}

TEST(ProfileKind, ValidatesTheOwnerWithFieldPaths) {
  EXPECT_THAT(ValidateProfile(testing::ProfileObject("alice", "alice@example.com")), IsEmpty());
  EXPECT_THAT(Fields(ValidateProfile(WithSpec({}))),
              ElementsAre("spec.owner: Required value: the profile's owner is required"));
  EXPECT_THAT(
      Fields(
          ValidateProfile(WithSpec({{"owner", json::object{{"kind", "Group"}, {"name", "g"}}}}))),
      ElementsAre("spec.owner.kind: Unsupported value: \"Group\": supported values: \"User\" (the "
                  "owner is one person)"));
  EXPECT_THAT(Fields(ValidateProfile(WithSpec({{"owner", json::object{{"kind", "User"}}}}))),
              ElementsAre("spec.owner.name: Required value: the owner's user name (e-mail)"));
}

TEST(ProfileKind, ValidatesQuotaQuantities) {
  auto with_hard = [](json::object hard) {
    return WithSpec({{"owner", json::object{{"kind", "User"}, {"name", "a@b.c"}}},
                     {"resourceQuotaSpec", json::object{{"hard", std::move(hard)}}}});
  };
  EXPECT_THAT(ValidateProfile(with_hard({{"cpu", "500m"},
                                         {"memory", "8Gi"},
                                         {"count/inferenceservices.serving.kserve.io", "2"},
                                         {"pods", 10}})),
              IsEmpty());
  EXPECT_THAT(Fields(ValidateProfile(with_hard({{"cpu", "lots"}}))),
              ElementsAre("spec.resourceQuotaSpec.hard[cpu]: Invalid value: \"lots\": must be a "
                          "quantity, e.g. 4, 500m or 8Gi"));
  EXPECT_THAT(
      Fields(ValidateProfile(with_hard({{"count/inferenceservices.serving.kserve.io", "1.5"}}))),
      ElementsAre("spec.resourceQuotaSpec.hard[count/inferenceservices.serving.kserve.io]: "
                  "Invalid value: \"1.5\": must be a non-negative whole number of objects"));
  EXPECT_EQ(ValidateProfile(with_hard({{"pods", -1}})).size(), 1u);
}

TEST(ProfileNames, KfamBindingNames) {
  EXPECT_EQ(KfamBindingName("User", "alice@example.com", "ClusterRole", "edit"),
            "user-alice-example-com-clusterrole-edit");
  EXPECT_EQ(KfamBindingName("User", "bob.smith+ml@corp.example.org", "ClusterRole", "view"),
            "user-bob-smith-ml-corp-example-org-clusterrole-view");
  EXPECT_EQ(KfamBindingName("User", "Carol@Example.com", "ClusterRole", "admin"),
            "user-carol-example-com-clusterrole-admin");
}

TEST(ProfileNames, Roles) {
  EXPECT_EQ(ClusterRoleForShortRole("edit"), "kubeflow-edit");
  EXPECT_EQ(ClusterRoleForShortRole("owner"), "");
  EXPECT_EQ(ShortRoleForClusterRole("kubeflow-view"), "view");
  EXPECT_EQ(ShortRoleForClusterRole("cluster-admin"), "");
}

TEST(ProfileObjects, ContributorBindingAsKfamCreatesIt) {
  FakeClock clock;
  json::object rb = ContributorRoleBinding("alice", "bob@example.com", "view", clock);
  EXPECT_EQ(GetString(rb, "metadata.name"), "user-bob-example-com-clusterrole-view");
  EXPECT_EQ(GetString(rb, "metadata.namespace"), "alice");
  EXPECT_EQ(GetString(rb, "metadata.annotations.user"), "bob@example.com");
  EXPECT_EQ(GetString(rb, "metadata.annotations.role"), "view");
  EXPECT_EQ(GetString(rb, "roleRef.apiGroup"), "rbac.authorization.k8s.io");
  EXPECT_EQ(GetString(rb, "roleRef.kind"), "ClusterRole");
  EXPECT_EQ(GetString(rb, "roleRef.name"), "kubeflow-view");
  EXPECT_EQ(GetString(rb, "subjects.0.kind"), "User");
  EXPECT_EQ(GetString(rb, "subjects.0.name"), "bob@example.com");
}

}  // namespace
}  // namespace skiff::authz
