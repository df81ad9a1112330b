// The server's access-log hook: one record per request, after the response, with the handler's
// notes and the server's own flags; also for requests the server refused itself.

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "http/server.hpp"
#include "unit/http/test_stream.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConn;
using testing::TestServer;
using testing::TestStream;

class AccessLogTest : public ::testing::Test {
 protected:
  AccessLogTest()
      : server_(Options(), [this](Router& r, Server&) {
          r.Add(
              {"GET", "POST"}, "/api/*",
              [](Request& req, Responder respond) {
                req.notes->route_name = "team-a/vs[0]";
                req.notes->user = "alice";
                req.notes->request_id = "rid-1";
                respond(Response::Text(201, "hello:" + std::to_string(req.body.size())));
              },
              "api");
          r.Add({"GET"}, "/watch", [this](Request&, Responder respond) {
            Response resp;
            resp.stream = watch_;
            respond(std::move(resp));
          });
          r.Add({"GET"}, "/never", [this](Request&, Responder respond) {
            std::lock_guard lock(mu_);
            parked_.push_back(std::move(respond));
          });
        }) {}
  ~AccessLogTest() override {
    std::lock_guard lock(mu_);
    parked_.clear();
  }

  ServerOptions Options() {
    ServerOptions o;
    o.header_timeout = 300ms;
    o.shutdown_grace = 500ms;
    o.access_log = [this](const AccessRecord& r) {
      std::lock_guard lock(mu_);
      records_.push_back(r);
    };
    return o;
  }

  size_t count() {
    std::lock_guard lock(mu_);
    return records_.size();
  }
  AccessRecord record(size_t i) {
    std::lock_guard lock(mu_);
    return records_.at(i);
  }

  std::mutex mu_;  // guards records_, parked_
  std::vector<AccessRecord> records_;
  std::vector<Responder> parked_;
  std::shared_ptr<TestStream> watch_ = std::make_shared<TestStream>();
  TestServer server_;
};

TEST_F(AccessLogTest, OneRecordPerRequestWithNotes) {
  auto before = std::chrono::system_clock::now();
  RawConn c(server_.port());
  ASSERT_TRUE(
      c.Send("POST /api/v1/./x?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: ua/1\r\n"
             "Content-Length: 5\r\n\r\nabcde"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  ASSERT_TRUE(testing::WaitUntil([&] { return count() == 1; }));
  AccessRecord a = record(0);
  EXPECT_EQ(a.method, "POST");
  EXPECT_EQ(a.target, "/api/v1/./x?q=1");
  EXPECT_EQ(a.path, "/api/v1/x");
  EXPECT_EQ(a.version, 11);
  EXPECT_EQ(a.status, 201);
  EXPECT_EQ(a.bytes_received, 5u);
  EXPECT_EQ(a.bytes_sent, std::string("hello:5").size());
  EXPECT_EQ(a.host, "example.test");
  EXPECT_EQ(a.user_agent, "ua/1");
  EXPECT_EQ(a.route, "api");
  EXPECT_EQ(a.notes.route_name, "team-a/vs[0]");
  EXPECT_EQ(a.notes.user, "alice");
  EXPECT_EQ(a.notes.request_id, "rid-1");
  EXPECT_EQ(a.flags, "");
  EXPECT_FALSE(a.remote_addr.empty());
  EXPECT_GE(a.start, before - 1s);
  EXPECT_GE(a.duration.count(), 0);

  // Keep-alive: the second request gets its own record with fresh notes.
  ASSERT_TRUE(c.Send("GET /nothing HTTP/1.0\r\n\r\n"));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  ASSERT_TRUE(testing::WaitUntil([&] { return count() == 2; }));
  a = record(1);
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.version, 10);
  EXPECT_EQ(a.notes.route_name, "");
  EXPECT_EQ(a.notes.user, "");
  EXPECT_EQ(a.host, "");
}

TEST_F(AccessLogTest, RefusedRequestsAreLoggedWithEmptyNotes) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("GET /api/x HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  ASSERT_TRUE(testing::WaitUntil([&] { return count() == 1; }));
  AccessRecord a = record(0);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.flags, "DPE");
  EXPECT_EQ(a.route, "");
  EXPECT_EQ(a.notes.route_name, "");
  EXPECT_GT(a.bytes_sent, 0u);  // the error body
}

TEST_F(AccessLogTest, HeaderTimeoutIsLogged) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("GET /api/x HTTP/1.1\r\nHost: h\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  ASSERT_TRUE(testing::WaitUntil([&] { return count() == 1; }));
  EXPECT_EQ(record(0).status, 408);
  EXPECT_EQ(record(0).flags, "RT");
}

TEST_F(AccessLogTest, StreamedBytesCountAndDisconnectIsFlagged) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send(testing::Get("/watch")));
  auto head = c.ReadHead();
  ASSERT_TRUE(head);
  watch_->Push("0123456789");
  auto chunk = c.ReadChunk();
  ASSERT_TRUE(chunk);
  EXPECT_EQ(*chunk, "0123456789");
  EXPECT_EQ(count(), 0u);  // not before the response is done
  c.Close();
  ASSERT_TRUE(testing::WaitUntil([&] { return count() == 1; }));
  AccessRecord a = record(0);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.bytes_sent, 10u);
  EXPECT_EQ(a.flags, "DC");
}

TEST_F(AccessLogTest, UnansweredRequestAtShutdownIsLoggedWithStatusZero) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send(testing::Get("/never")));
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::lock_guard lock(mu_);
    return parked_.size() == 1;
  }));
  server_.server().Shutdown();  // the grace period ends with the request still unanswered
  ASSERT_EQ(count(), 1u);
  EXPECT_EQ(record(0).status, 0);
  EXPECT_EQ(record(0).flags, "DC");
}

// A connection over http.maxConnections is answered 503 before any request is read: it still
// gets its access-log line (method and target "-", flag OM).
TEST(AccessLogBusyTest, TooManyConnectionsIsLogged) {
  std::mutex mu;  // guards records
  std::vector<AccessRecord> records;
  ServerOptions o;
  o.max_connections = 1;
  o.access_log = [&](const AccessRecord& r) {
    std::lock_guard lock(mu);
    records.push_back(r);
  };
  TestServer ts(o, [](Router& r, Server&) {
    r.Add({"GET"}, "/ok", SyncHandler([](Request&) { return Response::Text(200, "ok"); }),
          Execution::kInline);
  });
  RawConn first(ts.port());
  ASSERT_TRUE(first.Send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(first.ReadResponse());
  RawConn second(ts.port());
  auto r = second.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::lock_guard lock(mu);
    return records.size() == 2;
  }));
  std::lock_guard lock(mu);
  const AccessRecord& busy = records[1];
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.method, "-");
  EXPECT_EQ(busy.target, "-");
  EXPECT_EQ(busy.flags, "OM");
  EXPECT_GT(busy.bytes_sent, 0u);
  EXPECT_FALSE(busy.remote_addr.empty());
}

}  // namespace
}  // namespace skiff::http
