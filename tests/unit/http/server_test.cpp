#include "http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "unit/http/test_stream.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::Get;
using testing::RawConn;
using testing::TestServer;
using testing::TestStream;
using testing::WaitUntil;

ServerOptions SmallOptions() {
  ServerOptions o;
  o.max_header_bytes = 2048;
  o.max_body_bytes = 1024;
  o.header_timeout = 300ms;
  o.body_timeout = 300ms;
  o.idle_timeout = 2000ms;
  o.write_timeout = 2000ms;
  o.handler_timeout = 5000ms;
  o.shutdown_grace = 3000ms;
  return o;
}

void AddBasicRoutes(Router& r, Server&) {
  r.Add(
      {"GET"}, "/healthz", [](Request&) { return Response::Text(200, "ok"); }, Execution::kInline);
  r.Add(
      {"POST"}, "/echo", [](Request& req) { return Response::Text(200, req.body); },
      Execution::kInline);
  r.Add(
      {"GET"}, "/query",
      [](Request& req) { return Response::Text(200, req.Query("q").value_or("-")); },
      Execution::kInline);
}

// GET `path` answers 200 "ok" with `headers` added, in order.
void AddOkRoute(Router& r, const std::string& path,
                std::vector<std::pair<std::string, std::string>> headers) {
  r.Add(
      {"GET"}, path,
      [headers = std::move(headers)](Request&) {
        Response resp = Response::Text(200, "ok");
        for (const auto& [name, value] : headers) resp.headers.Add(name, value);
        return resp;
      },
      Execution::kInline);
}

TEST(ServerTest, KeepAliveReusesOneConnection) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  ASSERT_NE(ts.port(), 0);
  RawConn c(ts.port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/healthz")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->Header("content-length"), "2");
    EXPECT_EQ(r->Header("server"), "skiff");
    EXPECT_FALSE(r->Header("date").empty());
    EXPECT_EQ(r->Header("connection"), "");
  }
  EXPECT_EQ(ts.server().open_connections(), 1u);
}

// The server writes its Server and Date once; a handler's own (a route's header operation, say)
// replaces the server's rather than joining it.
TEST(ServerTest, AHandlersServerAndDateReplaceTheServersOwn) {
  TestServer ts(SmallOptions(), [](Router& r, Server&) {
    AddOkRoute(r, "/own", {{"server", "edge/2"}, {"DATE", "Mon, 01 Jan 2024 00:00:00 GMT"}});
    AddOkRoute(r, "/plain", {});
  });
  const std::string handler_date = "Mon, 01 Jan 2024 00:00:00 GMT";
  RawConn c(ts.port());
  ASSERT_TRUE(c.ok());
  for (bool own : {true, false}) {
    ASSERT_TRUE(c.Send(Get(own ? "/own" : "/plain")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << own;
    EXPECT_EQ(r->Header("server"), own ? "edge/2" : "skiff");
    EXPECT_EQ(r->Header("date") == handler_date, own);
    EXPECT_EQ(r->counts["server"], 1u) << own;
    EXPECT_EQ(r->counts["date"], 1u) << own;
  }
}

TEST(ServerTest, ResponseHeadersWithCrOrLfAreDropped) {
  // A handler's header that would split the head is dropped, the others sent; a response whose
  // headers hold none is sent whole (the map is scanned once, then each entry only if needed).
  TestServer ts(SmallOptions(), [](Router& r, Server&) {
    AddOkRoute(r, "/bad",
               {{"X-Good", "1"},
                {"X-Evil", "a\r\nInjected: value"},
                {"X-Evil-Name\nInjected-Name", "b"},
                {"X-Lf", "c\nInjected-Lf: d"},
                {"X-Also-Good", "2"}});
    AddOkRoute(r, "/good", {{"X-Good", "1"}, {"X-Also-Good", "2"}});
  });
  RawConn c(ts.port());
  for (const char* path : {"/bad", "/good", "/bad"}) {
    ASSERT_TRUE(c.Send(Get(path)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->Header("x-good"), "1");
    EXPECT_EQ(r->Header("x-also-good"), "2");
    EXPECT_EQ(r->headers.count("x-evil"), 0u);
    EXPECT_EQ(r->headers.count("x-lf"), 0u);
    EXPECT_EQ(r->headers.count("injected"), 0u);
    EXPECT_EQ(r->headers.count("injected-name"), 0u);
    EXPECT_EQ(r->headers.count("injected-lf"), 0u);
  }
}

TEST(ServerTest, PipelinedRequestsAnsweredInOrder) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/query?q=one") + Get("/query?q=two+2") +
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" +
                     Get("/query?q=%33")));
  for (const char* want : {"one", "two 2", "hello", "3"}) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, want);
  }
}

TEST(ServerTest, NotFoundAndMethodNotAllowed) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/nope")));
  auto r404 = c.ReadResponse();
  ASSERT_TRUE(r404);
  EXPECT_EQ(r404->status, 404);
  EXPECT_EQ(r404->Header("content-type"), "application/json");
  ASSERT_TRUE(c.Send("DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r405 = c.ReadResponse();
  ASSERT_TRUE(r405);
  EXPECT_EQ(r405->status, 405);
  EXPECT_EQ(r405->Header("allow"), "GET, HEAD");
}

TEST(ServerTest, HeadHasLengthButNoBody) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.ReadResponse(5s, /*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "2");
  // The next response must start right away: no body bytes were sent for HEAD.
  ASSERT_TRUE(c.Send(Get("/query?q=after")));
  auto next = c.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "after");
}

TEST(ServerTest, NotModifiedHasNoBodyAndNoZeroLength) {
  // RFC 9110 section 8.6: a 304 may carry Content-Length only as the length the 200 would have.
  TestServer ts(SmallOptions(), [](Router& r, Server&) {
    r.Add(
        {"GET"}, "/cached",
        [](Request& req) {
          Response resp = Response::Text(304, req.Query("body").value_or(""));
          if (req.Query("length")) resp.head_content_length = 1234;
          return resp;
        },
        Execution::kInline);
    r.Add(
        {"GET"}, "/after", [](Request&) { return Response::Text(200, "after"); },
        Execution::kInline);
  });
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/cached?body=ignored")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_FALSE(r->headers.contains("content-length"));
  ASSERT_TRUE(c.Send(Get("/cached?length=1")));
  auto with_length = c.ReadResponse();
  ASSERT_TRUE(with_length);
  EXPECT_EQ(with_length->Header("content-length"), "1234");
  // No body bytes were sent: the next response starts right away.
  ASSERT_TRUE(c.Send(Get("/after")));
  auto next = c.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "after");
}

TEST(ServerTest, Http10ClosesUnlessKeepAlive) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());

  RawConn k(ts.port());
  ASSERT_TRUE(k.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto rk = k.ReadResponse();
  ASSERT_TRUE(rk);
  EXPECT_EQ(rk->Header("connection"), "keep-alive");
  ASSERT_TRUE(k.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(k.ReadResponse());
}

TEST(ServerTest, AmbiguousPathIs400AndKeepsConnection) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/a%2Fb")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("%2F"), std::string::npos);
  ASSERT_TRUE(c.Send(Get("/x/../healthz")));
  auto ok = c.ReadResponse();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // Absolute-form target.
  ASSERT_TRUE(c.Send(Get("http://test/query?q=abs")));
  auto abs = c.ReadResponse();
  ASSERT_TRUE(abs);
  EXPECT_EQ(abs->body, "abs");
}

TEST(ServerTest, HugeHeaderIs431AndCloses) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/healthz", "X-Big: " + std::string(4000, 'a') + "\r\n")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  // The rejection's error and message reach the body.
  EXPECT_NE(r->body.find("RequestHeaderFieldsTooLarge"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("request header too large"), std::string::npos) << r->body;
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerTest, BigContentLengthIs413AndCloses) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerTest, BigChunkedBodyIs413AndCloses) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) req += "200\r\n" + std::string(512, 'x') + "\r\n";
  req += "0\r\n\r\n";
  ASSERT_TRUE(c.Send(req));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerTest, SmallChunkedBodyIsReassembled) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "abcdefg");
}

TEST(ServerTest, GarbageIs400AndCloses) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("\x01\x02 garbage\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.WaitClosed());

  for (const char* bad : {
           "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
           "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nGET / "
           "HTTP/1.1\r\n\r\n",
           "GET /healthz HTTP/1.1\r\n\r\n",  // no Host
       }) {
    RawConn smuggle(ts.port());
    ASSERT_TRUE(smuggle.Send(bad));
    auto rs = smuggle.ReadResponse();
    ASSERT_TRUE(rs) << bad;
    // An unknown transfer coding is 501 (as Envoy answers); other framing errors are 400.
    const bool unknown_coding = std::string_view(bad).find("gzip") != std::string_view::npos;
    EXPECT_EQ(rs->status, unknown_coding ? 501 : 400) << bad;
    if (std::string_view(bad).find("Host") == std::string_view::npos) {
      EXPECT_NE(rs->body.find("HTTP/1.1 request without Host"), std::string::npos) << rs->body;
    }
    EXPECT_TRUE(smuggle.WaitClosed()) << bad;
  }

  RawConn bad_length(ts.port());
  ASSERT_TRUE(bad_length.Send("POST /echo HTTP/1.1\r\nContent-Length: zz\r\n\r\n"));
  auto r2 = bad_length.ReadResponse();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 400);
}

TEST(ServerTest, PartialHeaderTimesOutWith408) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  auto start = testing::Clock::now();
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n"));
  auto r = c.ReadResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("timed out reading the request header"), std::string::npos) << r->body;
  EXPECT_GE(testing::Clock::now() - start, 250ms);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerTest, SilentConnectionIsClosedWithoutAWord) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_EQ(c.buffered(), "");
}

TEST(ServerTest, SlowBodyTimesOutWith408) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-some"));
  auto r = c.ReadResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ServerTest, IdleKeepAliveIsClosed) {
  ServerOptions o = SmallOptions();
  o.idle_timeout = 200ms;
  TestServer ts(o, AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/healthz")));
  ASSERT_TRUE(c.ReadResponse());
  auto start = testing::Clock::now();
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_GE(testing::Clock::now() - start, 150ms);
  EXPECT_EQ(c.buffered(), "");
  EXPECT_TRUE(WaitUntil([&] { return ts.server().open_connections() == 0; }));
}

TEST(ServerTest, Expect100Continue) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.ReadHead();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("hello"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST(ServerTest, MaxConnectionsAnswers503) {
  ServerOptions o = SmallOptions();
  o.max_connections = 1;
  TestServer ts(o, AddBasicRoutes);
  RawConn first(ts.port());
  ASSERT_TRUE(first.Send(Get("/healthz")));
  ASSERT_TRUE(first.ReadResponse());  // admitted and alive
  RawConn second(ts.port());
  ASSERT_TRUE(second.Send(Get("/healthz")));
  auto r = second.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(second.WaitClosed());
  // The first connection still works; once it is gone a new one is admitted.
  ASSERT_TRUE(first.Send(Get("/healthz")));
  ASSERT_TRUE(first.ReadResponse());
  first.Close();
  ASSERT_TRUE(WaitUntil([&] { return ts.server().open_connections() == 0; }));
  RawConn third(ts.port());
  ASSERT_TRUE(third.Send(Get("/healthz")));
  auto r3 = third.ReadResponse();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 200);
}

TEST(ServerTest, BlockingAndCpuRoutesRunOffTheIoThread) {
  std::mutex mu;
  std::set<std::thread::id> io_threads, blocking_threads, cpu_threads;
  TestServer ts(SmallOptions(), [&](Router& r, Server&) {
    r.Add(
        {"GET"}, "/io",
        [&](Request&) {
          std::lock_guard lock(mu);
          io_threads.insert(std::this_thread::get_id());
          return Response::Text(200, "io");
        },
        Execution::kInline);
    r.Add(
        {"POST"}, "/blocking",
        [&](Request& req) {
          std::lock_guard lock(mu);
          blocking_threads.insert(std::this_thread::get_id());
          return Response::Text(200, "blocking:" + req.body);
        },
        Execution::kBlocking);
    r.Add(
        {"GET"}, "/cpu",
        [&](Request&) {
          std::lock_guard lock(mu);
          cpu_threads.insert(std::this_thread::get_id());
          return Response::Text(200, "cpu");
        },
        Execution::kCpu);
  });
  RawConn c(ts.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/io")));
    ASSERT_TRUE(c.ReadResponse());
    ASSERT_TRUE(c.Send("POST /blocking HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
    auto b = c.ReadResponse();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, "blocking:abc");
    ASSERT_TRUE(c.Send(Get("/cpu")));
    ASSERT_TRUE(c.ReadResponse());
  }
  std::lock_guard lock(mu);
  ASSERT_FALSE(io_threads.empty());
  for (auto id : blocking_threads) {
    EXPECT_EQ(io_threads.count(id), 0u);
    EXPECT_EQ(cpu_threads.count(id), 0u);
  }
  for (auto id : cpu_threads) EXPECT_EQ(io_threads.count(id), 0u);
}

TEST(ServerTest, ResponderFromAnotherThreadAndDroppedResponder) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<Responder> parked;
  {
    ServerOptions o = SmallOptions();
    o.handler_timeout = 300ms;
    TestServer ts(o, [&](Router& r, Server&) {
      r.Add({"GET"}, "/later", [&](Request& req, Responder respond) {
        std::string q = req.Query("v").value_or("");
        std::lock_guard lock(mu);
        threads.emplace_back([respond, q] {
          std::this_thread::sleep_for(20ms);  // answer from a foreign thread, later
          respond(Response::Text(200, "later:" + q));
          respond(Response::Text(500, "second call is ignored"));
        });
      });
      r.Add({"GET"}, "/drop", [](Request&, Responder) {});
      r.Add({"GET"}, "/never", [&](Request&, Responder respond) {
        std::lock_guard lock(mu);
        parked.push_back(std::move(respond));
      });
    });
    RawConn c(ts.port());
    ASSERT_TRUE(c.Send(Get("/later?v=1")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "later:1");
    ASSERT_TRUE(c.Send(Get("/drop")));
    auto dropped = c.ReadResponse();
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped->status, 500);
    EXPECT_EQ(dropped->body.find("dropped"), std::string::npos);  // no internals
    ASSERT_TRUE(c.Send(Get("/never")));
    auto timed_out = c.ReadResponse();
    ASSERT_TRUE(timed_out);
    EXPECT_EQ(timed_out->status, 504);
    // A late answer to the timed-out request must not leak into the next response.
    {
      std::lock_guard lock(mu);
      ASSERT_EQ(parked.size(), 1u);
      parked[0](Response::Text(200, "too late"));
    }
    ASSERT_TRUE(c.Send(Get("/later?v=2")));
    auto after = c.ReadResponse();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->body, "later:2");
    for (auto& t : threads) t.join();
  }
  // Responders outliving the server are harmless.
  for (auto& p : parked) p(Response::Text(200, "after the server"));
  parked.clear();
}

TEST(ServerTest, StreamDeliveredChunkByChunkThenKeepAlive) {
  auto stream = std::make_shared<TestStream>();
  TestServer ts(SmallOptions(), [&](Router& r, Server& s) {
    AddBasicRoutes(r, s);
    r.Add({"GET"}, "/watch", [&](Request&, Responder respond) {
      Response resp;
      resp.headers.Set("Content-Type", "application/json");
      resp.stream = stream;
      respond(std::move(resp));
    });
  });
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send(Get("/watch")));
  auto head = c.ReadHead();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->chunked);
  EXPECT_EQ(head->Header("content-length"), "");
  ASSERT_TRUE(WaitUntil([&] { return stream->waiting(); }));
  stream->Push("{\"n\":1}\n");
  EXPECT_EQ(c.ReadChunk(), "{\"n\":1}\n");
  stream->Push("{\"n\":2}\n");
  EXPECT_EQ(c.ReadChunk(), "{\"n\":2}\n");
  stream->End();
  EXPECT_EQ(c.ReadChunk(), "");
  EXPECT_EQ(stream->cancels(), 0);
  // The connection is reusable after a stream that ended normally.
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
}

TEST(ServerTest, StreamCancelledWhenClientDisconnects) {
  auto stream = std::make_shared<TestStream>();
  TestServer ts(SmallOptions(), [&](Router& r, Server&) {
    r.Add({"GET"}, "/watch", [&](Request&, Responder respond) {
      Response resp;
      resp.stream = stream;
      respond(std::move(resp));
    });
  });
  {
    RawConn c(ts.port());
    ASSERT_TRUE(c.Send(Get("/watch")));
    ASSERT_TRUE(c.ReadHead());
    stream->Push("first");
    EXPECT_EQ(c.ReadChunk(), "first");
    ASSERT_TRUE(WaitUntil([&] { return stream->waiting(); }));
  }  // the client goes away while the server waits for the next chunk
  EXPECT_TRUE(WaitUntil([&] { return stream->cancels() >= 1; }));
  EXPECT_TRUE(WaitUntil([&] { return ts.server().open_connections() == 0; }));
}

TEST(ServerTest, GracefulShutdownWaitsForInFlightHandler) {
  std::atomic<bool> started{false};
  ServerOptions o = SmallOptions();
  o.shutdown_grace = 5000ms;
  auto ts = std::make_unique<TestServer>(o, [&](Router& r, Server&) {
    r.Add(
        {"GET"}, "/slow",
        [&](Request&) {
          started = true;
          std::this_thread::sleep_for(300ms);  // the slow work under test
          return Response::Text(200, "slow done");
        },
        Execution::kBlocking);
  });
  RawConn idle(ts->port());  // an idle keep-alive connection: closed at shutdown
  ASSERT_TRUE(idle.Send(Get("/nothing")));
  ASSERT_TRUE(idle.ReadResponse());
  RawConn c(ts->port());
  ASSERT_TRUE(c.Send(Get("/slow")));
  ASSERT_TRUE(WaitUntil([&] { return started.load(); }));
  auto begin = testing::Clock::now();
  std::thread stopper([&] {
    ts->server().Shutdown();
    ts->server().Wait();
  });
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(idle.WaitClosed());
  stopper.join();
  EXPECT_LT(testing::Clock::now() - begin, 4s);
  // New connections are refused after shutdown.
  RawConn late(ts->port());
  EXPECT_FALSE(late.ok() && late.Send(Get("/slow")) && late.ReadResponse(1s));
}

TEST(ServerTest, ShutdownIsBoundedByGraceAndCancelsStreams) {
  auto stream = std::make_shared<TestStream>();
  std::vector<Responder> parked;
  std::mutex mu;
  ServerOptions o = SmallOptions();
  o.shutdown_grace = 300ms;
  auto ts = std::make_unique<TestServer>(o, [&](Router& r, Server&) {
    r.Add({"GET"}, "/watch", [&](Request&, Responder respond) {
      Response resp;
      resp.stream = stream;
      respond(std::move(resp));
    });
    r.Add({"GET"}, "/never", [&](Request&, Responder respond) {
      std::lock_guard lock(mu);
      parked.push_back(std::move(respond));
    });
  });
  RawConn watcher(ts->port());
  ASSERT_TRUE(watcher.Send(Get("/watch")));
  ASSERT_TRUE(watcher.ReadHead());
  RawConn stuck(ts->port());
  ASSERT_TRUE(stuck.Send(Get("/never")));
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return parked.size() == 1 && stream->waiting();
  }));
  auto begin = testing::Clock::now();
  ts->server().Shutdown();
  ts->server().Wait();
  EXPECT_LT(testing::Clock::now() - begin, 3s);
  EXPECT_GE(stream->cancels(), 1);
  EXPECT_EQ(watcher.ReadChunk(), "");  // the stream was ended cleanly
  EXPECT_TRUE(stuck.WaitClosed());
  ts.reset();
  parked.clear();
}

TEST(ServerTest, ShutdownFromAHandlerDoesNotDeadlock) {
  Server* server = nullptr;
  TestServer ts(SmallOptions(), [&](Router& r, Server& s) {
    server = &s;
    r.Add({"POST"}, "/quit", [&](Request&, Responder respond) {
      respond(Response::Text(200, "bye"));
      server->Shutdown();  // on an I/O thread: returns at once
    });
  });
  RawConn c(ts.port());
  ASSERT_TRUE(c.Send("POST /quit HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "bye");
  server->Wait();
}

TEST(ServerTest, MetricsCountRequests) {
  MetricsRegistry metrics;
  {
    TestServer ts(SmallOptions(), AddBasicRoutes, &metrics);
    RawConn c(ts.port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.Send(Get("/healthz")));
      ASSERT_TRUE(c.ReadResponse());
    }
    ASSERT_TRUE(c.Send(Get("/missing")));
    ASSERT_TRUE(c.ReadResponse());
    ASSERT_TRUE(c.Send(Get("/healthz")));  // back to the first route after another
    ASSERT_TRUE(c.ReadResponse());
    // A request is counted before its response is written: a client that has read it sees it
    // counted. Its duration is observed once its last byte is written, which may be just after.
    std::string text = metrics.Render();
    EXPECT_NE(text.find("skiff_http_requests_total{route=\"\",method=\"GET\",code=\"404\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(
        text.find("skiff_http_requests_total{route=\"/healthz\",method=\"GET\",code=\"200\"} 4"),
        std::string::npos)
        << text;
    const std::string want_durations =
        "skiff_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 4";
    ASSERT_TRUE(WaitUntil([&] {
      return metrics.Render().find(want_durations) != std::string::npos;
    })) << metrics.Render();
    EXPECT_NE(metrics.Render().find("skiff_http_open_connections 1"), std::string::npos)
        << metrics.Render();
  }
  // The gauge stays readable after the server is gone.
  EXPECT_NE(metrics.Render().find("skiff_http_open_connections 0"), std::string::npos);
}

TEST(ServerTest, StartFailsOnBusyPort) {
  TestServer ts(SmallOptions(), AddBasicRoutes);
  ServerOptions o;
  o.port = ts.port();
  Server second(
      o, [](Request&, Responder r) { r(Response::Text(200, "")); }, nullptr);
  auto port = second.Start();
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code(), Code::kUnavailable);
  second.Wait();  // never started: returns at once
}

}  // namespace
}  // namespace skiff::http
