// Discovery, /version and OpenAPI v3 through ResourceApi::Handle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_fixture.hpp"

namespace skiff::api {
namespace {

using testing::ApiTest;
using ::testing::Contains;
using ::testing::HasSubstr;
using testing::J;
using testing::Reply;
using ::testing::StartsWith;

const json::object* ResourceNamed(const Reply& r, std::string_view name) {
  for (const auto& res : r.At("resources").as_array()) {
    if (res.at("name") == json::value(name)) return &res.as_object();
  }
  return nullptr;
}

class DiscoveryTest : public ApiTest {};

TEST_F(DiscoveryTest, ApiVersions) {
  Reply r = Get("/api");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "APIVersions");
  EXPECT_EQ(r.At("versions"), J(R"(["v1"])"));
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
}

TEST_F(DiscoveryTest, CoreResourceList) {
  Reply r = Get("/api/v1");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "APIResourceList");
  EXPECT_EQ(r.Str("groupVersion"), "v1");

  const json::object* ns = ResourceNamed(r, "namespaces");
  ASSERT_NE(ns, nullptr) << r;
  EXPECT_EQ(ns->at("kind"), json::value("Namespace"));
  EXPECT_EQ(ns->at("singularName"), json::value("namespace"));
  EXPECT_EQ(ns->at("namespaced"), json::value(false));
  EXPECT_EQ(ns->at("shortNames"), J(R"(["ns"])"));
  EXPECT_THAT(ns->at("verbs").as_array(), Contains(json::value("watch")));
  EXPECT_THAT(ns->at("verbs").as_array(), Contains(json::value("patch")));
  EXPECT_FALSE(ns->at("storageVersionHash").as_string().empty());

  const json::object* status = ResourceNamed(r, "namespaces/status");
  ASSERT_NE(status, nullptr) << r;
  EXPECT_EQ(status->at("verbs"), J(R"(["get","patch","update"])"));

  const json::object* quota = ResourceNamed(r, "resourcequotas");
  ASSERT_NE(quota, nullptr);
  EXPECT_EQ(quota->at("namespaced"), json::value(true));
  EXPECT_EQ(quota->at("shortNames"), J(R"(["quota"])"));
  EXPECT_NE(ResourceNamed(r, "events"), nullptr);
  EXPECT_NE(ResourceNamed(r, "limitranges"), nullptr);
  EXPECT_EQ(ResourceNamed(r, "widgets"), nullptr);  // another group
}

TEST_F(DiscoveryTest, UnknownCoreVersionIsNotFound) {
  Reply r = Get("/api/v2");
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.Str("kind"), "Status");
  EXPECT_EQ(r.Str("reason"), "NotFound");
}

TEST_F(DiscoveryTest, GroupsAndGroupResources) {
  Reply groups = Get("/apis");
  ASSERT_EQ(groups.status, 200) << groups;
  EXPECT_EQ(groups.Str("kind"), "APIGroupList");
  EXPECT_EQ(groups.At("groups"), J(R"([{"name":"example.com",
      "versions":[{"groupVersion":"example.com/v1","version":"v1"}],
      "preferredVersion":{"groupVersion":"example.com/v1","version":"v1"}}])"));

  Reply group = Get("/apis/example.com");
  ASSERT_EQ(group.status, 200) << group;
  EXPECT_EQ(group.Str("kind"), "APIGroup");
  EXPECT_EQ(group.Str("preferredVersion.groupVersion"), "example.com/v1");

  Reply list = Get("/apis/example.com/v1");
  ASSERT_EQ(list.status, 200) << list;
  EXPECT_EQ(list.Str("groupVersion"), "example.com/v1");
  const json::object* w = ResourceNamed(list, "widgets");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->at("categories"), J(R"(["all"])"));
  EXPECT_NE(ResourceNamed(list, "widgets/status"), nullptr);

  EXPECT_EQ(Get("/apis/nope.io").status, 404);
  EXPECT_EQ(Get("/apis/nope.io/v1").status, 404);
  EXPECT_EQ(Get("/apis/example.com/v2").status, 404);
}

TEST_F(DiscoveryTest, DiscoveryRefusesWrites) {
  Reply r = Do("POST", "/api", "{}");
  EXPECT_EQ(r.status, 405) << r;
  EXPECT_EQ(r.Str("reason"), "MethodNotAllowed");
}

TEST_F(DiscoveryTest, Version) {
  Reply r = Get("/version");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("major"), "1");
  EXPECT_EQ(r.Str("minor"), "32");
  EXPECT_EQ(r.Str("gitVersion"), "v1.32.0-skiff");
  EXPECT_EQ(r.Str("platform"), "linux/amd64");
}

TEST_F(DiscoveryTest, OpenApiIndex) {
  Reply r = Get("/openapi/v3");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.Str("paths.api/v1.serverRelativeURL"), StartsWith("/openapi/v3/api/v1?hash="));
  const json::value* group = Find(r.body, "/paths/apis~1example.com~1v1/serverRelativeURL");
  ASSERT_NE(group, nullptr) << r;
  EXPECT_THAT(std::string(group->as_string()), StartsWith("/openapi/v3/apis/example.com/v1?hash="));
}

TEST_F(DiscoveryTest, OpenApiCoreDocument) {
  Reply index = Get("/openapi/v3");
  std::string url = index.Str("paths.api/v1.serverRelativeURL");
  Reply r = Get(url);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.headers.Get("Cache-Control").value_or(""), "public, immutable");
  EXPECT_EQ(r.Str("openapi"), "3.0.0");

  const json::value* patch = Find(r.body, "/paths/~1api~1v1~1namespaces~1{name}/patch");
  ASSERT_NE(patch, nullptr) << r;
  bool has_field_validation = false;
  for (const auto& p : patch->at("parameters").as_array()) {
    has_field_validation =
        has_field_validation ||
        (p.at("name") == json::value("fieldValidation") && p.at("in") == json::value("query"));
  }
  EXPECT_TRUE(has_field_validation) << *patch;
  EXPECT_EQ(patch->at("x-kubernetes-group-version-kind"),
            J(R"({"group":"","version":"v1","kind":"Namespace"})"));
  EXPECT_TRUE(Find(*patch, "/requestBody/content/application~1strategic-merge-patch+json"));

  // Namespaced kinds live under /namespaces/{namespace}/.
  EXPECT_TRUE(Find(r.body, "/paths/~1api~1v1~1namespaces~1{namespace}~1resourcequotas~1{name}"));
  EXPECT_TRUE(Find(r.body, "/paths/~1api~1v1~1namespaces~1{name}~1status"));

  const json::value* schema = Find(r.body, "/components/schemas/io.k8s.api.core.v1.Namespace");
  ASSERT_NE(schema, nullptr);
  EXPECT_EQ(schema->at("x-kubernetes-group-version-kind"),
            J(R"([{"group":"","kind":"Namespace","version":"v1"}])"));
  EXPECT_THAT(GetString(*schema, "properties.metadata.allOf.0.$ref"),
              HasSubstr("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  EXPECT_TRUE(Find(r.body, "/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
}

TEST_F(DiscoveryTest, OpenApiGroupDocumentAndMisses) {
  Reply r = Get("/openapi/v3/apis/example.com/v1");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_TRUE(Find(r.body, "/components/schemas/com.example.v1.Widget")) << r;
  EXPECT_TRUE(
      Find(r.body, "/paths/~1apis~1example.com~1v1~1namespaces~1{namespace}~1widgets/post"));
  EXPECT_EQ(Get("/openapi/v3/apis/nope.io/v1").status, 404);
  EXPECT_EQ(Get("/openapi/v3/apis/example.com").status, 404);
  EXPECT_EQ(Get("/openapi/v3/api/v9").status, 404);
  EXPECT_EQ(Get("/openapi/v2").status, 404);
}

TEST_F(DiscoveryTest, StatusToResponseForErrorsOutsideTheApi) {
  http::Response r = StatusToResponse(Unauthenticated("bad token"));
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(std::string(r.headers.Get("WWW-Authenticate").value_or("")), HasSubstr("Bearer"));
  auto body = ParseJson(r.body);
  ASSERT_TRUE(body);
  EXPECT_EQ(GetString(*body, "reason"), "Unauthorized");
  EXPECT_EQ(GetString(*body, "status"), "Failure");

  http::Response big = StatusToResponse(TooLarge("body over 3 MiB"));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(GetString(*ParseJson(big.body), "reason"), "RequestEntityTooLarge");

  // A 500 never shows internals.
  http::Response internal = StatusToResponse(Internal("sqlite: disk I/O error at /var/lib/x"));
  EXPECT_EQ(internal.status, 500);
  EXPECT_THAT(internal.body, ::testing::Not(HasSubstr("sqlite")));
}

}  // namespace
}  // namespace skiff::api
