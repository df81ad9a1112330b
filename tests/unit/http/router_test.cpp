#include "http/router.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <thread>

namespace skiff::http {
namespace {

// Queues tasks; the test runs them by hand.
class QueueRunner : public TaskRunner {
 public:
  void Post(std::function<void()> task) override { tasks.push_back(std::move(task)); }
  void RunAll() {
    while (!tasks.empty()) {
      auto t = std::move(tasks.front());
      tasks.pop_front();
      t();
    }
  }
  std::deque<std::function<void()>> tasks;
};

struct Call {
  std::optional<Response> response;
  Responder Capture() {
    return [this](Response r) { response = std::move(r); };
  }
};

Request Req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

Handler Named(std::string body) {
  return [body](Request& req, Responder respond) {
    respond(Response::Text(200, body + "|" + req.route + "|" + req.path_rest));
  };
}

class RouterTest : public ::testing::Test {
 protected:
  QueueRunner blocking_, cpu_;
  Router router_{&blocking_, &cpu_};

  Response Run(std::string method, std::string path) {
    Request req = Req(std::move(method), std::move(path));
    Call call;
    router_.Dispatch(req, call.Capture());
    blocking_.RunAll();
    cpu_.RunAll();
    EXPECT_TRUE(call.response.has_value());
    return call.response.value_or(Response{});
  }
};

TEST_F(RouterTest, ExactAndPrefixLongestMatchWins) {
  router_.Add({"GET"}, "/api/*", Named("api"));
  router_.Add({"GET"}, "/api/v1/*", Named("v1"));
  router_.Add({"GET"}, "/api/v1/special", Named("special"), "special-route");
  router_.Add({}, "/healthz", Named("health"));

  EXPECT_EQ(Run("GET", "/api").body, "api|/api/*|");
  EXPECT_EQ(Run("GET", "/api/x/y").body, "api|/api/*|x/y");
  EXPECT_EQ(Run("GET", "/api/v1").body, "v1|/api/v1/*|");
  EXPECT_EQ(Run("GET", "/api/v1/pods").body, "v1|/api/v1/*|pods");
  EXPECT_EQ(Run("GET", "/api/v1/special").body, "special|special-route|");
  EXPECT_EQ(Run("DELETE", "/healthz").body, "health|/healthz|");  // any method
  EXPECT_EQ(Run("GET", "/apix").status, 404);                     // not a segment boundary
}

TEST_F(RouterTest, ExactBeatsPrefixOfSameLength) {
  router_.Add({"GET"}, "/a/*", Named("prefix"));
  router_.Add({"GET"}, "/a", Named("exact"));
  EXPECT_EQ(Run("GET", "/a").body, "exact|/a|");
  EXPECT_EQ(Run("GET", "/a/b").body, "prefix|/a/*|b");
}

TEST_F(RouterTest, NotFoundVersusMethodNotAllowed) {
  router_.Add({"GET"}, "/things", Named("list"));
  router_.Add({"POST"}, "/things", Named("create"));
  EXPECT_EQ(Run("POST", "/things").body, "create|/things|");
  EXPECT_EQ(Run("HEAD", "/things").body, "list|/things|");  // HEAD rides on GET

  Response r405 = Run("DELETE", "/things");
  EXPECT_EQ(r405.status, 405);
  auto allow = r405.headers.Get("Allow");
  ASSERT_TRUE(allow);
  EXPECT_NE(allow->find("GET"), std::string::npos);
  EXPECT_NE(allow->find("POST"), std::string::npos);
  EXPECT_NE(allow->find("HEAD"), std::string::npos);
  auto body = boost::json::parse(r405.body).as_object();
  EXPECT_EQ(body.at("code").as_int64(), 405);

  Response r404 = Run("GET", "/nothing");
  EXPECT_EQ(r404.status, 404);
  EXPECT_FALSE(r404.headers.Has("Allow"));
  EXPECT_EQ(r404.headers.Get("Content-Type"), "application/json");
}

TEST_F(RouterTest, ExecutionModesPostToPools) {
  std::thread::id inline_thread;
  router_.Add(
      {"GET"}, "/inline",
      [&](Request&) {
        inline_thread = std::this_thread::get_id();
        return Response::Text(200, "inline");
      },
      Execution::kInline);
  router_.Add(
      {"POST"}, "/blocking",
      [](Request& req) { return Response::Text(200, "blocking:" + req.body + ":" + req.route); },
      Execution::kBlocking, "blk");
  router_.Add(
      {"GET"}, "/cpu", [](Request&) { return Response::Text(200, "cpu"); }, Execution::kCpu);

  Call inline_call;
  Request r1 = Req("GET", "/inline");
  router_.Dispatch(r1, inline_call.Capture());
  ASSERT_TRUE(inline_call.response);  // answered synchronously
  EXPECT_EQ(inline_thread, std::this_thread::get_id());

  Call blocking_call;
  Request r2 = Req("POST", "/blocking");
  r2.body = "payload";
  router_.Dispatch(r2, blocking_call.Capture());
  EXPECT_FALSE(blocking_call.response);  // queued, not run
  EXPECT_EQ(blocking_.tasks.size(), 1u);
  EXPECT_EQ(r2.route, "blk");  // still readable by the server after the move
  EXPECT_EQ(r2.method, "POST");
  blocking_.RunAll();
  ASSERT_TRUE(blocking_call.response);
  EXPECT_EQ(blocking_call.response->body, "blocking:payload:blk");

  Call cpu_call;
  Request r3 = Req("GET", "/cpu");
  router_.Dispatch(r3, cpu_call.Capture());
  EXPECT_EQ(cpu_.tasks.size(), 1u);
  EXPECT_TRUE(blocking_.tasks.empty());
  cpu_.RunAll();
  ASSERT_TRUE(cpu_call.response);
  EXPECT_EQ(cpu_call.response->body, "cpu");
}

TEST_F(RouterTest, ThrowingSyncHandlerAnswers500WithoutInternals) {
  router_.Add(
      {"GET"}, "/boom",
      [](Request&) -> Response { throw std::runtime_error("secret /etc/db password"); },
      Execution::kInline);
  Response r = Run("GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

TEST(ErrorResponseTest, MapsStatusAndHidesInternals) {
  auto nf = ErrorResponse(NotFound("pod x not found"));
  EXPECT_EQ(nf.status, 404);
  auto body = boost::json::parse(nf.body).as_object();
  EXPECT_EQ(body.at("error").as_string(), "NOT_FOUND");
  EXPECT_EQ(body.at("code").as_int64(), 404);
  EXPECT_EQ(body.at("message").as_string(), "pod x not found");

  auto invalid = ErrorResponse(Invalid("spec.x: required"));
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(boost::json::parse(invalid.body).at("error").as_string(), "Invalid");

  auto internal = ErrorResponse(Internal("sqlite: /var/lib/skiff/db locked"));
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.body.find("sqlite"), std::string::npos);
  EXPECT_EQ(boost::json::parse(internal.body).at("message").as_string(), "internal error");

  auto unavailable = ErrorResponse(Unavailable("upstream down"));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(boost::json::parse(unavailable.body).at("message").as_string(), "upstream down");
}

}  // namespace
}  // namespace skiff::http
