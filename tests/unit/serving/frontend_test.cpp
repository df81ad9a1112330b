// The serving front end over a real controller (fake runtime, real store and storage), driven
// with hand-built requests: host- and path-based URLs, V1/V2 dispatch, name resolution across
// namespaces, listing, readiness, method errors and not-ready answers.
#include "serving/frontend.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>

#include "unit/serving/serving_fixture.hpp"

namespace skiff::serving::ctltest {
namespace {

using ::testing::HasSubstr;

struct Reply {
  int status = 0;
  http::HeaderMap headers;
  std::string text;
  json::value body;  // parsed when the body is JSON
};

std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << r.status << " " << r.text;
}

constexpr std::string_view kRow = R"({"instances": [[6.8, 2.8, 4.8, 1.4]]})";
constexpr std::string_view kV2Row =
    R"({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",
                    "data": [6.8, 2.8, 4.8, 1.4]}]})";

class FrontendTest : public ServingFixture {
 protected:
  void SetUp() override {
    SetUpParts();
    StartController();
    frontend_ = std::make_unique<Frontend>(*controller_);
    // "iris" in two namespaces; "solo" in one.
    Serve("team-a", "iris", "a");
    Serve("team-b", "iris", "b");
    Serve("team-a", "solo", "s");
  }
  void TearDown() override { frontend_.reset(); }

  void Serve(const std::string& ns, const std::string& name, const std::string& marker) {
    ApplyKServe(ns, name, FakePredictor(ModelDir(marker)));
    ASSERT_TRUE(WaitUntil([&] {
      const ServedModel* m = Served(ns, name);
      return m != nullptr && m->ready;
    })) << ns
        << "/" << name;
  }

  static http::Request Make(std::string method, std::string host, std::string path,
                            std::string_view body = {}) {
    http::Request req;
    req.method = std::move(method);
    req.target = path;
    req.path = std::move(path);
    if (!host.empty()) req.headers.Set("Host", host);
    req.body = std::string(body);
    return req;
  }

  bool Matches(const std::string& method, const std::string& host, const std::string& path) {
    http::Request req = Make(method, host, path);
    return frontend_->Matches(req);
  }

  Reply Call(const std::string& method, const std::string& host, const std::string& path,
             std::string_view body = {}) {
    http::Request req = Make(method, host, path, body);
    EXPECT_TRUE(frontend_->Matches(req)) << method << " " << host << " " << path;
    auto promise = std::make_shared<std::promise<http::Response>>();
    auto future = promise->get_future();
    auto calls = std::make_shared<std::atomic<int>>(0);
    frontend_->Handle(req, [promise, calls](http::Response r) {
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
    Reply out;
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "no answer to " << method << " " << path;
      return out;
    }
    http::Response r = future.get();
    out.status = r.status;
    out.headers = r.headers;
    out.text = r.body;
    if (auto v = ParseJson(r.body)) out.body = std::move(*v);
    return out;
  }

  // The marker that answered a V1 predict (or the error text).
  std::string Predict(const std::string& host, const std::string& path) {
    Reply r = Call("POST", host, path, kRow);
    if (r.status != 200) return r.text;
    const json::value* p = Find(r.body, "predictions");
    if (p == nullptr || !p->is_array() || p->get_array().empty() ||
        !p->get_array()[0].is_string()) {
      return r.text;
    }
    return std::string(p->get_array()[0].get_string());
  }

  std::unique_ptr<Frontend> frontend_;
};

// ---------------------------------------------------------------------------------------------
// Host-based URLs

TEST_F(FrontendTest, HostNamesTheModelAndItsNamespace) {
  EXPECT_EQ(Predict("iris.team-a.example.com", "/v1/models/iris:predict"), "a");
  EXPECT_EQ(Predict("iris.team-b.example.com", "/v1/models/iris:predict"), "b");
  // KFServing / KServe <= 0.7 and KServe >= 0.8 predictor hosts; any domain.
  EXPECT_EQ(Predict("iris-predictor-default.team-b.kubeflow.corp", "/v1/models/iris:predict"), "b");
  EXPECT_EQ(Predict("iris-predictor.team-a.example.com", "/v1/models/iris:predict"), "a");
  EXPECT_EQ(Predict("iris.team-b.svc.cluster.local", "/v1/models/iris:predict"), "b");
  // A port, and letters in another case.
  EXPECT_EQ(Predict("iris.team-b.example.com:8080", "/v1/models/iris:predict"), "b");
  EXPECT_EQ(Predict("IRIS.Team-A.Example.COM", "/v1/models/iris:predict"), "a");

  // V2 on a host-based URL.
  Reply r = Call("POST", "iris.team-b.example.com", "/v2/models/iris/infer", kV2Row);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(GetString(r.body, "model_name"), "iris");
  EXPECT_EQ(GetString(r.body, "model_version"), "iris-predictor-00001");
  EXPECT_EQ(*Find(r.body, "outputs.0.data"), *ParseJson(R"(["b"])"));
}

TEST_F(FrontendTest, ModelNameInThePathMustBeTheHostsModel) {
  Reply r = Call("POST", "iris.team-a.example.com", "/v1/models/solo:predict", kRow);
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.text, R"({"error":"Model with name solo does not exist."})");
  r = Call("POST", "iris.team-a.example.com", "/v2/models/solo/infer", kV2Row);
  EXPECT_EQ(r.status, 404) << r;
  r = Call("POST", "", "/serving/team-a/iris/v1/models/solo:predict", kRow);
  EXPECT_EQ(r.status, 404) << r;
}

TEST_F(FrontendTest, HostOfAModelDoesNotCaptureOtherPaths) {
  // The API, the dashboard and the rest share the listener: a Host that happens to name a model
  // must not take them over.
  EXPECT_FALSE(Matches("GET", "iris.team-a.example.com", "/api/v1/namespaces"));
  EXPECT_FALSE(Matches("GET", "iris.team-a.example.com", "/"));
  EXPECT_FALSE(Matches("GET", "iris.team-a.example.com", "/healthz"));
  EXPECT_TRUE(Matches("GET", "iris.team-a.example.com", "/v1/models"));
  EXPECT_TRUE(Matches("GET", "iris.team-a.example.com", "/v2/health/ready"));
  // A path-based URL still works through a model's Host.
  EXPECT_EQ(Predict("iris.team-a.example.com", "/serving/team-b/iris/v1/models/iris:predict"), "b");
}

TEST_F(FrontendTest, UnrelatedRequestsDoNotMatch) {
  EXPECT_FALSE(Matches("GET", "localhost:8080", "/api/v1/pods"));
  EXPECT_FALSE(Matches("GET", "nomodel.team-a.example.com", "/api/v1/pods"));
  EXPECT_FALSE(Matches("GET", "[::1]:8080", "/"));
  EXPECT_FALSE(Matches("POST", "", "/kfserving/team-a"));
  EXPECT_FALSE(Matches("POST", "", "/serving/team-a/iris"));
  EXPECT_FALSE(Matches("GET", "", "/v1"));
  EXPECT_FALSE(Matches("GET", "", "/v20"));
}

// ---------------------------------------------------------------------------------------------
// Path-based URLs

TEST_F(FrontendTest, PathBasedUrls) {
  EXPECT_EQ(Predict("", "/kfserving/team-a/iris:predict"), "a");
  EXPECT_EQ(Predict("localhost", "/kfserving/team-b/iris:predict"), "b");
  EXPECT_EQ(Predict("", "/serving/team-b/iris/v1/models/iris:predict"), "b");
  Reply r = Call("POST", "", "/serving/team-a/iris/v2/models/iris/infer", kV2Row);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(*Find(r.body, "outputs.0.data"), *ParseJson(R"(["a"])"));
  r = Call("GET", "", "/kfserving/team-a/iris");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.body, *ParseJson(R"({"name": "iris", "ready": true})"));
  r = Call("GET", "", "/serving/team-b/iris/v2/models/iris");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(GetString(r.body, "name"), "iris");
  EXPECT_EQ(GetString(r.body, "platform"), "fake");
  EXPECT_EQ(GetString(r.body, "versions.0"), "iris-predictor-00001");
  r = Call("POST", "", "/kfserving/team-c/iris:predict", kRow);
  EXPECT_EQ(r.status, 404) << r;
}

TEST_F(FrontendTest, AddressedNamespaceComesFromServingUrlsOnly) {
  EXPECT_EQ(frontend_->AddressedNamespace("iris.team-b.example.com", "/v1/models/iris:predict"),
            "team-b");
  EXPECT_EQ(frontend_->AddressedNamespace("", "/kfserving/team-a/iris:predict"), "team-a");
  EXPECT_EQ(frontend_->AddressedNamespace("", "/serving/team-b/iris/v2/models/iris"), "team-b");
  // A model's Host does not address its namespace on other paths; plain paths name none.
  EXPECT_EQ(frontend_->AddressedNamespace("iris.team-b.example.com", "/bench/hello.txt"), "");
  EXPECT_EQ(frontend_->AddressedNamespace("iris.team-b.example.com", "/api/v1/pods"), "");
  EXPECT_EQ(frontend_->AddressedNamespace("localhost", "/v1/models/solo:predict"), "");
  EXPECT_EQ(frontend_->AddressedNamespace("localhost", "/kfserving-x/team-a/iris"), "");
}

TEST_F(FrontendTest, PlainPathsFindAUniqueNameInAnyNamespace) {
  EXPECT_EQ(Predict("localhost:8080", "/v1/models/solo:predict"), "s");
  Reply r = Call("POST", "localhost:8080", "/v2/models/solo/infer", kV2Row);
  EXPECT_EQ(r.status, 200) << r;

  r = Call("POST", "localhost:8080", "/v1/models/iris:predict", kRow);
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("team-a, team-b"));
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("iris.NAMESPACE.example.com"));
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("/serving/NAMESPACE/iris/"));

  r = Call("POST", "localhost:8080", "/v1/models/nope:predict", kRow);
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.text, R"({"error":"Model with name nope does not exist."})");
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
  r = Call("GET", "", "/v2/models/nope/ready");
  EXPECT_EQ(r.status, 404) << r;
}

// ---------------------------------------------------------------------------------------------
// Listing and readiness

TEST_F(FrontendTest, ListsModels) {
  Reply r = Call("GET", "localhost", "/v1/models");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.body, *ParseJson(R"({"models": ["iris", "solo"]})"));
  r = Call("GET", "iris.team-b.example.com", "/v1/models");
  EXPECT_EQ(r.body, *ParseJson(R"({"models": ["iris"]})")) << r;
  r = Call("GET", "", "/serving/team-a/solo/v1/models");
  EXPECT_EQ(r.body, *ParseJson(R"({"models": ["solo"]})")) << r;
  r = Call("GET", "", "/v1/models/solo");
  EXPECT_EQ(r.body, *ParseJson(R"({"name": "solo", "ready": true})")) << r;
}

TEST_F(FrontendTest, ServerReadyIsFalseWhileAModelLoads) {
  EXPECT_EQ(Call("GET", "", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "", "/v2/health/live").text, R"({"live":true})");

  runtime_->Block("slow");
  ApplyKServe("team-a", "slow", FakePredictor(ModelDir("slow")));
  ASSERT_TRUE(runtime_->WaitLoads("slow", 1));
  ASSERT_TRUE(WaitUntil([&] { return Served("team-a", "slow") != nullptr; }));
  Reply r = Call("GET", "", "/v2/health/ready");
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.body, *ParseJson(R"({"ready": false})"));
  // Scoped to one model, readiness is that model's.
  EXPECT_EQ(Call("GET", "", "/serving/team-a/iris/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "iris.team-a.example.com", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "", "/serving/team-a/slow/v2/health/ready").status, 503);

  // The loading model answers 503, KServe's way, with Retry-After.
  r = Call("POST", "", "/v1/models/slow:predict", kRow);
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("slow is not ready"));
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("loading"));
  EXPECT_TRUE(r.headers.Get("Retry-After").has_value());
  r = Call("POST", "", "/v2/models/slow/infer", kV2Row);
  EXPECT_EQ(r.status, 503) << r;
  r = Call("GET", "", "/v1/models/slow");
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.text, R"({"error":"Model with name slow is not ready."})");
  EXPECT_EQ(Call("GET", "", "/v2/models/slow/ready").status, 503);
  EXPECT_EQ(Call("GET", "", "/v2/models/slow").status, 503);

  runtime_->Release("slow");
  ASSERT_TRUE(WaitUntil([&] { return Call("GET", "", "/v2/health/ready").status == 200; }));
  EXPECT_EQ(Predict("", "/v1/models/slow:predict"), "slow");
}

TEST_F(FrontendTest, FailedModelAnswers503WithTheReason) {
  runtime_->FailNext("bad", 1000, "the model file is truncated");
  ApplyKServe("team-a", "bad", FakePredictor(ModelDir("bad")));
  ASSERT_TRUE(WaitUntil([&] {
    const ServedModel* m = Served("team-a", "bad");
    return m != nullptr && !m->reason.empty() && m->reason != "the model is loading";
  }));
  Reply r = Call("POST", "", "/v1/models/bad:predict", kRow);
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("the model file is truncated"));
  EXPECT_EQ(Predict("", "/v1/models/solo:predict"), "s") << "others keep serving";
}

// ---------------------------------------------------------------------------------------------
// Methods and bodies

TEST_F(FrontendTest, WrongMethodIs405WithAllow) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c :
       {Case{"GET", "/v1/models/solo:predict", "POST"},
        Case{"PUT", "/kfserving/team-a/iris:predict", "POST"},
        Case{"POST", "/v1/models", "GET, HEAD"}, Case{"DELETE", "/v1/models/solo", "GET, HEAD"},
        Case{"GET", "/v2/models/solo/infer", "POST"}, Case{"POST", "/v2/health/ready", "GET, HEAD"},
        Case{"POST", "/v2/health/live", "GET, HEAD"}, Case{"POST", "/v2", "GET, HEAD"},
        Case{"POST", "/v2/models/solo/ready", "GET, HEAD"},
        Case{"POST", "/v2/models/solo", "GET, HEAD"}}) {
    Reply r = Call(c.method, "", c.path, kRow);
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path << ": " << r;
    EXPECT_EQ(r.headers.Get("Allow").value_or(""), c.allow) << c.method << " " << c.path;
    EXPECT_FALSE(GetString(r.body, "error").empty()) << r;
  }
  // The right methods still work.
  EXPECT_EQ(Call("HEAD", "", "/v1/models/solo").status, 200);
  EXPECT_EQ(Predict("", "/v1/models/solo:predict"), "s");
}

TEST_F(FrontendTest, BadBodiesAre400AndUnknownEndpoints404) {
  Reply r = Call("POST", "", "/v1/models/solo:predict", "{not json");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_THAT(GetString(r.body, "error"), HasSubstr("Unrecognized request format"));
  r = Call("POST", "", "/v2/models/solo/infer", R"({"inputs": [{"name": "x"}]})");
  EXPECT_EQ(r.status, 400) << r;
  r = Call("POST", "", "/v1/models/solo:explain", kRow);
  EXPECT_EQ(r.status, 501) << r;
  r = Call("GET", "", "/v2/models/solo/versions/1/bogus");
  EXPECT_EQ(r.status, 404) << r;
  r = Call("GET", "", "/serving/team-a/solo/v3/models");
  EXPECT_EQ(r.status, 404) << r;
}

TEST_F(FrontendTest, CanarySplitIsExactAndMetadataDoesNotDisturbIt) {
  ApplyKServe("team-a", "solo", FakePredictor(ModelDir("s2"), 30));
  ASSERT_TRUE(WaitUntil([&] {
    const ServedModel* m = Served("team-a", "solo");
    return m != nullptr && m->routes.size() == 2;
  }));
  std::map<std::string, int> seen;
  for (int i = 0; i < 100; ++i) {
    ++seen[Predict("", "/v1/models/solo:predict")];
    // Metadata, readiness and rejected requests between predictions take no share of the split
    // (three of them per prediction would skew it to 72/28 if they did).
    EXPECT_EQ(Call("GET", "", "/v2/models/solo").status, 200);
    EXPECT_EQ(Call("GET", "", "/v2/models/solo/versions/x").status, 200);
    EXPECT_EQ(Call("GET", "", "/v1/models/solo").status, 200);
    EXPECT_EQ(Call("POST", "", "/v1/models/solo:predict", "[").status, 400);
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"s", 70}, {"s2", 30}}));
  // Metadata describes the latest revision.
  Reply r = Call("GET", "", "/v2/models/solo");
  EXPECT_EQ(GetString(r.body, "versions.0"), "solo-predictor-00002") << r;
}

// ---------------------------------------------------------------------------------------------
// Authorization

// Grants `verbs` on InferenceServices in the listed namespaces; denies everything else, saying
// what it was asked.
class GrantingAuthorizer : public authz::Authorizer {
 public:
  std::map<std::string, std::set<std::string>> grants;  // namespace -> verbs
  mutable std::vector<authz::Attributes> asked;

  authz::Decision Decide(const Principal& who, const authz::Attributes& what) const override {
    asked.push_back(what);
    authz::Decision d;
    auto it = grants.find(what.ns);
    d.allowed = what.resource == "inferenceservices" && it != grants.end() &&
                it->second.count(what.verb) > 0;
    d.reason = who.name + (d.allowed ? " may " : " may not ") + what.ToString();
    return d;
  }
  std::vector<authz::NamespaceRole> NamespacesOf(const Principal&) const override { return {}; }
};

class AuthorizedFrontendTest : public FrontendTest {
 protected:
  void SetUp() override {
    FrontendTest::SetUp();
    authorizer_.grants["team-a"] = {"get", "list", "predict"};
    authorizer_.grants["team-b"] = {"get", "list"};  // may read, not call
    frontend_ = std::make_unique<Frontend>(*controller_, ProtocolLimits{}, &authorizer_);
  }

  Reply CallAs(const std::optional<std::string>& user, const std::string& method,
               const std::string& host, const std::string& path, std::string_view body = {}) {
    http::Request req = Make(method, host, path, body);
    if (user) req.principal = Principal{*user, {}, "token", false};
    std::optional<http::Response> got;
    frontend_->Handle(req, [&](http::Response r) { got = std::move(r); });
    // Denials answer on the calling thread; an allowed predict may answer from the executor.
    if (!got) {
      EXPECT_TRUE(WaitUntil([&] { return got.has_value(); }));
      if (!got) return {};
    }
    Reply out;
    out.status = got->status;
    out.text = got->body;
    if (auto v = ParseJson(got->body)) out.body = std::move(*v);
    return out;
  }

  GrantingAuthorizer authorizer_;
};

TEST_F(AuthorizedFrontendTest, PredictNeedsThePredictVerbInTheModelsNamespace) {
  Reply ok = CallAs("alice", "POST", "iris.team-a.example.com", "/v1/models/iris:predict", kRow);
  EXPECT_EQ(ok.status, 200) << ok;
  ASSERT_FALSE(authorizer_.asked.empty());
  const authz::Attributes& a = authorizer_.asked.back();
  EXPECT_EQ(a.verb, "predict");
  EXPECT_EQ(a.group, "serving.kserve.io");
  EXPECT_EQ(a.resource, "inferenceservices");
  EXPECT_EQ(a.ns, "team-a");
  EXPECT_EQ(a.name, "iris");
  // Every way of naming team-b's model is refused: Host, /kfserving, /serving, V2.
  for (const auto& [host, path] : std::vector<std::pair<std::string, std::string>>{
           {"iris.team-b.example.com", "/v1/models/iris:predict"},
           {"iris-predictor-default.team-b.svc.cluster.local", "/v1/models/iris:predict"},
           {"", "/kfserving/team-b/iris:predict"},
           {"", "/serving/team-b/iris/v1/models/iris:predict"}}) {
    Reply r = CallAs("alice", "POST", host, path, kRow);
    EXPECT_EQ(r.status, 403) << host << path << " " << r;
    EXPECT_THAT(GetString(r.body, "error"), HasSubstr("alice may not"));
    EXPECT_THAT(GetString(r.body, "error"), HasSubstr("team-b"));
  }
  Reply v2 = CallAs("alice", "POST", "iris.team-b.example.com", "/v2/models/iris/infer", kV2Row);
  EXPECT_EQ(v2.status, 403) << v2;
  // Reading team-b's model is allowed (get), calling it is not.
  Reply ready = CallAs("alice", "GET", "iris.team-b.example.com", "/v1/models/iris");
  EXPECT_EQ(ready.status, 200) << ready;
  EXPECT_EQ(authorizer_.asked.back().verb, "get");
  // No principal: 401, nothing run.
  Reply anon =
      CallAs(std::nullopt, "POST", "iris.team-a.example.com", "/v1/models/iris:predict", kRow);
  EXPECT_EQ(anon.status, 401) << anon;
}

// What `routes explain` shows: the same verb and model the request would be checked with.
TEST_F(AuthorizedFrontendTest, AttributesForNameTheModelAndVerbOfACall) {
  auto a = frontend_->AttributesFor("", "/kfserving/team-b/iris:predict");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->verb, "predict");
  EXPECT_EQ(a->group, "serving.kserve.io");
  EXPECT_EQ(a->resource, "inferenceservices");
  EXPECT_EQ(a->ns, "team-b");
  EXPECT_EQ(a->name, "iris");
  a = frontend_->AttributesFor("iris.team-a.example.com", "/v2/models/iris/ready");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->verb, "get");
  EXPECT_EQ(a->ns, "team-a");
  a = frontend_->AttributesFor("", "/v1/models/solo:predict");  // unique name: its namespace
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ns, "team-a");
  EXPECT_FALSE(frontend_->AttributesFor("", "/v1/models"));               // a list
  EXPECT_FALSE(frontend_->AttributesFor("", "/v1/models/iris:predict"));  // ambiguous
  EXPECT_FALSE(frontend_->AttributesFor("", "/v2/health/live"));
}

TEST_F(AuthorizedFrontendTest, ModelListsCoverOnlyListableNamespaces) {
  authorizer_.grants.erase("team-b");
  Reply all = CallAs("alice", "GET", "", "/v1/models");
  ASSERT_EQ(all.status, 200) << all;
  // "iris" and "solo" of team-a; team-b's iris is not what makes "iris" appear.
  EXPECT_EQ(Serialize(*Find(all.body, "models")), R"(["iris","solo"])");
  authorizer_.grants.clear();
  Reply none = CallAs("alice", "GET", "", "/v1/models");
  ASSERT_EQ(none.status, 200) << none;
  EXPECT_EQ(Serialize(*Find(none.body, "models")), "[]");
  // A name alone is looked up among the models the caller may read: one in a namespace they may
  // not use is not found (nothing tells it exists), and the ambiguity of "iris" (team-a and
  // team-b) is no ambiguity for someone who may read only team-a's.
  Reply solo = CallAs("alice", "POST", "", "/v1/models/solo:predict", kRow);
  EXPECT_EQ(solo.status, 404) << solo;
  EXPECT_EQ(solo.text, R"({"error":"Model with name solo does not exist."})");
  authorizer_.grants["team-a"] = {"get", "list", "predict"};
  Reply iris = CallAs("alice", "POST", "", "/v1/models/iris:predict", kRow);
  EXPECT_EQ(iris.status, 200) << iris;
  EXPECT_EQ(Serialize(*Find(iris.body, "predictions")), R"(["a"])");
}

}  // namespace
}  // namespace skiff::serving::ctltest
