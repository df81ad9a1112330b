// Streamed request bodies (ServerOptions::stream_body): the handler reads the body piece by
// piece through Request::body_source while it arrives, with bounded memory, chunked bodies,
// "Expect: 100-continue", per-read time-outs, and keep-alive kept correct when the handler
// answers without reading.

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "http/server.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConn;
using testing::TestServer;

// Reads a whole body through a BodySource, one piece at a time, then answers.
class BodyReader : public std::enable_shared_from_this<BodyReader> {
 public:
  BodyReader(std::shared_ptr<BodySource> source, Responder respond, bool keep)
      : source_(std::move(source)), respond_(std::move(respond)), keep_(keep) {}
  void Next() {
    source_->Read([self = shared_from_this()](Result<std::optional<std::string>> piece) {
      if (!piece) {
        self->respond_(Response::Text(piece.error().code() == Code::kDeadlineExceeded ? 408 : 400,
                                      "error: " + piece.error().message()));
        return;
      }
      if (!*piece) {
        self->respond_(Response::Text(200, "total=" + std::to_string(self->total_) +
                                               " max_piece=" + std::to_string(self->max_piece_) +
                                               (self->keep_ ? " body=" + self->kept_ : "")));
        return;
      }
      self->total_ += (*piece)->size();
      self->max_piece_ = std::max(self->max_piece_, (*piece)->size());
      if (self->keep_) self->kept_ += **piece;
      self->Next();
    });
  }

 private:
  std::shared_ptr<BodySource> source_;
  Responder respond_;
  bool keep_;
  uint64_t total_ = 0;
  size_t max_piece_ = 0;
  std::string kept_;
};

// Peak resident memory of this process, in bytes (VmHWM).
size_t PeakRss() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

class StreamedBodyTest : public ::testing::Test {
 protected:
  StreamedBodyTest()
      : server_(Options(), [this](Router& r, Server&) {
          r.Add({"POST", "PUT", "GET"}, "/count", [](Request& req, Responder respond) {
            if (!req.body_source || !req.body.empty()) {
              respond(Response::Text(500, "not streamed"));
              return;
            }
            std::make_shared<BodyReader>(req.body_source, std::move(respond), false)->Next();
          });
          r.Add({"POST"}, "/collect", [](Request& req, Responder respond) {
            std::make_shared<BodyReader>(req.body_source, std::move(respond), true)->Next();
          });
          r.Add({"POST"}, "/ignore",
                [](Request&, Responder respond) { respond(Response::Text(200, "ignored")); });
          r.Add(
              {"POST", "GET"}, "/buffered",
              [](Request& req) {
                return Response::Text(200, std::string(req.body_source ? "source" : "buffered") +
                                               " " + std::to_string(req.body.size()));
              },
              Execution::kInline);
        }) {}

  ServerOptions Options() {
    ServerOptions o;
    o.body_timeout = 400ms;
    o.shutdown_grace = 1000ms;
    o.max_body_bytes = 1024;
    o.max_streamed_body_bytes = 64 * 1024 * 1024;
    o.stream_body = [this](const Request& head) {
      {
        std::lock_guard lock(mu_);
        heads_.push_back(head.method + " " + head.path + " " +
                         std::string(head.headers.Get("Host").value_or("")));
      }
      return head.path != "/buffered";
    };
    return o;
  }

  std::mutex mu_;  // guards heads_
  std::vector<std::string> heads_;
  TestServer server_;
};

TEST_F(StreamedBodyTest, FiftyMegabytesInBoundedMemory) {
  constexpr size_t kTotal = 50 * 1024 * 1024;
  const size_t peak_before = PeakRss();
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("POST /count HTTP/1.1\r\nHost: up\r\nContent-Length: " +
                     std::to_string(kTotal) + "\r\n\r\n"));
  std::thread sender([&] {
    const std::string block(256 * 1024, 'x');
    for (size_t sent = 0; sent < kTotal; sent += block.size()) {
      if (!c.Send(block)) return;
    }
  });
  auto r = c.ReadResponse(60s);
  sender.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body.substr(0, r->body.find(' ')), "total=" + std::to_string(kTotal));
  // Pieces are what one socket read brings, not the body.
  const size_t max_piece = std::stoul(r->body.substr(r->body.find("max_piece=") + 10));
  EXPECT_LE(max_piece, 256u * 1024);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed pieces resident
  EXPECT_LT(PeakRss(), peak_before + 25 * 1024 * 1024);  // the body was never held whole
#else
  (void)peak_before;
#endif
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(heads_.size(), 1u);
    EXPECT_EQ(heads_[0], "POST /count up");
  }
  // Keep-alive stays correct after a streamed body.
  ASSERT_TRUE(c.Send("POST /buffered HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\n\r\nabc"));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "buffered 3");
}

TEST_F(StreamedBodyTest, ChunkedUploadAndBodilessRequest) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send(
      "POST /collect HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  ASSERT_TRUE(c.Send("1;ext=x\r\n \r\n"));
  ASSERT_TRUE(c.Send("5\r\nworld\r\n0\r\nTrailer: t\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("total=11"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("body=hello world"), std::string::npos) << r->body;
  // A GET has a source too; its first Read is the end.
  ASSERT_TRUE(c.Send(testing::Get("/count")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "total=0 max_piece=0");
}

TEST_F(StreamedBodyTest, ExpectContinueIsSentAtTheFirstRead) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send(
      "POST /collect HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.ReadHead();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("ping"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("body=ping"), std::string::npos) << r->body;
}

TEST_F(StreamedBodyTest, ClientThatStopsSendingTimesOutTheRead) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408) << r->body;
  EXPECT_NE(r->body.find("timed out"), std::string::npos) << r->body;
  EXPECT_TRUE(c.WaitClosed());  // the body's framing is lost: no keep-alive
}

TEST_F(StreamedBodyTest, MalformedChunkIsAnErrorFromRead) {
  RawConn c(server_.port());
  ASSERT_TRUE(
      c.Send("POST /count HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(StreamedBodyTest, UnreadSmallBodyIsDrainedForKeepAlive) {
  RawConn c(server_.port());
  const std::string body(10000, 'b');
  ASSERT_TRUE(c.Send("POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body + testing::Get("/count")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ignored");
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "total=0 max_piece=0");
}

TEST_F(StreamedBodyTest, UnreadLargeBodyClosesTheConnection) {
  RawConn c(server_.port());
  constexpr size_t kBody = 600 * 1024;
  ASSERT_TRUE(c.Send(
      "POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
  std::thread sender([&] {
    const std::string block(64 * 1024, 'x');
    for (size_t sent = 0; sent < kBody; sent += block.size()) {
      if (!c.Send(block)) return;
    }
  });
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ignored");
  EXPECT_TRUE(c.WaitClosed(5s));
  sender.join();
  EXPECT_EQ(c.buffered().find("HTTP/1.1"), std::string::npos);
}

TEST_F(StreamedBodyTest, LimitsAndBufferedRoutes) {
  // Not chosen for streaming: buffered, with the ordinary limit.
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("POST /buffered HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "buffered 5");
  RawConn big(server_.port());
  ASSERT_TRUE(big.Send("POST /buffered HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"));
  r = big.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // Streamed: a declared length over max_streamed_body_bytes is refused before the handler.
  RawConn huge(server_.port());
  ASSERT_TRUE(huge.Send("POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n"));
  r = huge.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(StreamedBodyTest, ShutdownEndsAPendingRead) {
  RawConn c(server_.port());
  ASSERT_TRUE(c.Send("POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"));
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::lock_guard lock(mu_);
    return heads_.size() == 1;
  }));
  auto started = std::chrono::steady_clock::now();
  server_.server().Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(StreamedBodyShutdownTest, ShutdownEndsAPendingReadAfterTheGrace) {
  // The body time-out is long: only shutdown can end this Read.
  ServerOptions o;
  o.body_timeout = 60s;
  o.shutdown_grace = 300ms;
  o.stream_body = [](const Request&) { return true; };
  auto error = std::make_shared<std::atomic<int>>(0);
  auto reading = std::make_shared<std::atomic<bool>>(false);
  TestServer server(o, [&](Router& r, Server&) {
    r.Add({"POST"}, "/count", [error, reading](Request& req, Responder respond) {
      reading->store(true);
      req.body_source->Read([error, respond](Result<std::optional<std::string>> piece) {
        if (!piece) error->store(static_cast<int>(piece.error().code()));
        respond(Response::Text(200, "done"));
      });
    });
  });
  RawConn c(server.port());
  ASSERT_TRUE(c.Send("POST /count HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"));
  ASSERT_TRUE(testing::WaitUntil([&] { return reading->load(); }));
  auto started = std::chrono::steady_clock::now();
  server.server().Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(testing::WaitUntil([&] { return error->load() != 0; }));
  EXPECT_EQ(error->load(), static_cast<int>(Code::kUnavailable));
  EXPECT_TRUE(c.WaitClosed());
}

}  // namespace
}  // namespace skiff::http
