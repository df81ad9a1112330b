// The dispatcher (re-entry, loops, rewrites reaching services, fault delay, time-outs, 404s) and
// `routes explain` without sockets: services are plain handlers, the table is built from YAML.

#include "gateway/dispatcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>

#include "../wait_until.hpp"
#include "core/json.hpp"
#include "core/yaml.hpp"
#include "gateway/explain.hpp"

namespace skiff::gateway {
namespace {

VirtualService Vs(std::string_view spec_yaml, std::string name = "vs", std::string ns = "ns") {
  std::string text =
      "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: " + name +
      "\n  namespace: " + ns + "\nspec:\n";
  std::istringstream lines{std::string(spec_yaml)};
  for (std::string line; std::getline(lines, line);) text += "  " + line + "\n";
  auto doc = ParseYaml(text);
  EXPECT_TRUE(doc.has_value()) << text;
  auto vs = ParseVirtualService(doc->as_object());
  EXPECT_TRUE(vs.has_value()) << (vs ? "" : vs.error().message());
  return vs ? *vs : VirtualService{};
}

struct Seen {
  std::string service, path, host, query;
};

class DispatcherTest : public ::testing::Test {
 protected:
  void Build(std::vector<VirtualService> services, const authz::Authorizer* authorizer = nullptr) {
    BuiltinRoute serving;
    serving.name = "serving";
    serving.service = "serving";
    serving.predicate = [](const RouteRequest& r) { return r.path.starts_with("/v1/models/"); };
    auto t = RouteTable::Build(PlatformRoutes("/dex"), std::move(services), {serving});
    ASSERT_TRUE(t.has_value());
    table_ = *t;
    ServiceMap map;
    for (const char* id : {"api", "serving", "health"}) {
      map[id] = [this, id](http::Request& req, http::Responder respond) {
        seen_.push_back(
            {id, req.path, std::string(req.headers.Get("Host").value_or("")), req.raw_query});
        if (hold_) {
          held_ = std::move(respond);
          return;
        }
        respond(http::Response::Text(200, id));
      };
    }
    DispatcherOptions options;
    options.authorizer = authorizer;
    dispatcher_ = std::make_unique<Dispatcher>([this] { return table_; }, std::move(map), nullptr,
                                               &timers_, options);
  }

  // Dispatches and waits for the answer.
  http::Response Send(std::string method, std::string path, std::string host = "example.com",
                      http::HeaderMap headers = {}, std::optional<Principal> who = std::nullopt) {
    http::Request req;
    req.principal = std::move(who);
    req.method = std::move(method);
    size_t q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) req.raw_query = path.substr(q + 1);
    req.target = path;
    req.headers = std::move(headers);
    req.headers.Set("Host", host);
    req.notes = std::make_shared<http::AccessNotes>();
    notes_ = req.notes;
    auto got = std::make_shared<std::optional<http::Response>>();
    auto done = std::make_shared<std::atomic<bool>>(false);
    dispatcher_->Handle(req, [got, done](http::Response r) {
      *got = std::move(r);
      done->store(true);
    });
    EXPECT_TRUE(testing::WaitUntil([&] { return done->load(); }));
    return got->value_or(http::Response{});
  }

  Timers timers_;
  std::shared_ptr<const RouteTable> table_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<Seen> seen_;
  std::shared_ptr<http::AccessNotes> notes_;
  bool hold_ = false;
  http::Responder held_;
};

// A plan keeps the table that made its decision: the decision's source (a view of the table's
// text) stays readable after the dispatcher's table was replaced and the old one dropped.
TEST_F(DispatcherTest, APlanKeepsTheTableItsDecisionViews) {
  Build({Vs("hosts: ['*']\nhttp:\n- route:\n  - destination: {host: b.example.org}\n")});
  RouteRequest rr;
  rr.path = "/x";
  rr.authority = "example.com";
  RoutePlan plan = dispatcher_->Plan(rr, ThreadLocalRandom());
  std::weak_ptr<const RouteTable> made_by = table_;
  EXPECT_EQ(plan.table, table_);
  Build({});  // a new table; the dispatcher and this test no longer hold the old one
  EXPECT_FALSE(made_by.expired());
  EXPECT_EQ(plan.decision.source, "VirtualService ns/vs");
  EXPECT_EQ(plan.decision.ToJson().at("source").as_string(), "VirtualService ns/vs");
  plan = RoutePlan{};
  EXPECT_TRUE(made_by.expired());
}

TEST_F(DispatcherTest, ReentryRewritesReachTheService) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /kfserving/team-a/iap}}]
  rewrite: {uri: /v1/models/iap}
  headers: {response: {set: {x-route: iap}}}
  route:
  - destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}
    headers: {request: {set: {Host: iap-predictor-default.team-a.svc.cluster.local}}}
)")});
  http::Response r = Send("POST", "/kfserving/team-a/iap:predict?x=1");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].service, "serving");
  EXPECT_EQ(seen_[0].path, "/v1/models/iap:predict");
  EXPECT_EQ(seen_[0].query, "x=1");
  EXPECT_EQ(seen_[0].host, "iap-predictor-default.team-a.svc.cluster.local");
  EXPECT_EQ(r.headers.Get("x-route"), "iap");  // the first hop's response operations apply
  EXPECT_EQ(notes_->route_name, "serving");
  EXPECT_FALSE(notes_->request_id.empty() && r.headers.Has("x-request-id"));
}

// Allows "get" of the VirtualServices listed, by "ns/name"; records what it was asked.
class VsAuthorizer : public authz::Authorizer {
 public:
  std::set<std::string> readable;
  mutable std::vector<authz::Attributes> asked;
  authz::Decision Decide(const Principal&, const authz::Attributes& what) const override {
    asked.push_back(what);
    authz::Decision d;
    d.allowed = what.verb == "get" && readable.count(what.ns + "/" + what.name) > 0;
    d.reason = d.allowed ? "allowed" : "needs kubeflow-view in \"" + what.ns + "\"";
    return d;
  }
  std::vector<authz::NamespaceRole> NamespacesOf(const Principal&) const override { return {}; }
};

TEST_F(DispatcherTest, VirtualServiceRoutesNeedEveryVirtualServiceOnTheWay) {
  VsAuthorizer authorizer;
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /kfserving/team-a/iap}}]
  rewrite: {uri: /inner/iap}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)",
            "outer", "team-a"),
         Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /inner/}}]
  rewrite: {uri: /v1/models/}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)",
            "inner", "team-b")},
        &authorizer);
  const Principal alice{"alice", {}, "token", false};
  // Neither: refused at the first, nothing dispatched.
  http::Response r = Send("POST", "/kfserving/team-a/iap:predict", "example.com", {}, alice);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("VirtualService team-a/outer"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("needs kubeflow-view"), std::string::npos) << r.body;
  EXPECT_EQ(notes_->flags, "UAEX");
  EXPECT_TRUE(seen_.empty());
  ASSERT_FALSE(authorizer.asked.empty());
  EXPECT_EQ(authorizer.asked[0].group, "networking.istio.io");
  EXPECT_EQ(authorizer.asked[0].resource, "virtualservices");
  // The outer one only: the re-entered route of team-b still refuses.
  authorizer.readable = {"team-a/outer"};
  r = Send("POST", "/kfserving/team-a/iap:predict", "example.com", {}, alice);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("VirtualService team-b/inner"), std::string::npos) << r.body;
  EXPECT_TRUE(seen_.empty());
  // Both: the model's service gets it (and decides what it allows itself).
  authorizer.readable = {"team-a/outer", "team-b/inner"};
  r = Send("POST", "/kfserving/team-a/iap:predict", "example.com", {}, alice);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].path, "/v1/models/iap:predict");
  // No principal: refused. Built-in routes are not the dispatcher's to authorize.
  r = Send("POST", "/kfserving/team-a/iap:predict");
  EXPECT_EQ(r.status, 403);
  const size_t asked = authorizer.asked.size();
  r = Send("GET", "/v1/models/x", "example.com", {}, alice);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(authorizer.asked.size(), asked);
}

// Routing takes the request's path, query and headers and gives them back: as routed (the target
// rebuilt only when a rewrite changed the path or query), or as sent when routing ends without
// a route after a re-entry changed them.
TEST_F(DispatcherTest, TheRequestComesBackAsRoutedOrAsSent) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /gone/}}]
  rewrite: {uri: /nowhere/}
  headers: {request: {set: {x-hop: one}}}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
- match: [{uri: {prefix: /kfserving/team-a/iap}}]
  rewrite: {uri: /v1/models/iap}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)"),
         Vs(R"(hosts: [example.com]
http:
- match: [{uri: {prefix: /v1/models/}}]
  rewrite: {uri: /v1/models/}
  route:
  - destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}
    headers: {request: {set: {Host: model.local}}}
)",
            "models")});
  auto handle = [&](http::Request& req) {
    std::optional<http::Response> got;
    dispatcher_->Handle(req, [&got](http::Response r) { got = std::move(r); });
    return got ? got->status : 0;  // every route here answers before Handle returns
  };
  auto request = [](std::string path, std::string query, std::string target) {
    http::Request req;
    req.method = "GET";
    req.path = std::move(path);
    req.raw_query = std::move(query);
    req.target = std::move(target);
    req.headers.Add("Host", "example.com");
    req.headers.Add("X-Client", "c");
    return req;
  };
  // Rewritten, re-entered, then no route: all as sent.
  http::Request gone = request("/gone/far/away", "a=1", "/gone/far/%61way?a=1");
  EXPECT_EQ(handle(gone), 404);
  EXPECT_EQ(gone.path, "/gone/far/away");
  EXPECT_EQ(gone.raw_query, "a=1");
  EXPECT_EQ(gone.target, "/gone/far/%61way?a=1");
  EXPECT_FALSE(gone.headers.Has("x-hop"));
  EXPECT_EQ(gone.headers.Get("X-Client").value_or(""), "c");
  // Re-entered with the path it had: routed as it came, the client's target kept.
  http::Request same = request("/v1/models/x", "q=1", "/v1/models/%78?q=1");
  EXPECT_EQ(handle(same), 200);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_.back().path, "/v1/models/x");
  EXPECT_EQ(same.path, "/v1/models/x");
  EXPECT_EQ(same.raw_query, "q=1");
  EXPECT_EQ(same.target, "/v1/models/%78?q=1");
  // Rewritten and routed: the new path, the query kept, the target rebuilt from them.
  http::Request moved =
      request("/kfserving/team-a/iap:predict", "x=1", "/kfserving/team-a/iap:predict?x=1");
  EXPECT_EQ(handle(moved), 200);
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_.back().path, "/v1/models/iap:predict");
  EXPECT_EQ(seen_.back().query, "x=1");
  EXPECT_EQ(moved.path, "/v1/models/iap:predict");
  EXPECT_EQ(moved.raw_query, "x=1");
  EXPECT_EQ(moved.target, "/v1/models/iap:predict?x=1");
  // Unrouted on the first pass: as sent.
  http::Request none = request("/nothing/here", "", "/nothing/here");
  EXPECT_EQ(handle(none), 404);
  EXPECT_EQ(none.path, "/nothing/here");
  EXPECT_EQ(none.target, "/nothing/here");
  EXPECT_EQ(none.headers.Get("X-Client").value_or(""), "c");
}

TEST_F(DispatcherTest, ARoutingLoopAnswers508) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /loop}}]
  route: [{destination: {host: istio-ingressgateway.istio-system.svc.cluster.local}}]
)")});
  http::Response r = Send("GET", "/loop");
  EXPECT_EQ(r.status, 508);
  EXPECT_TRUE(seen_.empty());
  RouteRequest loop;
  loop.path = "/loop";
  RoutePlan plan = dispatcher_->Plan(loop, ThreadLocalRandom());
  EXPECT_TRUE(plan.loop);
  EXPECT_EQ(plan.hops, RouteTable::kMaxReenter + 1);
}

TEST_F(DispatcherTest, NoRouteIsJsonForClientsAndHtmlForBrowsers) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /models/alpha}}]
  directResponse: {status: 200, body: {string: alpha}}
)",
            "near", "default")});
  http::Response r = Send("GET", "/models/beta");
  EXPECT_EQ(r.status, 404);
  auto body = ParseJson(r.body);
  ASSERT_TRUE(body);
  EXPECT_NE(Serialize(body->at("candidates")).find("default/near"), std::string::npos) << r.body;
  EXPECT_EQ(notes_->flags, "NR");
  http::HeaderMap accept;
  accept.Set("Accept", "text/html,application/xhtml+xml");
  r = Send("GET", "/models/<script>", "example.com", accept);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.Get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;"), std::string::npos);
}

TEST_F(DispatcherTest, FaultDelayHoldsTheRequestThenDispatches) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /slow}}]
  rewrite: {uri: /v1/models/slow}
  fault: {delay: {fixedDelay: 0.2s, percentage: {value: 100}}}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)")});
  auto start = std::chrono::steady_clock::now();
  http::Response r = Send("GET", "/slow");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].path, "/v1/models/slow");
  EXPECT_EQ(notes_->flags, "DI");
}

TEST_F(DispatcherTest, AServiceThatDoesNotAnswerInTheRouteTimeoutGets504) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /hung}}]
  rewrite: {uri: /v1/models/hung}
  timeout: 0.1s
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)")});
  hold_ = true;
  http::Response r = Send("POST", "/hung:predict");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("timed out"), std::string::npos);
  ASSERT_TRUE(held_);
  held_(http::Response::Text(200, "late"));  // a late answer is dropped, nothing crashes
}

TEST_F(DispatcherTest, ExplainFollowsHopsAndRefusesBadInput) {
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /kfserving/team-a/iap}}]
  rewrite: {uri: /v1/models/iap}
  timeout: 300s
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)")});
  ExplainContext ctx;
  ctx.dispatcher = dispatcher_.get();
  http::Request caller;
  caller.headers.Set("Host", "skiff.example");
  ExplainRequest what;
  what.method = "POST";
  what.url = "https://models.example/kfserving/team-a/iap:predict";
  auto ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex) << ex.error();
  EXPECT_EQ(ex->json.at("routing").as_array().size(), 2u);
  EXPECT_EQ(GetString(ex->json, "decision.finalRequest.path"), "/v1/models/iap:predict");
  EXPECT_EQ(GetString(ex->json, "decision.effectiveTimeout"), "300s");
  EXPECT_EQ(GetString(ex->json, "request.host"), "models.example");
  EXPECT_NE(ex->text.find("Re-entered:"), std::string::npos) << ex->text;

  what.url = "/a/%2Fetc";
  ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex);
  EXPECT_NE(GetString(ex->json, "summary").find("refused before routing: 400"), std::string::npos);

  what.url = "ftp://x/y";
  EXPECT_EQ(Explain(what, caller, ctx).error().code(), Code::kInvalidArgument);
  what.url = "relative";
  EXPECT_EQ(Explain(what, caller, ctx).error().code(), Code::kInvalidArgument);
  what.url = "/x";
  what.as_user = "bob";
  EXPECT_EQ(Explain(what, caller, ctx).error().code(), Code::kPermissionDenied);
  caller.principal = Principal{"root", {}, "token", true};
  ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex);
  EXPECT_EQ(GetString(ex->json, "identity.principal.user"), "bob");
}

// Explain runs the same authorization checks as the request would meet, in order: each
// VirtualService on the way, then the destination's own; the first refusal decides.
TEST_F(DispatcherTest, ExplainShowsEveryAuthorizationCheckAndTheRuleThatDecided) {
  VsAuthorizer authorizer;
  Build({Vs(R"(hosts: ['*']
http:
- match: [{uri: {prefix: /kfserving/team-a/iap}}]
  rewrite: {uri: /v1/models/iap}
  route: [{destination: {host: cluster-local-gateway.istio-system.svc.cluster.local}}]
)",
            "iap", "team-a")},
        &authorizer);
  ExplainContext ctx;
  ctx.dispatcher = dispatcher_.get();
  ctx.authorizer = &authorizer;
  ctx.destination_attributes = [](const Decision& d,
                                  const RouteRequest&) -> std::optional<authz::Attributes> {
    if (d.service != "serving") return std::nullopt;
    authz::Attributes a;
    a.verb = "predict";
    a.group = "serving.kserve.io";
    a.resource = "inferenceservices";
    a.ns = "team-a";
    a.name = "iap";
    return a;
  };
  ctx.is_admin = [](const Principal& p) { return p.name == "root"; };
  http::Request caller;
  caller.principal = Principal{"root", {}, "token", true};
  ExplainRequest what;
  what.method = "POST";
  what.url = "/kfserving/team-a/iap:predict";
  what.as_user = "alice";
  what.as_groups = {"datascience"};
  auto ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex) << ex.error();
  EXPECT_EQ(GetString(ex->json, "authorization.result"), "deny");
  EXPECT_NE(GetString(ex->json, "authorization.reason").find("VirtualService team-a/iap"),
            std::string::npos);
  EXPECT_EQ(ex->json.at("authorization").at("checks").as_array().size(), 1u);
  EXPECT_EQ(GetString(ex->json, "identity.principal.groups.0"), "datascience");
  EXPECT_NE(ex->text.find("deny (rule -): route of VirtualService team-a/iap"), std::string::npos)
      << ex->text;
  // The route is readable: the destination (the model's predict) decides, and refuses.
  authorizer.readable = {"team-a/iap"};
  ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex);
  const json::array& checks = ex->json.at("authorization").at("checks").as_array();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(GetString(checks[0], "result"), "allow");
  EXPECT_EQ(GetString(checks[1], "for"), "destination");
  EXPECT_EQ(GetString(checks[1], "result"), "deny");
  EXPECT_NE(GetString(checks[1], "attributes").find("predict"), std::string::npos);
  EXPECT_EQ(GetString(ex->json, "authorization.result"), "deny");
  // An impersonated configured administrator is one.
  what.as_user = "root";
  what.as_groups.clear();
  ex = Explain(what, caller, ctx);
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->json.at("identity").at("principal").at("admin"), json::value(true));
}

TEST(ExplainRequestTest, ParsesTheQueryAndTheTokenHeader) {
  http::Request req;
  req.raw_query = "method=post&url=%2Fv1%2Fmodels%2Fx&header=x-env%3A%20test&header=Host:%20a.b";
  req.headers.Set(kExplainTokenHeader, "Bearer abc");
  auto what = ParseExplainRequest(req);
  ASSERT_TRUE(what) << what.error();
  EXPECT_EQ(what->method, "POST");
  EXPECT_EQ(what->url, "/v1/models/x");
  ASSERT_EQ(what->headers.size(), 2u);
  EXPECT_EQ(what->headers[0], (std::pair<std::string, std::string>{"x-env", "test"}));
  EXPECT_EQ(what->headers[1].second, "a.b");
  EXPECT_EQ(what->token, "abc");

  req.raw_query = "method=GET";
  EXPECT_FALSE(ParseExplainRequest(req));  // url is required
  req.raw_query = "url=/x&header=novalue";
  EXPECT_FALSE(ParseExplainRequest(req));
  req.raw_query = "url=/x&header=x:%0D%0Ainjected";
  EXPECT_FALSE(ParseExplainRequest(req));
  req.raw_query = "url=/x&as=bob";
  EXPECT_FALSE(ParseExplainRequest(req));  // as and a token together
}

TEST(EnsureRequestIdTest, KeepsAWellFormedIdElseSetsAFreshUuid) {
  auto run = [](std::initializer_list<std::pair<const char*, std::string>> headers) {
    http::Request req;
    req.notes = std::make_shared<http::AccessNotes>();
    req.notes->request_id = "stale value from the previous request on the connection";
    for (const auto& [k, v] : headers) req.headers.Add(k, v);
    EnsureRequestId(req);
    return req;
  };
  auto kept = run({{"X-Request-Id", "req-abc-123"}});
  EXPECT_EQ(kept.notes->request_id, "req-abc-123");
  EXPECT_EQ(kept.headers.GetAll("x-request-id").size(), 1u);

  auto is_uuid4 = [](std::string_view id) {
    if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-') {
      return false;
    }
    for (size_t i = 0; i < id.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) continue;
      if (std::string_view("0123456789abcdef").find(id[i]) == std::string_view::npos) return false;
    }
    return id[14] == '4' && std::string_view("89ab").find(id[19]) != std::string_view::npos;
  };
  std::set<std::string> seen;
  for (const auto& headers : std::vector<std::vector<std::pair<const char*, std::string>>>{
           {},
           {{"x-request-id", ""}},
           {{"x-request-id", "has space"}},
           {{"x-request-id", std::string(129, 'a')}},
           {{"x-request-id", "one"}, {"X-Request-ID", "two"}}}) {
    http::Request req;
    req.notes = std::make_shared<http::AccessNotes>();
    for (const auto& [k, v] : headers) req.headers.Add(k, v);
    EnsureRequestId(req);
    EXPECT_TRUE(is_uuid4(req.notes->request_id)) << req.notes->request_id;
    auto all = req.headers.GetAll("x-request-id");
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0], req.notes->request_id);
    seen.insert(req.notes->request_id);
  }
  EXPECT_EQ(seen.size(), 5u);  // a fresh id each time
  http::Request no_notes;      // notes are optional
  EnsureRequestId(no_notes);
  EXPECT_TRUE(is_uuid4(*no_notes.headers.Get("x-request-id")));
}

}  // namespace
}  // namespace skiff::gateway
