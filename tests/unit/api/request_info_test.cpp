#include "api/request_info.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace skiff::api {
namespace {

// One row of the Kubernetes RequestInfoResolver table (staging/src/k8s.io/apiserver/pkg/
// endpoints/request/requestinfo_test.go), as skiff resolves it.
struct Row {
  const char* method;
  const char* path;
  const char* watch;  // ?watch= value
  bool resource;
  const char* verb;
  const char* prefix;
  const char* group;
  const char* version;
  const char* ns;
  const char* resource_name;
  const char* name;
  const char* subresource;
};

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << r.method << " " << r.path << (r.watch[0] ? "?watch=" : "") << r.watch;
}

class RequestInfoTable : public ::testing::TestWithParam<Row> {};

TEST_P(RequestInfoTable, Resolves) {
  const Row& r = GetParam();
  auto info = ParseRequestInfo(r.method, r.path, r.watch);
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->is_resource_request, r.resource);
  EXPECT_EQ(info->verb, r.verb);
  EXPECT_EQ(info->api_prefix, r.prefix);
  EXPECT_EQ(info->group, r.group);
  EXPECT_EQ(info->version, r.version);
  EXPECT_EQ(info->ns, r.ns);
  EXPECT_EQ(info->resource, r.resource_name);
  EXPECT_EQ(info->name, r.name);
  EXPECT_EQ(info->subresource, r.subresource);
}

INSTANTIATE_TEST_SUITE_P(
    Kubernetes, RequestInfoTable,
    ::testing::Values(
        // Discovery: not resource requests.
        Row{"GET", "/api", "", false, "", "api", "", "", "", "", "", ""},
        Row{"GET", "/api/v1", "", false, "", "api", "", "v1", "", "", "", ""},
        Row{"GET", "/apis", "", false, "", "apis", "", "", "", "", "", ""},
        Row{"GET", "/apis/serving.kserve.io", "", false, "", "apis", "", "", "", "", "", ""},
        Row{"GET", "/apis/serving.kserve.io/v1beta1", "", false, "", "apis", "serving.kserve.io",
            "v1beta1", "", "", "", ""},
        Row{"GET", "/version", "", false, "get", "", "", "", "", "", "", ""},
        Row{"GET", "/openapi/v3", "", false, "get", "", "", "", "", "", "", ""},
        // Namespaces, the cluster-scoped kind addressed like a namespace.
        Row{"GET", "/api/v1/namespaces", "", true, "list", "api", "", "v1", "", "namespaces", "",
            ""},
        Row{"POST", "/api/v1/namespaces", "", true, "create", "api", "", "v1", "", "namespaces", "",
            ""},
        Row{"GET", "/api/v1/namespaces/x", "", true, "get", "api", "", "v1", "", "namespaces", "x",
            ""},
        Row{"PUT", "/api/v1/namespaces/x", "", true, "update", "api", "", "v1", "", "namespaces",
            "x", ""},
        Row{"PATCH", "/api/v1/namespaces/x", "", true, "patch", "api", "", "v1", "", "namespaces",
            "x", ""},
        Row{"DELETE", "/api/v1/namespaces/x", "", true, "delete", "api", "", "v1", "", "namespaces",
            "x", ""},
        Row{"GET", "/api/v1/namespaces/x/status", "", true, "get", "api", "", "v1", "",
            "namespaces", "x", "status"},
        Row{"PUT", "/api/v1/namespaces/x/status", "", true, "update", "api", "", "v1", "",
            "namespaces", "x", "status"},
        Row{"PUT", "/api/v1/namespaces/x/finalize", "", true, "update", "api", "", "v1", "",
            "namespaces", "x", "finalize"},
        // Namespaced resources.
        Row{"GET", "/api/v1/namespaces/ns/resourcequotas", "", true, "list", "api", "", "v1", "ns",
            "resourcequotas", "", ""},
        Row{"POST", "/api/v1/namespaces/ns/resourcequotas", "", true, "create", "api", "", "v1",
            "ns", "resourcequotas", "", ""},
        Row{"GET", "/api/v1/namespaces/ns/resourcequotas/q", "", true, "get", "api", "", "v1", "ns",
            "resourcequotas", "q", ""},
        Row{"DELETE", "/api/v1/namespaces/ns/resourcequotas/q", "", true, "delete", "api", "", "v1",
            "ns", "resourcequotas", "q", ""},
        Row{"DELETE", "/api/v1/namespaces/ns/resourcequotas", "", true, "deletecollection", "api",
            "", "v1", "ns", "resourcequotas", "", ""},
        Row{"GET", "/api/v1/resourcequotas", "", true, "list", "api", "", "v1", "",
            "resourcequotas", "", ""},
        Row{"GET", "/apis/g.example.com/v1/namespaces/ns/widgets/w/status", "", true, "get", "apis",
            "g.example.com", "v1", "ns", "widgets", "w", "status"},
        Row{"PATCH", "/apis/g.example.com/v1/namespaces/ns/widgets/w/status", "", true, "patch",
            "apis", "g.example.com", "v1", "ns", "widgets", "w", "status"},
        Row{"GET", "/apis/g.example.com/v1/widgets", "", true, "list", "apis", "g.example.com",
            "v1", "", "widgets", "", ""},
        // "namespaces" inside a namespace keeps the namespace (and is then not found).
        Row{"GET", "/api/v1/namespaces/ns/namespaces/x", "", true, "get", "api", "", "v1", "ns",
            "namespaces", "x", ""},
        // A namespace literally named "status" is still a namespace.
        Row{"GET", "/api/v1/namespaces/status/resourcequotas", "", true, "list", "api", "", "v1",
            "status", "resourcequotas", "", ""},
        // Watches: ?watch=true / 1, and the legacy /watch/ prefix.
        Row{"GET", "/api/v1/namespaces", "true", true, "watch", "api", "", "v1", "", "namespaces",
            "", ""},
        Row{"GET", "/api/v1/namespaces/ns/resourcequotas", "1", true, "watch", "api", "", "v1",
            "ns", "resourcequotas", "", ""},
        Row{"GET", "/api/v1/namespaces", "false", true, "list", "api", "", "v1", "", "namespaces",
            "", ""},
        Row{"GET", "/api/v1/watch/namespaces", "", true, "watch", "api", "", "v1", "", "namespaces",
            "", ""},
        Row{"GET", "/api/v1/watch/namespaces/x", "", true, "watch", "api", "", "v1", "",
            "namespaces", "x", ""},
        Row{"GET", "/api/v1/watch/namespaces/ns/resourcequotas", "", true, "watch", "api", "", "v1",
            "ns", "resourcequotas", "", ""},
        Row{"GET", "/apis/g.example.com/v1/watch/widgets", "", true, "watch", "apis",
            "g.example.com", "v1", "", "widgets", "", ""},
        // Other methods.
        Row{"HEAD", "/api/v1/namespaces/x", "", true, "get", "api", "", "v1", "", "namespaces", "x",
            ""},
        Row{"OPTIONS", "/api/v1/namespaces", "", true, "unknown", "api", "", "v1", "", "namespaces",
            "", ""}));

TEST(RequestInfo, TooDeepPathIsNotFound) {
  auto r = ParseRequestInfo("GET", "/api/v1/namespaces/ns/resourcequotas/q/status/extra", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(RequestInfo, LegacyWatchWithoutResourceIsNotFound) {
  auto r = ParseRequestInfo("GET", "/api/v1/watch", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(RequestInfo, DuplicateSlashesAreTolerated) {
  auto r = ParseRequestInfo("GET", "//api//v1//namespaces//x", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->resource, "namespaces");
  EXPECT_EQ(r->name, "x");
  EXPECT_EQ(r->verb, "get");
}

}  // namespace
}  // namespace skiff::api
