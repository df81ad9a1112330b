// The routing table: Istio VirtualService semantics, one table case per field, plus precedence,
// weighted splits, built-in routes and the explain trace.

#include "gateway/route_table.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/yaml.hpp"
#include "http/upstream.hpp"

namespace skiff::gateway {
namespace {

// A VirtualService from the YAML of its spec (indented as written at column 0).
VirtualService Vs(std::string_view spec_yaml, std::string name = "vs", std::string ns = "ns",
                  std::string created = "") {
  std::string text =
      "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n"
      "  name: " +
      name + "\n  namespace: " + ns + "\n";
  if (!created.empty()) text += "  creationTimestamp: \"" + created + "\"\n";
  text += "spec:\n";
  std::istringstream lines{std::string(spec_yaml)};
  for (std::string line; std::getline(lines, line);) text += "  " + line + "\n";
  auto doc = ParseYaml(text);
  EXPECT_TRUE(doc.has_value()) << text;
  api::FieldErrors errors;
  auto vs = ParseVirtualService(doc->as_object(), &errors);
  EXPECT_TRUE(vs.has_value()) << (vs ? "" : vs.error().message()) << "\n" << text;
  return vs ? *vs : VirtualService{};
}

RouteRequest Req(std::string method, std::string url, std::string authority = "example.com",
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 std::string scheme = "http", uint32_t port = 80) {
  RouteRequest r;
  r.method = std::move(method);
  size_t q = url.find('?');
  r.path = url.substr(0, q);
  if (q != std::string::npos) r.query = url.substr(q + 1);
  r.authority = std::move(authority);
  r.scheme = std::move(scheme);
  r.port = port;
  for (auto& [k, v] : headers) r.headers.Add(k, v);
  return r;
}

std::shared_ptr<const RouteTable> Table(std::vector<VirtualService> services,
                                        RouteTableOptions options = {}) {
  BuiltinRoute dashboard;
  dashboard.name = "dashboard";
  dashboard.path_kind = BuiltinRoute::PathKind::kPrefix;
  dashboard.path = "/";
  dashboard.service = "dashboard";
  auto t = RouteTable::Build(PlatformRoutes("/dex"), std::move(services), {dashboard},
                             std::move(options));
  EXPECT_TRUE(t.has_value());
  return *t;
}

std::string Ops(const std::vector<HeaderOp>& ops) {
  std::string out;
  for (const auto& op : ops) {
    if (!out.empty()) out += "|";
    out += op.kind == HeaderOp::Kind::kRemove ? "-" : op.kind == HeaderOp::Kind::kSet ? "=" : "+";
    out += op.name;
    if (op.kind != HeaderOp::Kind::kRemove) out += ":" + op.value;
  }
  return out;
}

using K = Decision::Kind;

struct Case {
  std::string name;  // the Istio field under test
  std::string spec;  // VirtualService spec YAML
  RouteRequest request;
  std::function<void(const Decision&)> check;
};

// One case per VirtualService field the table implements.
std::vector<Case> Cases() {
  std::vector<Case> c;
  const std::string up = "  route:\n  - destination:\n      host: backend.example.org\n";
  // --- hosts
  c.push_back({"hosts_exact",
               "hosts: [a.example.com]\nhttp:\n- route:\n  - destination:\n"
               "      host: backend.example.org\n",
               Req("GET", "/x", "A.Example.com:8080"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kUpstream);
                 EXPECT_EQ(d.upstream, "backend.example.org:80");
               }});
  c.push_back({"hosts_exact_absolute_name",
               "hosts: [a.example.com]\nhttp:\n- route:\n  - destination:\n"
               "      host: backend.example.org\n",
               Req("GET", "/x", "a.example.com."),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"hosts_exact_other_host_falls_to_dashboard",
               "hosts: [a.example.com]\nhttp:\n- route:\n  - destination:\n"
               "      host: backend.example.org\n",
               Req("GET", "/x", "b.example.com"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kService);
                 EXPECT_EQ(d.service, "dashboard");
               }});
  c.push_back({"hosts_wildcard_suffix", "hosts: ['*.example.com']\nhttp:\n-" + up.substr(1),
               Req("GET", "/x", "b.a.example.com"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"hosts_wildcard_suffix_not_bare_domain",
               "hosts: ['*.example.com']\nhttp:\n-" + up.substr(1), Req("GET", "/x", "example.com"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"hosts_short_name_expanded", "hosts: [sklearn]\nhttp:\n-" + up.substr(1),
               Req("GET", "/x", "sklearn.ns.svc.cluster.local"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  // --- match
  c.push_back({"match_uri_exact", "hosts: ['*']\nhttp:\n- match:\n  - uri: {exact: /a}\n" + up,
               Req("GET", "/a"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_uri_exact_no_prefix",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {exact: /a}\n" + up, Req("GET", "/a/b"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_uri_prefix_is_string_prefix",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /models/a}\n" + up,
               Req("GET", "/models/a:predict"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_uri_regex_full_match",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {regex: '/v[12]/models/[a-z]+'}\n" + up,
               Req("GET", "/v2/models/abc"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_uri_regex_partial_is_no_match",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {regex: '/v[12]/models'}\n" + up,
               Req("GET", "/v2/models/abc"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back(
      {"match_ignoreUriCase",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /Models}\n    ignoreUriCase: true\n" + up,
       Req("GET", "/mODELS/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_uri_case_sensitive_by_default",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /models}\n" + up,
               Req("GET", "/MODELS/x"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_method", "hosts: ['*']\nhttp:\n- match:\n  - method: {exact: POST}\n" + up,
               Req("POST", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_method_other",
               "hosts: ['*']\nhttp:\n- match:\n  - method: {exact: POST}\n" + up, Req("GET", "/x"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_scheme", "hosts: ['*']\nhttp:\n- match:\n  - scheme: {exact: https}\n" + up,
               Req("GET", "/x", "example.com", {}, "https"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_scheme_other",
               "hosts: ['*']\nhttp:\n- match:\n  - scheme: {exact: https}\n" + up,
               Req("GET", "/x", "example.com", {}, "http"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_authority",
               "hosts: ['*']\nhttp:\n- match:\n  - authority: {prefix: api.}\n" + up,
               Req("GET", "/x", "api.example.com:8443"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_headers_exact",
               "hosts: ['*']\nhttp:\n- match:\n  - headers:\n      X-Canary: {exact: 'yes'}\n" + up,
               Req("GET", "/x", "e.com", {{"x-canary", "yes"}}),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_headers_wrong_value",
               "hosts: ['*']\nhttp:\n- match:\n  - headers:\n      x-canary: {exact: 'yes'}\n" + up,
               Req("GET", "/x", "e.com", {{"X-Canary", "no"}}),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_headers_presence",
               "hosts: ['*']\nhttp:\n- match:\n  - headers:\n      x-debug: {}\n" + up,
               Req("GET", "/x", "e.com", {{"x-debug", ""}}),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_withoutHeaders",
               "hosts: ['*']\nhttp:\n- match:\n  - withoutHeaders:\n      x-internal: {}\n" + up,
               Req("GET", "/x", "e.com", {{"x-internal", "1"}}),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_withoutHeaders_absent",
               "hosts: ['*']\nhttp:\n- match:\n  - withoutHeaders:\n      x-internal: {}\n" + up,
               Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_queryParams_exact",
               "hosts: ['*']\nhttp:\n- match:\n  - queryParams:\n      v: {exact: '2 b'}\n" + up,
               Req("GET", "/x?a=1&v=2%20b"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_queryParams_regex",
               "hosts: ['*']\nhttp:\n- match:\n  - queryParams:\n      v: {regex: '[0-9]+'}\n" + up,
               Req("GET", "/x?v=abc"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_port", "hosts: ['*']\nhttp:\n- match:\n  - port: 8443\n" + up,
               Req("GET", "/x", "e.com", {}, "https", 8443),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"match_port_other", "hosts: ['*']\nhttp:\n- match:\n  - port: 8443\n" + up,
               Req("GET", "/x", "e.com", {}, "http", 8080),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_sourceLabels_never_at_gateway",
               "hosts: ['*']\nhttp:\n- match:\n  - sourceLabels: {app: x}\n" + up, Req("GET", "/x"),
               [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"match_list_is_or",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /a}\n  - uri: {prefix: /b}\n" + up,
               Req("GET", "/b/1"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back(
      {"match_conditions_are_and",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /a}\n    method: {exact: PUT}\n" + up,
       Req("GET", "/a"), [](const Decision& d) { EXPECT_EQ(d.service, "dashboard"); }});
  c.push_back({"http_first_match_wins",
               "hosts: ['*']\nhttp:\n- name: first\n  match:\n  - uri: {prefix: /a}\n  route:\n"
               "  - destination: {host: one.example.org}\n- name: second\n  route:\n"
               "  - destination: {host: two.example.org}\n",
               Req("GET", "/a/x"), [](const Decision& d) {
                 EXPECT_EQ(d.route_name, "first");
                 EXPECT_EQ(d.upstream, "one.example.org:80");
               }});
  c.push_back({"http_no_match_list_matches_all",
               "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: two.example.org}\n",
               Req("DELETE", "/anything"), [](const Decision& d) {
                 EXPECT_EQ(d.route_name, "ns/vs[0]");
                 EXPECT_EQ(d.source, "VirtualService ns/vs");
               }});
  // --- rewrite
  c.push_back(
      {"rewrite_uri_replaces_matched_prefix",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /ml/a}\n  rewrite: {uri: /v1/models/a}\n" +
           up,
       Req("POST", "/ml/a:predict?x=1"), [](const Decision& d) {
         EXPECT_EQ(d.path, "/v1/models/a:predict");
         EXPECT_EQ(d.query, "x=1");
       }});
  c.push_back({"rewrite_uri_ignoreUriCase_prefix",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /ml/a}\n    ignoreUriCase: true\n"
               "  rewrite: {uri: /v1/models/a}\n" +
                   up,
               Req("POST", "/ML/A:predict"),
               [](const Decision& d) { EXPECT_EQ(d.path, "/v1/models/a:predict"); }});
  c.push_back(
      {"rewrite_uri_exact_replaces_whole_path",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {exact: /old}\n  rewrite: {uri: /new/path}\n" + up,
       Req("GET", "/old"), [](const Decision& d) { EXPECT_EQ(d.path, "/new/path"); }});
  c.push_back({"rewrite_uri_without_uri_match_replaces_root_prefix",
               "hosts: ['*']\nhttp:\n- rewrite: {uri: /base/}\n" + up, Req("GET", "/x/y"),
               [](const Decision& d) { EXPECT_EQ(d.path, "/base/x/y"); }});
  c.push_back(
      {"rewrite_uriRegexRewrite",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /svc}\n  rewrite:\n    uriRegexRewrite:\n"
       "      match: '^/svc/([^/]+)/(.*)$'\n      rewrite: '/\\2/\\1'\n" +
           up,
       Req("GET", "/svc/a/b/c"), [](const Decision& d) { EXPECT_EQ(d.path, "/b/c/a"); }});
  c.push_back({"rewrite_authority",
               "hosts: ['*']\nhttp:\n- rewrite: {authority: internal.example.org}\n" + up,
               Req("GET", "/x", "public.example.com"),
               [](const Decision& d) { EXPECT_EQ(d.authority, "internal.example.org"); }});
  // --- route / destination
  c.push_back({"destination_port_number",
               "hosts: ['*']\nhttp:\n- route:\n  - destination:\n      host: b.example.org\n"
               "      port: {number: 8080}\n",
               Req("GET", "/x"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kUpstream);
                 EXPECT_EQ(d.upstream, "b.example.org:8080");
                 EXPECT_EQ(d.port, 8080u);
               }});
  c.push_back(
      {"destination_subset_recorded",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: b.example.org, subset: v2}\n",
       Req("GET", "/x"), [](const Decision& d) {
         ASSERT_TRUE(d.destination);
         EXPECT_EQ(d.destination->subset, "v2");
       }});
  c.push_back({"destination_in_cluster_reenters_with_host",
               "hosts: ['*']\nhttp:\n- route:\n  - destination:\n"
               "      host: m-predictor-default.team-a.svc.cluster.local\n",
               Req("GET", "/v1/models/m"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kReenter);
                 EXPECT_EQ(d.authority, "m-predictor-default.team-a.svc.cluster.local");
               }});
  c.push_back({"destination_short_name_in_vs_namespace",
               "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: m-predictor-default}\n",
               Req("GET", "/v1/models/m"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kReenter);
                 EXPECT_EQ(d.authority, "m-predictor-default.ns.svc.cluster.local");
               }});
  c.push_back({"destination_gateway_reenters_keeping_set_host",
               "hosts: ['*']\nhttp:\n- route:\n  - destination:\n"
               "      host: knative-local-gateway.istio-system.svc.cluster.local\n    headers:\n"
               "      request:\n        set: {Host: m.team-a.example.com}\n",
               Req("GET", "/x", "example.com"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kReenter);
                 EXPECT_EQ(d.authority, "m.team-a.example.com");
                 EXPECT_EQ(Ops(d.request_headers), "");  // Host is reflected in authority
               }});
  // --- headers
  c.push_back({"headers_request_order_destination_then_route",
               "hosts: ['*']\nhttp:\n- headers:\n    request:\n      set: {x-a: route}\n"
               "      add: {x-b: route}\n      remove: [x-c]\n  route:\n  - destination: {host: "
               "b.example.org}\n"
               "    headers:\n      request:\n        set: {X-A: dest}\n        remove: [x-d]\n",
               Req("GET", "/x"), [](const Decision& d) {
                 EXPECT_EQ(Ops(d.request_headers), "-x-d|=x-a:dest|-x-c|=x-a:route|+x-b:route");
                 http::HeaderMap h;
                 h.Add("x-c", "1");
                 h.Add("x-d", "1");
                 h.Add("x-b", "old");
                 ApplyHeaderOps(d.request_headers, h);
                 EXPECT_EQ(h.Get("x-a"), "route");
                 EXPECT_FALSE(h.Has("x-c"));
                 EXPECT_FALSE(h.Has("x-d"));
                 EXPECT_EQ(h.GetAll("x-b").size(), 2u);
               }});
  c.push_back({"headers_response",
               "hosts: ['*']\nhttp:\n- headers:\n    response:\n      set: {x-served-by: skiff}\n"
               "      remove: [server]\n" +
                   up,
               Req("GET", "/x"), [](const Decision& d) {
                 EXPECT_EQ(Ops(d.response_headers), "-server|=x-served-by:skiff");
               }});
  // --- timeout, retries
  c.push_back({"timeout", "hosts: ['*']\nhttp:\n- timeout: 1.5s\n" + up, Req("GET", "/x"),
               [](const Decision& d) {
                 ASSERT_TRUE(d.timeout);
                 EXPECT_EQ(d.timeout->count(), 1500);
               }});
  c.push_back({"retries",
               "hosts: ['*']\nhttp:\n- retries: {attempts: 3, perTryTimeout: 100ms, retryOn: "
               "'5xx,connect-failure'}\n" +
                   up,
               Req("GET", "/x"), [](const Decision& d) {
                 ASSERT_TRUE(d.retries);
                 EXPECT_EQ(d.retries->attempts, 3);
                 EXPECT_EQ(d.retries->per_try_timeout->count(), 100);
                 EXPECT_EQ(d.retries->retry_on, "5xx,connect-failure");
               }});
  // --- redirect
  c.push_back({"redirect_uri_default_301", "hosts: ['*']\nhttp:\n- redirect: {uri: /new}\n",
               Req("GET", "/old?q=1", "e.com:8080"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kRedirect);
                 EXPECT_EQ(d.status, 301);
                 EXPECT_EQ(d.location, "http://e.com:8080/new?q=1");
               }});
  c.push_back({"redirect_authority_scheme_code",
               "hosts: ['*']\nhttp:\n- redirect: {authority: secure.example.com, scheme: https, "
               "redirectCode: 308, derivePort: FROM_PROTOCOL_DEFAULT}\n",
               Req("GET", "/p", "e.com:8080"), [](const Decision& d) {
                 EXPECT_EQ(d.status, 308);
                 EXPECT_EQ(d.location, "https://secure.example.com/p");
               }});
  c.push_back({"redirect_without_host_is_relative",
               "hosts: ['*']\nhttp:\n- redirect: {uri: /new}\n", Req("GET", "/old", ""),
               [](const Decision& d) { EXPECT_EQ(d.location, "/new"); }});
  c.push_back({"redirect_port", "hosts: ['*']\nhttp:\n- redirect: {port: 8443, scheme: https}\n",
               Req("GET", "/p", "e.com"),
               [](const Decision& d) { EXPECT_EQ(d.location, "https://e.com:8443/p"); }});
  // --- directResponse
  c.push_back(
      {"directResponse_string",
       "hosts: ['*']\nhttp:\n- directResponse:\n    status: 503\n    body: {string: down}\n",
       Req("GET", "/x"), [](const Decision& d) {
         EXPECT_EQ(d.kind, K::kDirectResponse);
         EXPECT_EQ(d.status, 503);
         EXPECT_EQ(d.body, "down");
       }});
  c.push_back({"directResponse_bytes",
               "hosts: ['*']\nhttp:\n- directResponse:\n    status: 200\n    body: {bytes: aGk=}\n",
               Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.body, "hi"); }});
  // --- fault
  c.push_back(
      {"fault_abort",
       "hosts: ['*']\nhttp:\n- fault:\n    abort: {httpStatus: 418, percentage: {value: 100}}\n" +
           up,
       Req("GET", "/x"), [](const Decision& d) {
         EXPECT_EQ(d.kind, K::kAbort);
         EXPECT_EQ(d.status, 418);
       }});
  c.push_back(
      {"fault_abort_zero_percent",
       "hosts: ['*']\nhttp:\n- fault:\n    abort: {httpStatus: 418, percentage: {value: 0}}\n" + up,
       Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"fault_abort_percentage_unset_injects_nothing",
               "hosts: ['*']\nhttp:\n- fault:\n    abort: {httpStatus: 418}\n" + up,
               Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"mirror_percentage_unset_mirrors_all",
               "hosts: ['*']\nhttp:\n- mirror: {host: shadow.example.org}\n" + up, Req("GET", "/x"),
               [](const Decision& d) { EXPECT_TRUE(d.mirror); }});
  c.push_back(
      {"fault_delay",
       "hosts: ['*']\nhttp:\n- fault:\n    delay: {fixedDelay: 2s, percentage: {value: 100}}\n" +
           up,
       Req("GET", "/x"), [](const Decision& d) {
         EXPECT_EQ(d.kind, K::kUpstream);
         ASSERT_TRUE(d.delay);
         EXPECT_EQ(d.delay->count(), 2000);
       }});
  // --- mirror
  c.push_back({"mirror",
               "hosts: ['*']\nhttp:\n- mirror: {host: shadow.example.org, port: {number: 81}}\n"
               "  mirrorPercentage: {value: 100}\n" +
                   up,
               Req("GET", "/x"), [](const Decision& d) {
                 ASSERT_TRUE(d.mirror);
                 EXPECT_EQ(d.mirror_upstream, "shadow.example.org:81");
               }});
  c.push_back({"mirror_zero_percent",
               "hosts: ['*']\nhttp:\n- mirror: {host: shadow.example.org}\n"
               "  mirrorPercentage: {value: 0}\n" +
                   up,
               Req("GET", "/x"), [](const Decision& d) { EXPECT_FALSE(d.mirror); }});
  // --- corsPolicy
  const std::string cors =
      "hosts: ['*']\nhttp:\n- corsPolicy:\n    allowOrigins:\n    - exact: "
      "https://app.example.com\n"
      "    - regex: 'https://.*\\.dev\\.example\\.com'\n    allowMethods: [GET, POST]\n"
      "    allowHeaders: [authorization, content-type]\n    exposeHeaders: [x-request-id]\n"
      "    maxAge: 24h\n    allowCredentials: true\n" +
      up;
  c.push_back(
      {"corsPolicy_preflight", cors,
       Req("OPTIONS", "/x", "e.com",
           {{"origin", "https://a.dev.example.com"}, {"access-control-request-method", "POST"}}),
       [](const Decision& d) {
         EXPECT_EQ(d.kind, K::kDirectResponse);
         EXPECT_TRUE(d.cors_preflight);
         EXPECT_EQ(Ops(d.response_headers),
                   "=access-control-allow-origin:https://a.dev.example.com|"
                   "=access-control-allow-credentials:true|"
                   "=access-control-allow-methods:GET,POST|"
                   "=access-control-allow-headers:authorization,content-type|"
                   "=access-control-max-age:86400");
       }});
  c.push_back({"corsPolicy_actual_request", cors,
               Req("GET", "/x", "e.com", {{"origin", "https://app.example.com"}}),
               [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kUpstream);
                 EXPECT_EQ(Ops(d.response_headers),
                           "=access-control-allow-origin:https://app.example.com|"
                           "=access-control-allow-credentials:true|"
                           "=access-control-expose-headers:x-request-id");
               }});
  c.push_back({"corsPolicy_origin_not_allowed", cors,
               Req("OPTIONS", "/x", "e.com",
                   {{"origin", "https://evil.example"}, {"access-control-request-method", "POST"}}),
               [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kUpstream);
                 EXPECT_EQ(Ops(d.response_headers), "");
               }});
  // --- gateways
  // skiff is both the ingress gateway and the mesh: gateways are recorded, never matched.
  c.push_back({"gateways_mesh_applies_too",
               "hosts: ['*']\ngateways: [mesh]\nhttp:\n- match:\n  - gateways: [mesh]\n" + up,
               Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  c.push_back({"gateways_recorded",
               "hosts: ['*']\ngateways: [kubeflow/kubeflow-gateway]\nhttp:\n-" + up.substr(1),
               Req("GET", "/x"), [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  // --- built-in routes come first
  c.push_back({"builtin_api_before_user_routes",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /api}\n" + up,
               Req("GET", "/api/v1/namespaces"), [](const Decision& d) {
                 EXPECT_EQ(d.kind, K::kService);
                 EXPECT_EQ(d.service, "api");
                 EXPECT_EQ(d.source, "built-in");
               }});
  c.push_back({"builtin_prefix_is_segment_aware",
               "hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /apiary}\n" + up,
               Req("GET", "/apiary/x"),
               [](const Decision& d) { EXPECT_EQ(d.kind, K::kUpstream); }});
  return c;
}

class VirtualServiceFieldTest : public ::testing::TestWithParam<Case> {};

TEST_P(VirtualServiceFieldTest, Routes) {
  const Case& c = GetParam();
  auto table = Table({Vs(c.spec)});
  SeededRandom random(1);
  Trace trace;
  Decision d = table->Route(c.request, random, &trace);
  SCOPED_TRACE(trace.ToText() + d.ToText());
  c.check(d);
  // Tracing only explains: the decision is the same without it.
  SeededRandom again(1);
  EXPECT_EQ(Serialize(table->Route(c.request, again).ToJson()), Serialize(d.ToJson()));
}

INSTANTIATE_TEST_SUITE_P(Istio, VirtualServiceFieldTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

// The VirtualService of issue 5, unchanged.
constexpr std::string_view kIssueExample = R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: kfserving-iap
  namespace: team-a
spec:
  gateways:
  - kubeflow/kubeflow-gateway
  hosts:
  - '*'
  http:
  - match:
    - uri:
        prefix: /kfserving/team-a/sklearn-iap
    route:
    - destination:
        host: cluster-local-gateway.istio-system.svc.cluster.local
      headers:
        request:
          set:
            Host: sklearn-iap-predictor-default.team-a.svc.cluster.local
      weight: 100
    rewrite:
        uri: /v1/models/sklearn-iap
    timeout: 300s
)";

VirtualService IssueExample() {
  auto doc = ParseYaml(kIssueExample);
  EXPECT_TRUE(doc.has_value());
  auto vs = ParseVirtualService(doc->as_object());
  EXPECT_TRUE(vs.has_value()) << (vs ? "" : vs.error().message());
  return *vs;
}

// A built-in serving route like the server's: models by Host NAME-predictor-default.NS.svc...
BuiltinRoute ServingByHost() {
  BuiltinRoute r;
  r.name = "serving";
  r.service = "serving";
  r.predicate = [](const RouteRequest& req) {
    return req.Host().ends_with(".svc.cluster.local") &&
           req.Host().find("-predictor-default.") != std::string::npos;
  };
  r.predicate_description = "Host NAME-predictor-default.NS.svc.cluster.local";
  return r;
}

TEST(IssueExample, RoutesPredictToTheModelThroughReentry) {
  BuiltinRoute dashboard;
  dashboard.name = "dashboard";
  dashboard.path_kind = BuiltinRoute::PathKind::kPrefix;
  dashboard.path = "/";
  dashboard.service = "dashboard";
  auto table =
      RouteTable::Build(PlatformRoutes("/dex"), {IssueExample()}, {ServingByHost(), dashboard});
  ASSERT_TRUE(table.has_value());
  SeededRandom random(7);
  Trace trace;
  Decision d = (*table)->Route(
      Req("POST", "/kfserving/team-a/sklearn-iap:predict", "kubeflow.example.com"), random, &trace);
  EXPECT_EQ(d.kind, K::kReenter) << d.ToText();
  EXPECT_EQ(d.route_name, "team-a/kfserving-iap[0]");
  EXPECT_EQ(d.source, "VirtualService team-a/kfserving-iap");
  EXPECT_EQ(d.path, "/v1/models/sklearn-iap:predict");
  EXPECT_EQ(d.authority, "sklearn-iap-predictor-default.team-a.svc.cluster.local");
  ASSERT_TRUE(d.timeout);
  EXPECT_EQ(*d.timeout, std::chrono::seconds(300));
  ASSERT_TRUE(d.destination);
  EXPECT_EQ(d.destination->host, "cluster-local-gateway.istio-system.svc.cluster.local");

  // Re-entering with the rewritten request lands on the model, not on the dashboard.
  RouteRequest again = Req("POST", d.path, d.authority);
  Decision second = (*table)->Route(again, random);
  EXPECT_EQ(second.kind, K::kService);
  EXPECT_EQ(second.service, "serving");

  // The trace says what was tried and what changed.
  std::string text = trace.ToText();
  EXPECT_NE(text.find("- api (built-in): path /kfserving/team-a/sklearn-iap:predict does not "
                      "match prefix /api"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("+ team-a/kfserving-iap[0] (VirtualService team-a/kfserving-iap): matched "
                      "uri prefix /kfserving/team-a/sklearn-iap"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rewrite path /kfserving/team-a/sklearn-iap:predict -> "
                      "/v1/models/sklearn-iap:predict"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("set authority \"kubeflow.example.com\" -> "
                      "\"sklearn-iap-predictor-default.team-a.svc.cluster.local\""),
            std::string::npos)
      << text;
  auto json = trace.ToJson();
  EXPECT_EQ(json.at("host").as_string(), "kubeflow.example.com");
  EXPECT_GT(json.at("tried").as_array().size(), 5u);
  EXPECT_EQ(d.ToJson().at("kind").as_string(), "reenter");
  EXPECT_EQ(d.ToJson().at("timeout").as_string(), "300s");
}

TEST(IssueExample, OtherModelsAndTheUiAreNotCaught) {
  auto table = Table({IssueExample()});
  SeededRandom random(1);
  Decision d = table->Route(Req("POST", "/kfserving/team-b/other:predict"), random);
  EXPECT_EQ(d.kind, K::kService);
  EXPECT_EQ(d.service, "dashboard");
}

TEST(WeightedSplit, RatioWithinTolerance) {
  auto table =
      Table({Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a.example.org}\n"
                "    weight: 75\n  - destination: {host: b.example.org}\n    weight: 20\n"
                "  - destination: {host: c.example.org}\n    weight: 5\n")});
  SeededRandom random(42);
  std::map<std::string, int> counts;
  constexpr int kDraws = 10000;
  for (int i = 0; i < kDraws; ++i) {
    Decision d = table->Route(Req("GET", "/x"), random);
    ASSERT_EQ(d.kind, K::kUpstream);
    counts[d.destination->host]++;
  }
  EXPECT_NEAR(counts["a.example.org"] / double(kDraws), 0.75, 0.02);
  EXPECT_NEAR(counts["b.example.org"] / double(kDraws), 0.20, 0.02);
  EXPECT_NEAR(counts["c.example.org"] / double(kDraws), 0.05, 0.01);
}

TEST(WeightedSplit, ZeroWeightNeverChosen) {
  auto table =
      Table({Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a.example.org}\n"
                "    weight: 100\n  - destination: {host: b.example.org}\n    weight: 0\n")});
  SeededRandom random(3);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(table->Route(Req("GET", "/x"), random).destination->host, "a.example.org");
  }
}

TEST(FaultPercentage, AbortRatio) {
  auto table =
      Table({Vs("hosts: ['*']\nhttp:\n- fault:\n    abort: {httpStatus: 503, percentage: "
                "{value: 30}}\n  route:\n  - destination: {host: a.example.org}\n")});
  SeededRandom random(5);
  int aborted = 0;
  for (int i = 0; i < 10000; ++i) {
    if (table->Route(Req("GET", "/x"), random).kind == K::kAbort) ++aborted;
  }
  EXPECT_NEAR(aborted / 10000.0, 0.30, 0.02);
}

TEST(Precedence, MoreSpecificHostFirstThenOldest) {
  auto star = Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: star.example.org}\n",
                 "star", "ns", "2020-01-01T00:00:00Z");
  auto suffix =
      Vs("hosts: ['*.example.com']\nhttp:\n- route:\n  - destination: {host: "
         "suffix.example.org}\n",
         "suffix", "ns", "2024-01-01T00:00:00Z");
  auto exact_new =
      Vs("hosts: [a.example.com]\nhttp:\n- route:\n  - destination: {host: "
         "new.example.org}\n",
         "exact-new", "ns", "2025-01-01T00:00:00Z");
  auto exact_old =
      Vs("hosts: [a.example.com]\nhttp:\n- route:\n  - destination: {host: "
         "old.example.org}\n",
         "exact-old", "zz", "2023-01-01T00:00:00Z");
  auto table = Table({star, suffix, exact_new, exact_old});
  SeededRandom random(1);
  EXPECT_EQ(table->Route(Req("GET", "/", "a.example.com"), random).upstream, "old.example.org:80");
  EXPECT_EQ(table->Route(Req("GET", "/", "b.example.com"), random).upstream,
            "suffix.example.org:80");
  EXPECT_EQ(table->Route(Req("GET", "/", "other.org"), random).upstream, "star.example.org:80");

  auto rows = table->List();
  std::vector<std::string> vs_rows;
  for (const auto& r : rows) {
    if (r.source != "built-in") vs_rows.push_back(r.source);
  }
  EXPECT_EQ(vs_rows,
            (std::vector<std::string>{"VirtualService zz/exact-old", "VirtualService ns/exact-new",
                                      "VirtualService ns/suffix", "VirtualService ns/star"}));
}

TEST(Precedence, FallsThroughToLessSpecificHosts) {
  auto exact =
      Vs("hosts: [a.example.com]\nhttp:\n- match:\n  - uri: {prefix: /only}\n  route:\n"
         "  - destination: {host: exact.example.org}\n",
         "exact");
  auto star =
      Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: star.example.org}\n", "star");
  auto table = Table({exact, star});
  SeededRandom random(1);
  EXPECT_EQ(table->Route(Req("GET", "/other", "a.example.com"), random).upstream,
            "star.example.org:80");
}

// A request that names a namespace (a model's Host or serving path, an in-cluster host) is
// routed only by that namespace's VirtualServices: another namespace's catch-all can neither
// capture nor break it.
TEST(Precedence, ARequestNamingANamespaceIsRoutedOnlyByItsVirtualServices) {
  auto thief =
      Vs("hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /kfserving/}\n  - uri: {prefix: /x}\n"
         "  route:\n  - destination: {host: thief.example.org}\n",
         "catch-all", "team-a");
  auto own =
      Vs("hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /kfserving/team-b/}\n  route:\n"
         "  - destination: {host: own.example.org}\n",
         "own", "team-b", "2030-01-01T00:00:00Z");
  RouteTableOptions options;
  options.addressed_namespace = [](const RouteRequest& r) -> std::string {
    if (!r.path.starts_with("/kfserving/")) return "";
    std::string rest = r.path.substr(11);
    return rest.substr(0, rest.find('/'));
  };
  auto table = Table({thief, own}, options);
  SeededRandom random(1);
  // team-b's URL: team-a's older catch-all is skipped, team-b's own route takes it.
  Trace trace;
  Decision d = table->Route(Req("POST", "/kfserving/team-b/m:predict"), random, &trace);
  EXPECT_EQ(d.upstream, "own.example.org:80");
  bool explained = false;
  for (const auto& step : trace.steps) {
    if (step.source == "VirtualService team-a/catch-all") {
      EXPECT_FALSE(step.matched);
      EXPECT_NE(step.reason.find("addresses namespace team-b"), std::string::npos) << step.reason;
      explained = true;
    }
  }
  EXPECT_TRUE(explained);
  // team-c's URL has no route of its own: the catch-all still may not take it.
  EXPECT_EQ(table->Route(Req("POST", "/kfserving/team-c/m:predict"), random).route_name,
            "dashboard");
  // In-cluster hosts name their namespace too (with and without the cluster domain).
  EXPECT_EQ(table->Route(Req("GET", "/x", "m.team-c.svc.cluster.local"), random).route_name,
            "dashboard");
  EXPECT_EQ(table->Route(Req("GET", "/x", "m.team-c.svc"), random).route_name, "dashboard");
  EXPECT_EQ(table->Route(Req("GET", "/x", "m.team-a.svc.cluster.local"), random).upstream,
            "thief.example.org:80");
  // Its own namespace's URLs, and URLs naming none, are the catch-all's as before.
  EXPECT_EQ(table->Route(Req("POST", "/kfserving/team-a/m:predict"), random).upstream,
            "thief.example.org:80");
  EXPECT_EQ(table->Route(Req("GET", "/x"), random).upstream, "thief.example.org:80");
}

TEST(Upstreams, ConfiguredMappingWins) {
  RouteTableOptions options;
  options.upstreams["legacy.team-a.svc.cluster.local"] = "http://10.1.2.3:9000";
  options.upstreams["billing.example.org"] = "https://billing.internal:8443";
  auto table = Table({Vs("hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /legacy}\n  route:\n"
                         "  - destination: {host: legacy.team-a.svc.cluster.local}\n"
                         "- route:\n  - destination: {host: billing.example.org}\n")},
                     options);
  SeededRandom random(1);
  Decision a = table->Route(Req("GET", "/legacy/x"), random);
  EXPECT_EQ(a.kind, K::kUpstream);
  EXPECT_EQ(a.upstream, "http://10.1.2.3:9000");
  Decision b = table->Route(Req("GET", "/pay"), random);
  EXPECT_EQ(b.upstream, "https://billing.internal:8443");
}

// An upstream decision carries its destination parsed once with the table (the dispatcher does
// not parse `upstream` per request): the chosen destination's, of a weighted split too, and the
// parse error of one that does not parse.
TEST(Upstreams, DecisionCarriesTheParsedEndpoint) {
  RouteTableOptions options;
  options.upstreams["billing.example.org"] = "https://billing.internal:8443";
  options.upstreams["broken.example.org"] = "bad host:1";
  auto table = Table({Vs("hosts: ['*']\nhttp:\n- match:\n  - uri: {prefix: /pay}\n  route:\n"
                         "  - destination: {host: billing.example.org}\n"
                         "- match:\n  - uri: {prefix: /broken}\n  route:\n"
                         "  - destination: {host: broken.example.org}\n"
                         "- route:\n  - destination: {host: a.example.org, port: {number: 81}}\n"
                         "    weight: 50\n"
                         "  - destination: {host: b.example.org, port: {number: 82}}\n"
                         "    weight: 50\n")},
                     options);
  SeededRandom random(1);
  Decision pay = table->Route(Req("GET", "/pay"), random);
  ASSERT_TRUE(pay.endpoint);
  ASSERT_TRUE(*pay.endpoint);
  EXPECT_TRUE((*pay.endpoint)->tls);
  EXPECT_EQ((*pay.endpoint)->host, "billing.internal");
  EXPECT_EQ((*pay.endpoint)->port, 8443);
  Decision broken = table->Route(Req("GET", "/broken"), random);
  ASSERT_TRUE(broken.endpoint);
  EXPECT_FALSE(*broken.endpoint);
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    Decision d = table->Route(Req("GET", "/x"), random);
    ASSERT_EQ(d.kind, K::kUpstream);
    ASSERT_TRUE(d.endpoint && *d.endpoint);
    EXPECT_EQ((*d.endpoint)->Authority(), d.upstream);
    seen.insert(d.upstream);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"a.example.org:81", "b.example.org:82"}));
  // An in-cluster destination re-enters: no endpoint.
  auto local = Table({Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: m.ns.svc}\n")});
  Decision r = local->Route(Req("GET", "/y"), random);
  EXPECT_EQ(r.kind, K::kReenter);
  EXPECT_FALSE(r.endpoint);
}

TEST(NoRoute, NamesClosestCandidates) {
  auto vs =
      Vs("hosts: ['*']\nhttp:\n- name: sklearn\n  match:\n  - uri: {prefix: "
         "/kfserving/team-a/sklearn-iap}\n"
         "  route:\n  - destination: {host: a.example.org}\n- name: xgb\n  match:\n"
         "  - uri: {prefix: /kfserving/team-a/xgb}\n  route:\n  - destination: {host: "
         "b.example.org}\n");
  auto table = RouteTable::Build(PlatformRoutes(""), {vs}, {});
  ASSERT_TRUE(table.has_value());
  SeededRandom random(1);
  Trace trace;
  Decision d = (*table)->Route(Req("POST", "/kfserving/team-a/sklearn:predict"), random, &trace);
  EXPECT_EQ(d.kind, K::kNoRoute);
  ASSERT_GE(d.candidates.size(), 2u);
  EXPECT_EQ(d.candidates[0], "sklearn");
  EXPECT_EQ(d.candidates[1], "xgb");
  EXPECT_NE(trace.ToText().find("- sklearn (VirtualService ns/vs): uri prefix "
                                "/kfserving/team-a/sklearn-iap does not match "
                                "/kfserving/team-a/sklearn:predict"),
            std::string::npos)
      << trace.ToText();
  EXPECT_EQ(d.ToJson().at("kind").as_string(), "no_route");
}

TEST(Explain, ReasonsForEachKindOfMismatch) {
  auto a =
      Vs("hosts: [a.example.com]\nhttp:\n- route:\n  - destination: {host: a.example.org}\n", "a");
  auto b =
      Vs("hosts: ['*']\nhttp:\n- name: canary\n  match:\n  - headers:\n      x-canary: {exact: "
         "'1'}\n  route:\n  - destination: {host: b.example.org}\n- name: q\n  match:\n"
         "  - queryParams:\n      v: {exact: '2'}\n  route:\n  - destination: {host: "
         "c.example.org}\n- name: m\n  match:\n  - method: {exact: PUT}\n  route:\n"
         "  - destination: {host: c.example.org}\n",
         "b");
  auto table = Table({a, b});
  SeededRandom random(1);
  Trace trace;
  Decision d = table->Route(Req("GET", "/x?v=3", "team-b.example.com"), random, &trace);
  EXPECT_EQ(d.service, "dashboard");
  std::string text = trace.ToText();
  for (const char* want :
       {"- ns/a (VirtualService ns/a): host team-b.example.com not in hosts [a.example.com]",
        "- canary (VirtualService ns/b): header x-canary: missing",
        "- q (VirtualService ns/b): query parameter v: exact 2 does not match \"3\"",
        "- m (VirtualService ns/b): method exact PUT does not match GET",
        "+ dashboard (built-in): matched path prefix /"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

TEST(List, RowsInMatchOrderWithSources) {
  auto table = Table({IssueExample()});
  auto rows = table->List();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().name, "healthz");
  EXPECT_EQ(rows.back().name, "dashboard");
  auto it = std::find_if(rows.begin(), rows.end(),
                         [](const RouteRow& r) { return r.name == "team-a/kfserving-iap[0]"; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->source, "VirtualService team-a/kfserving-iap");
  EXPECT_EQ(it->hosts, "*");
  EXPECT_EQ(it->match, "uri prefix /kfserving/team-a/sklearn-iap");
  EXPECT_EQ(it->destination,
            "cluster-local-gateway.istio-system.svc.cluster.local (re-enter); rewrite "
            "/v1/models/sklearn-iap; timeout 300s");
  // Every row is numbered in order and the text rendering has a header and one line per row.
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].order, static_cast<int>(i) + 1);
  std::string text = RowsToText(rows);
  EXPECT_EQ(text.substr(0, 2), "# ");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), static_cast<long>(rows.size()) + 1);
  EXPECT_EQ(RowsToJson(rows).size(), rows.size());
}

TEST(Build, RefusesDuplicateBuiltinNames) {
  auto routes = PlatformRoutes("/dex");
  routes.push_back(routes.front());
  EXPECT_FALSE(RouteTable::Build(routes, {}, {}).has_value());
}

TEST(Builtin, MethodsAndPredicate) {
  BuiltinRoute r;
  r.name = "only-post";
  r.path_kind = BuiltinRoute::PathKind::kExact;
  r.path = "/hook";
  r.methods = {"POST"};
  r.service = "hooks";
  auto table = RouteTable::Build({r}, {}, {});
  ASSERT_TRUE(table.has_value());
  SeededRandom random(1);
  EXPECT_EQ((*table)->Route(Req("POST", "/hook"), random).service, "hooks");
  Trace trace;
  EXPECT_EQ((*table)->Route(Req("GET", "/hook"), random, &trace).kind, K::kNoRoute);
  EXPECT_NE(trace.ToText().find("method GET not in [POST]"), std::string::npos);
}

}  // namespace
}  // namespace skiff::gateway
