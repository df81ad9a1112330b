// Parsing and validating VirtualService resources: what is accepted, and every refusal rule
// with the Kubernetes field path kubectl shows.

#include "gateway/virtual_service.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "api/validation.hpp"
#include "core/yaml.hpp"

namespace skiff::gateway {
namespace {

json::object Doc(std::string_view spec_yaml,
                 std::string_view api_version = "networking.istio.io/v1beta1") {
  std::string text = "apiVersion: " + std::string(api_version) +
                     "\nkind: VirtualService\nmetadata:\n  name: vs\n  namespace: team-a\nspec:\n";
  std::istringstream lines{std::string(spec_yaml)};
  for (std::string line; std::getline(lines, line);) text += "  " + line + "\n";
  auto doc = ParseYaml(text);
  EXPECT_TRUE(doc.has_value()) << text;
  return doc->as_object();
}

std::string Fields(const api::FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : ";") + e.field;
  return out;
}

constexpr std::string_view kEveryField = R"(hosts: [a.example.com, '*.b.example.com', '*', short]
gateways: [kubeflow/kubeflow-gateway, mesh]
exportTo: ['.']
http:
- name: everything
  match:
  - name: m0
    uri: {prefix: /a}
    scheme: {exact: https}
    method: {regex: 'GET|HEAD'}
    authority: {exact: a.example.com}
    headers:
      X-User: {exact: alice}
      x-debug: {}
    withoutHeaders:
      x-internal: {prefix: 'y'}
    queryParams:
      v: {exact: '1'}
    ignoreUriCase: true
    port: 443
    sourceLabels: {app: x}
    gateways: [kubeflow/kubeflow-gateway]
  route:
  - destination: {host: a.example.org, subset: v1, port: {number: 8080}}
    weight: 60
    headers:
      request: {set: {x-a: '1'}, add: {x-b: '2'}, remove: [x-c]}
      response: {set: {x-d: '3'}}
  - destination: {host: b}
    weight: 40
  rewrite: {uri: /b, authority: internal.example.org}
  timeout: 0.5s
  retries: {attempts: 2, perTryTimeout: 1m, retryOn: 'gateway-error,503'}
  fault:
    delay: {fixedDelay: 100ms, percentage: {value: 12.5}}
    abort: {httpStatus: 503, percentage: {value: 1}}
  mirror: {host: shadow.example.org}
  mirrorPercentage: {value: 50}
  headers:
    request: {set: {x-route: 'y'}}
    response: {remove: [server]}
  corsPolicy:
    allowOrigins: [{exact: 'https://x.example.com'}]
    allowMethods: [GET]
    allowHeaders: [authorization]
    exposeHeaders: [x-request-id]
    maxAge: 1h
    allowCredentials: false
- redirect: {uri: /new, authority: c.example.com, port: 8443, scheme: https, redirectCode: 302}
- directResponse: {status: 404, body: {string: nope}}
)";

TEST(ParseVirtualService, AcceptsEveryField) {
  auto obj = Doc(kEveryField);
  api::FieldErrors errors;
  auto vs = ParseVirtualService(obj, &errors);
  ASSERT_TRUE(vs.has_value()) << vs.error().message();
  EXPECT_EQ(vs->Key(), "team-a/vs");
  EXPECT_EQ(vs->hosts, (std::vector<std::string>{"a.example.com", "*.b.example.com", "*",
                                                 "short.team-a.svc.cluster.local"}));
  EXPECT_EQ(vs->gateways.size(), 2u);
  ASSERT_EQ(vs->http.size(), 3u);
  const HttpRoute& r = vs->http[0];
  EXPECT_EQ(r.name, "everything");
  ASSERT_EQ(r.match.size(), 1u);
  const HttpMatch& m = r.match[0];
  EXPECT_EQ(m.name, "m0");
  EXPECT_EQ(m.uri->kind(), StringMatch::Kind::kPrefix);
  EXPECT_EQ(m.method->kind(), StringMatch::Kind::kRegex);
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[0].name, "x-user");  // lower-cased
  EXPECT_EQ(m.headers[1].match.kind(), StringMatch::Kind::kPresent);
  EXPECT_EQ(m.without_headers.size(), 1u);
  EXPECT_EQ(m.query_params.size(), 1u);
  EXPECT_TRUE(m.ignore_uri_case);
  EXPECT_EQ(m.port, 443u);
  EXPECT_EQ(m.source_labels.at("app"), "x");
  ASSERT_EQ(r.route.size(), 2u);
  EXPECT_EQ(r.route[0].destination.port, 8080u);
  EXPECT_EQ(r.route[0].destination.subset, "v1");
  EXPECT_EQ(r.route[0].weight, 60);
  EXPECT_EQ(r.route[0].headers.request.set[0].first, "x-a");
  EXPECT_EQ(r.route[0].headers.request.remove[0], "x-c");
  EXPECT_EQ(r.rewrite->uri, "/b");
  EXPECT_EQ(r.rewrite->authority, "internal.example.org");
  EXPECT_EQ(r.timeout->count(), 500);
  EXPECT_EQ(r.retries->attempts, 2);
  EXPECT_EQ(r.retries->per_try_timeout->count(), 60000);
  EXPECT_EQ(r.fault->delay->fixed_delay.count(), 100);
  EXPECT_DOUBLE_EQ(r.fault->delay->percentage, 12.5);
  EXPECT_EQ(r.fault->abort->http_status, 503);
  EXPECT_EQ(r.mirror->host, "shadow.example.org");
  EXPECT_DOUBLE_EQ(r.mirror_percentage, 50);
  EXPECT_EQ(r.cors_policy->allow_origins.size(), 1u);
  EXPECT_EQ(r.cors_policy->max_age->count(), 3600);
  EXPECT_EQ(r.cors_policy->allow_credentials, false);
  EXPECT_EQ(vs->http[1].redirect->redirect_code, 302);
  EXPECT_EQ(vs->http[1].redirect->port, 8443u);
  EXPECT_EQ(vs->http[2].direct_response->status, 404);
  EXPECT_EQ(vs->http[2].direct_response->body, "nope");
}

TEST(ParseVirtualService, BothIstioVersionsAndDefaults) {
  for (auto version :
       {"networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"}) {
    auto vs = ParseVirtualService(
        Doc("hosts: ['*']\nhttp:\n- redirect: {uri: /x}\n- route:\n  - destination: {host: a}\n",
            version));
    ASSERT_TRUE(vs.has_value()) << version << ": " << vs.error().message();
    EXPECT_EQ(vs->http[0].redirect->redirect_code, 301);
    EXPECT_EQ(vs->http[1].route[0].weight, 100);
  }
}

TEST(ParseVirtualService, NullMeansUnset) {
  auto vs = ParseVirtualService(
      Doc("hosts: ['*']\ngateways: ~\nhttp:\n- timeout: null\n  rewrite: ~\n  route:\n"
          "  - destination: {host: a, port: null}\n"));
  ASSERT_TRUE(vs.has_value()) << vs.error().message();
  EXPECT_FALSE(vs->http[0].timeout);
  EXPECT_FALSE(vs->http[0].rewrite);
  EXPECT_FALSE(vs->http[0].route[0].destination.port);
}

struct Refusal {
  std::string name;
  std::string spec;
  std::string field;       // the field path every refusal names
  std::string detail_has;  // a piece of the message
};

std::vector<Refusal> Refusals() {
  const std::string d = "  route:\n  - destination: {host: a.example.org}\n";
  return {
      {"hosts_required", "http:\n- route:\n  - destination: {host: a}\n", "spec.hosts",
       "at least one host"},
      {"hosts_empty", "hosts: []\nhttp:\n- route:\n  - destination: {host: a}\n", "spec.hosts",
       "at least one host"},
      {"hosts_bad_wildcard", "hosts: ['a.*.com']\nhttp:\n- route:\n  - destination: {host: a}\n",
       "spec.hosts[0]", "wildcard"},
      {"hosts_bad_chars", "hosts: ['a_b.com']\nhttp:\n- route:\n  - destination: {host: a}\n",
       "spec.hosts[0]", "DNS name"},
      {"hosts_duplicate", "hosts: [a.com, A.com]\nhttp:\n- route:\n  - destination: {host: a}\n",
       "spec.hosts[1]", ""},
      {"tcp_refused", "hosts: ['*']\ntcp: []\nhttp:\n- route:\n  - destination: {host: a}\n",
       "spec.tcp", "skiff routes HTTP only"},
      {"tls_refused", "hosts: ['*']\ntls: []\nhttp:\n- route:\n  - destination: {host: a}\n",
       "spec.tls", "skiff routes HTTP only"},
      {"http_required", "hosts: ['*']\n", "spec.http", "HTTP only"},
      {"unknown_spec_field", "hosts: ['*']\nfoo: 1\nhttp:\n-" + d.substr(1), "spec.foo",
       "unknown field \"spec.foo\""},
      {"unknown_http_field", "hosts: ['*']\nhttp:\n- foo: 1\n" + d, "spec.http[0].foo",
       "unknown field \"spec.http[0].foo\""},
      {"unknown_match_field", "hosts: ['*']\nhttp:\n- match:\n  - path: {exact: /}\n" + d,
       "spec.http[0].match[0].path", "unknown field"},
      {"string_match_two_kinds",
       "hosts: ['*']\nhttp:\n- match:\n  - uri: {exact: /a, prefix: /a}\n" + d,
       "spec.http[0].match[0].uri", "exactly one of"},
      {"string_match_empty_uri", "hosts: ['*']\nhttp:\n- match:\n  - uri: {}\n" + d,
       "spec.http[0].match[0].uri", "one of exact, prefix or regex"},
      {"bad_regex", "hosts: ['*']\nhttp:\n- match:\n  - {}\n  - uri: {regex: '/a(['}\n" + d,
       "spec.http[0].match[1].uri.regex", "missing ]"},
      {"query_prefix_unsupported",
       "hosts: ['*']\nhttp:\n- match:\n  - queryParams:\n      v: {prefix: a}\n" + d,
       "spec.http[0].match[0].queryParams.v.prefix", "only exact and regex"},
      {"bad_header_name_in_match",
       "hosts: ['*']\nhttp:\n- match:\n  - headers:\n      'x y': {exact: a}\n" + d,
       "spec.http[0].match[0].headers.x y", "invalid header name"},
      {"match_port_range", "hosts: ['*']\nhttp:\n- match:\n  - port: 70000\n" + d,
       "spec.http[0].match[0].port", "1..65535"},
      {"ignoreUriCase_type", "hosts: ['*']\nhttp:\n- match:\n  - ignoreUriCase: maybe\n" + d,
       "spec.http[0].match[0].ignoreUriCase", "boolean"},
      {"no_action", "hosts: ['*']\nhttp:\n- name: x\n", "spec.http[0].route",
       "one of route, redirect or directResponse"},
      {"route_and_redirect", "hosts: ['*']\nhttp:\n- redirect: {uri: /x}\n" + d,
       "spec.http[0].redirect", "mutually exclusive"},
      {"route_and_directResponse", "hosts: ['*']\nhttp:\n- directResponse: {status: 200}\n" + d,
       "spec.http[0].directResponse", "mutually exclusive"},
      {"destination_host_required", "hosts: ['*']\nhttp:\n- route:\n  - destination: {}\n",
       "spec.http[0].route[0].destination.host", "required"},
      {"destination_wildcard",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: '*.a.com'}\n",
       "spec.http[0].route[0].destination.host", "wildcard"},
      {"destination_port",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a, port: {number: 0}}\n",
       "spec.http[0].route[0].destination.port.number", "1..65535"},
      {"weight_range",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 120\n"
       "  - destination: {host: b}\n    weight: -20\n",
       "spec.http[0].route[0].weight", "0..100"},
      {"weights_sum",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 50\n"
       "  - destination: {host: b}\n    weight: 40\n",
       "spec.http[0].route", "sum to 100 (they sum to 90)"},
      {"single_weight",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 50\n",
       "spec.http[0].route[0].weight", "must be 100"},
      {"timeout_bad", "hosts: ['*']\nhttp:\n- timeout: 5\n" + d, "spec.http[0].timeout",
       "must be a string"},
      {"timeout_unit", "hosts: ['*']\nhttp:\n- timeout: 5x\n" + d, "spec.http[0].timeout",
       "unknown unit"},
      {"timeout_negative", "hosts: ['*']\nhttp:\n- timeout: -1s\n" + d, "spec.http[0].timeout",
       "negative"},
      {"retries_perTryTimeout",
       "hosts: ['*']\nhttp:\n- retries: {attempts: 1, perTryTimeout: soon}\n" + d,
       "spec.http[0].retries.perTryTimeout", "invalid duration"},
      {"retries_retryOn",
       "hosts: ['*']\nhttp:\n- retries: {attempts: 1, retryOn: 'sometimes'}\n" + d,
       "spec.http[0].retries.retryOn", "unknown retry policy \"sometimes\""},
      {"redirect_code", "hosts: ['*']\nhttp:\n- redirect: {uri: /x, redirectCode: 200}\n",
       "spec.http[0].redirect.redirectCode", "3xx"},
      {"redirect_empty", "hosts: ['*']\nhttp:\n- redirect: {}\n", "spec.http[0].redirect",
       "at least one"},
      {"redirect_port_and_derive",
       "hosts: ['*']\nhttp:\n- redirect: {port: 80, derivePort: FROM_REQUEST_PORT}\n",
       "spec.http[0].redirect", "mutually exclusive"},
      {"redirect_with_rewrite",
       "hosts: ['*']\nhttp:\n- redirect: {uri: /x}\n  rewrite: {uri: /y}\n", "spec.http[0].rewrite",
       "cannot be used with redirect"},
      {"directResponse_status", "hosts: ['*']\nhttp:\n- directResponse: {status: 99}\n",
       "spec.http[0].directResponse.status", "200..599"},
      {"directResponse_status_required", "hosts: ['*']\nhttp:\n- directResponse: {}\n",
       "spec.http[0].directResponse.status", "required"},
      {"directResponse_bytes",
       "hosts: ['*']\nhttp:\n- directResponse: {status: 200, body: {bytes: '!!'}}\n",
       "spec.http[0].directResponse.body.bytes", "base64"},
      {"directResponse_both_bodies",
       "hosts: ['*']\nhttp:\n- directResponse: {status: 200, body: {bytes: 'aGk=', string: hi}}\n",
       "spec.http[0].directResponse.body", "only one of"},
      {"rewrite_empty", "hosts: ['*']\nhttp:\n- rewrite: {}\n" + d, "spec.http[0].rewrite",
       "must set uri"},
      {"rewrite_uri_and_regex",
       "hosts: ['*']\nhttp:\n- rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}\n" + d,
       "spec.http[0].rewrite", "mutually exclusive"},
      {"rewrite_regex_invalid",
       "hosts: ['*']\nhttp:\n- rewrite: {uriRegexRewrite: {match: '(', rewrite: b}}\n" + d,
       "spec.http[0].rewrite.uriRegexRewrite.match", "invalid RE2"},
      {"fault_abort_status", "hosts: ['*']\nhttp:\n- fault: {abort: {httpStatus: 99}}\n" + d,
       "spec.http[0].fault.abort.httpStatus", "200..599"},
      {"fault_abort_grpc", "hosts: ['*']\nhttp:\n- fault: {abort: {grpcStatus: UNAVAILABLE}}\n" + d,
       "spec.http[0].fault.abort", "not supported by skiff"},
      {"fault_percentage",
       "hosts: ['*']\nhttp:\n- fault: {delay: {fixedDelay: 1s, percentage: {value: 101}}}\n" + d,
       "spec.http[0].fault.delay.percentage.value", "0..100"},
      {"fault_delay_required",
       "hosts: ['*']\nhttp:\n- fault: {delay: {percentage: {value: 1}}}\n" + d,
       "spec.http[0].fault.delay.fixedDelay", "required"},
      {"fault_exponential", "hosts: ['*']\nhttp:\n- fault: {delay: {exponentialDelay: 1s}}\n" + d,
       "spec.http[0].fault.delay.exponentialDelay", "not supported"},
      {"mirror_host", "hosts: ['*']\nhttp:\n- mirror: {port: {number: 80}}\n" + d,
       "spec.http[0].mirror.host", "required"},
      {"mirrorPercentage_without_mirror",
       "hosts: ['*']\nhttp:\n- mirrorPercentage: {value: 5}\n" + d, "spec.http[0].mirrorPercentage",
       "requires mirror"},
      {"mirrors_unsupported", "hosts: ['*']\nhttp:\n- mirrors: []\n" + d, "spec.http[0].mirrors",
       "not supported"},
      {"delegate_unsupported", "hosts: ['*']\nhttp:\n- delegate: {name: x}\n",
       "spec.http[0].delegate", "not supported"},
      {"header_op_name", "hosts: ['*']\nhttp:\n- headers: {request: {set: {'a b': c}}}\n" + d,
       "spec.http[0].headers.request.set.a b", "invalid header name"},
      {"header_op_value",
       "hosts: ['*']\nhttp:\n- headers: {response: {add: {x: \"a\\r\\nb\"}}}\n" + d,
       "spec.http[0].headers.response.add.x", "CR, LF"},
      {"header_op_remove",
       "hosts: ['*']\nhttp:\n- headers: {request: {remove: ['bad header']}}\n" + d,
       "spec.http[0].headers.request.remove[0]", "invalid header name"},
      {"destination_headers_unknown",
       "hosts: ['*']\nhttp:\n- route:\n  - destination: {host: a}\n    headers: {request: "
       "{replace: {}}}\n",
       "spec.http[0].route[0].headers.request.replace", "unknown field"},
      {"cors_origin", "hosts: ['*']\nhttp:\n- corsPolicy: {allowOrigins: [{}]}\n" + d,
       "spec.http[0].corsPolicy.allowOrigins[0]", "one of exact"},
      {"cors_maxAge", "hosts: ['*']\nhttp:\n- corsPolicy: {maxAge: forever}\n" + d,
       "spec.http[0].corsPolicy.maxAge", "invalid duration"},
      {"cors_header", "hosts: ['*']\nhttp:\n- corsPolicy: {allowHeaders: ['a b']}\n" + d,
       "spec.http[0].corsPolicy.allowHeaders[0]", "invalid header name"},
      {"duplicate_route_names", "hosts: ['*']\nhttp:\n- name: a\n" + d + "- name: a\n" + d,
       "spec.http[1].name", "unique"},
  };
}

class RefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusalTest, NamesTheField) {
  const Refusal& r = GetParam();
  api::FieldErrors errors = ValidateVirtualService(Doc(r.spec));
  auto it = std::find_if(errors.begin(), errors.end(),
                         [&](const api::FieldError& e) { return e.field == r.field; });
  ASSERT_NE(it, errors.end()) << "fields: " << Fields(errors) << "\n" << FormatFieldErrors(errors);
  EXPECT_NE(FormatFieldErrors(errors).find(r.detail_has), std::string::npos)
      << FormatFieldErrors(errors);
  auto parsed = ParseVirtualService(Doc(r.spec));
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument);
  EXPECT_NE(parsed.error().message().find(r.field), std::string::npos) << parsed.error().message();
}

INSTANTIATE_TEST_SUITE_P(Istio, RefusalTest, ::testing::ValuesIn(Refusals()),
                         [](const auto& info) { return info.param.name; });

TEST(ValidateVirtualService, RefusesWrongApiVersionAndKind) {
  auto obj = Doc("hosts: ['*']\nhttp:\n- redirect: {uri: /}\n", "networking.istio.io/v2");
  obj["kind"] = "Gateway";
  EXPECT_EQ(Fields(ValidateVirtualService(obj)), "apiVersion;kind");
}

TEST(ValidateVirtualService, ValidIsEmpty) {
  EXPECT_TRUE(ValidateVirtualService(Doc("hosts: ['*']\nhttp:\n- redirect: {uri: /}\n")).empty());
}

TEST(ParseDuration, Forms) {
  EXPECT_EQ(ParseDuration("300s")->count(), 300000);
  EXPECT_EQ(ParseDuration("0.5s")->count(), 500);
  EXPECT_EQ(ParseDuration("100ms")->count(), 100);
  EXPECT_EQ(ParseDuration("1m")->count(), 60000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5400000);
  EXPECT_EQ(ParseDuration("1500us")->count(), 2);  // rounds up
  EXPECT_FALSE(ParseDuration("").has_value());
  EXPECT_FALSE(ParseDuration("10").has_value());
  EXPECT_FALSE(ParseDuration("1.2.3s").has_value());
  EXPECT_FALSE(ParseDuration("s").has_value());
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(300000)), "300s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(100)), "100ms");
}

TEST(StringMatch, Kinds) {
  EXPECT_TRUE(StringMatch::Exact("a").Matches("a"));
  EXPECT_FALSE(StringMatch::Exact("a").Matches("A"));
  EXPECT_TRUE(StringMatch::Exact("a").Matches("A", true));
  EXPECT_TRUE(StringMatch::Prefix("/a").Matches("/ab"));
  auto re = StringMatch::Regex("/a+");
  ASSERT_TRUE(re.has_value());
  EXPECT_TRUE(re->Matches("/aaa"));
  EXPECT_FALSE(re->Matches("/aaab"));  // full match, not search
  EXPECT_TRUE(re->Matches("/AA", true));
  EXPECT_FALSE(StringMatch::Regex("(").has_value());
  EXPECT_TRUE(StringMatch().Matches("anything"));
}

// Every node of a resource using every field, replaced in turn by a value of each JSON type:
// parsing never crashes, and a replacement is either accepted or refused with field errors
// whose paths lie on the replaced node's path or below it (or name a cross-field rule's
// parent).
void Mutate(json::value& node, const std::function<void()>& check) {
  json::value original = node;
  for (json::value replacement :
       {json::value(7), json::value(-1.5), json::value("x"), json::value(true),
        json::value(json::array{}), json::value(json::object{}), json::value(nullptr)}) {
    node = replacement;
    check();
  }
  node = original;
  if (node.is_object()) {
    for (auto& kv : node.get_object()) Mutate(kv.value(), check);
  } else if (node.is_array()) {
    for (auto& item : node.get_array()) Mutate(item, check);
  }
}

TEST(ParseVirtualService, WrongTypesAnywhereAreFieldErrorsNotCrashes) {
  json::value doc = Doc(kEveryField);
  int refused = 0;
  int runs = 0;
  Mutate(doc.as_object()["spec"], [&] {
    ++runs;
    api::FieldErrors errors = ValidateVirtualService(doc.as_object());
    auto parsed = ParseVirtualService(doc.as_object());
    EXPECT_EQ(parsed.has_value(), errors.empty()) << Serialize(doc);
    if (!errors.empty()) ++refused;
    for (const auto& e : errors) {
      EXPECT_EQ(e.field.rfind("spec", 0), 0u) << e.field;
      EXPECT_FALSE(api::FormatFieldError(e).empty());
    }
  });
  EXPECT_GT(runs, 500);
  EXPECT_GT(refused, runs / 2);
}

}  // namespace
}  // namespace skiff::gateway
