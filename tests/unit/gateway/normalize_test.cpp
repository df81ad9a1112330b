// Path-normalization bypass attempts: raw request paths go through http::NormalizePath (what
// the connection does to every request) and then the RouteTable. An encoding, dot-segment,
// slash or case trick must either be refused by normalization or route exactly where the plain
// path routes -- never around a route (and the authorization rule derived from it).

#include <gtest/gtest.h>

#include <sstream>

#include "core/yaml.hpp"
#include "gateway/route_table.hpp"
#include "http/http.hpp"

namespace skiff::gateway {
namespace {

VirtualService Vs(std::string_view yaml) {
  auto doc = ParseYaml(yaml);
  EXPECT_TRUE(doc.has_value()) << yaml;
  auto vs = ParseVirtualService(doc->as_object());
  EXPECT_TRUE(vs.has_value()) << (vs ? "" : vs.error().message());
  return *vs;
}

std::shared_ptr<const RouteTable> Table() {
  auto team_a = Vs(R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: kfserving-iap, namespace: team-a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  hosts: ['*']
  http:
  - match:
    - uri: {prefix: /kfserving/team-a/sklearn-iap}
    route:
    - destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}
      headers:
        request:
          set: {Host: sklearn-iap-predictor-default.team-a.svc.cluster.local}
    rewrite: {uri: /v1/models/sklearn-iap}
  - name: admin
    match:
    - uri: {prefix: /admin/}
    directResponse: {status: 403, body: {string: admins only}}
)");
  auto any_case = Vs(R"(apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: any-case, namespace: team-b, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  hosts: ['*']
  http:
  - match:
    - uri: {prefix: /models/team-b/xgb}
      ignoreUriCase: true
    route:
    - destination: {host: xgb-predictor-default.team-b.svc.cluster.local}
    rewrite: {uri: /v1/models/xgb}
)");
  BuiltinRoute dashboard;
  dashboard.name = "dashboard";
  dashboard.path_kind = BuiltinRoute::PathKind::kPrefix;
  dashboard.path = "/";
  dashboard.service = "dashboard";
  auto t = RouteTable::Build(PlatformRoutes("/dex"), {team_a, any_case}, {dashboard});
  EXPECT_TRUE(t.has_value());
  return *t;
}

struct Attempt {
  std::string raw;    // the request target's path as sent
  std::string route;  // expected route name; "" when normalization must refuse the path
  std::string path;   // expected path after the route's rewrite (when routed)
};

std::ostream& operator<<(std::ostream& os, const Attempt& a) { return os << a.raw; }

class Bypass : public ::testing::TestWithParam<Attempt> {};

TEST_P(Bypass, CannotGoAroundARoute) {
  const Attempt& a = GetParam();
  auto normalized = http::NormalizePath(a.raw);
  if (a.route.empty()) {
    ASSERT_FALSE(normalized.has_value()) << a.raw << " normalized to " << *normalized;
    EXPECT_EQ(normalized.error().code(), Code::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(normalized.has_value()) << a.raw << ": " << normalized.error().message();
  static auto table = Table();
  RouteRequest req;
  req.method = "POST";
  req.path = *normalized;
  req.authority = "kubeflow.example.com";
  SeededRandom random(1);
  Trace trace;
  Decision d = table->Route(req, random, &trace);
  EXPECT_EQ(d.route_name, a.route) << a.raw << " -> " << *normalized << "\n" << trace.ToText();
  EXPECT_EQ(d.path, a.path) << a.raw;
}

constexpr const char* kModel = "team-a/kfserving-iap[0]";
constexpr const char* kPredict = "/v1/models/sklearn-iap:predict";

INSTANTIATE_TEST_SUITE_P(
    Normalize, Bypass,
    ::testing::Values(
        // The plain paths.
        Attempt{"/kfserving/team-a/sklearn-iap:predict", kModel, kPredict},
        Attempt{"/api/v1/namespaces", "api", "/api/v1/namespaces"},
        Attempt{"/admin/users", "admin", "/admin/users"},
        // Duplicate slashes merge.
        Attempt{"//api//v1/namespaces", "api", "/api/v1/namespaces"},
        Attempt{"/kfserving//team-a///sklearn-iap:predict", kModel, kPredict},
        Attempt{"//admin//users", "admin", "/admin/users"},
        // Encoded slashes are refused (Envoy's REJECT_REQUEST for %2F).
        Attempt{"/api%2Fv1/namespaces", "", ""}, Attempt{"/admin%2fusers", "", ""},
        Attempt{"/kfserving/team-a%2Fsklearn-iap:predict", "", ""},
        // "." and ".." segments resolve, plain or percent-encoded.
        Attempt{"/./api/./v1/namespaces", "api", "/api/v1/namespaces"},
        Attempt{"/public/../admin/users", "admin", "/admin/users"},
        Attempt{"/public/%2e%2e/admin/users", "admin", "/admin/users"},
        Attempt{"/public/%2E%2E/admin/users", "admin", "/admin/users"},
        Attempt{"/public/.%2e/admin/users", "admin", "/admin/users"},
        Attempt{"/%2e/admin/users", "admin", "/admin/users"},
        Attempt{"/kfserving/team-a/sklearn-iap/../../team-b/x:predict", "dashboard",
                "/kfserving/team-b/x:predict"},
        Attempt{"/kfserving/x/../team-a/sklearn-iap:predict", kModel, kPredict},
        // ".." above the root is refused.
        Attempt{"/../admin/users", "", ""}, Attempt{"/%2e%2e/admin/users", "", ""},
        // Backslashes, raw or encoded, are refused (no "\" to "/" guessing).
        Attempt{"/admin\\users", "", ""}, Attempt{"/public\\..\\admin/users", "", ""},
        Attempt{"/admin%5Cusers", "", ""}, Attempt{"/admin%5cusers", "", ""},
        // NUL and malformed escapes are refused.
        Attempt{"/admin/users%00", "", ""}, Attempt{"/admin/%zzusers", "", ""},
        // Unreserved characters decode to the same route.
        Attempt{"/kfserving/team-a/%73klearn-iap:predict", kModel, kPredict},
        Attempt{"/%61dmin/users", "admin", "/admin/users"},
        Attempt{"/%61pi/v1/namespaces", "api", "/api/v1/namespaces"},
        // Case: matching is case-sensitive unless the route says ignoreUriCase. A case trick
        // never reaches the case-sensitive route's destination (it lands on the dashboard,
        // which serves no model and no API).
        Attempt{"/API/v1/namespaces", "dashboard", "/API/v1/namespaces"},
        Attempt{"/KFSERVING/team-a/sklearn-iap:predict", "dashboard",
                "/KFSERVING/team-a/sklearn-iap:predict"},
        Attempt{"/Admin/users", "dashboard", "/Admin/users"},
        // ignoreUriCase: every spelling routes to the same model with the same rewrite.
        Attempt{"/models/team-b/xgb:predict", "team-b/any-case[0]", "/v1/models/xgb:predict"},
        Attempt{"/MODELS/TEAM-B/XGB:predict", "team-b/any-case[0]", "/v1/models/xgb:predict"},
        Attempt{"//Models/./team-b/%58gb:predict", "team-b/any-case[0]",
                "/v1/models/xgb:predict"}));

// NormalizePath decodes every escape, including %25: a double-encoded "%252F" survives as the
// literal text "%2F" in the routed path. Routing sees (and authorizes) that literal path, so
// the table is not bypassed; whoever forwards the path to an upstream must re-encode it, or the
// upstream decodes "%2F" a second time (reported to the lead).
TEST(NormalizeDoubleEncoding, RoutedAsLiteralText) {
  auto normalized = http::NormalizePath("/kfserving/team-a/sklearn-iap%252F..%252Fx");
  ASSERT_TRUE(normalized.has_value());
  EXPECT_EQ(*normalized, "/kfserving/team-a/sklearn-iap%2F..%2Fx");
  auto table = Table();
  RouteRequest req;
  req.path = *normalized;
  SeededRandom random(1);
  Decision d = table->Route(req, random);
  EXPECT_EQ(d.route_name, kModel);
  EXPECT_EQ(d.path, "/v1/models/sklearn-iap%2F..%2Fx");
}

}  // namespace
}  // namespace skiff::gateway
