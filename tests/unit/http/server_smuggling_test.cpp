// Request smuggling defence, with raw sockets: ambiguous framing (Content-Length with
// Transfer-Encoding, conflicting lengths, transfer codings other than exactly "chunked", bare
// LF, obs-fold, whitespace before a colon, bad chunk sizes) is refused and the connection is
// closed, so that bytes left in the buffer are never parsed as a second request.

#include <gtest/gtest.h>

#include <atomic>

#include "http/server.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConn;
using testing::TestServer;

// Sent after each refused request on the same connection: must never be answered.
constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

class SmugglingTest : public ::testing::Test {
 protected:
  SmugglingTest()
      : server_(Options(), [this](Router& r, Server&) {
          r.Add(
              {"GET", "POST"}, "/echo",
              [](Request& req) {
                return Response::Text(200, "len=" + std::to_string(req.body.size()));
              },
              Execution::kInline);
          r.Add(
              {"GET", "POST"}, "/smuggled",
              [this](Request&) {
                ++smuggled_;
                return Response::Text(200, "smuggled");
              },
              Execution::kInline);
        }) {}

  static ServerOptions Options() {
    ServerOptions o;
    o.header_timeout = 2000ms;
    o.body_timeout = 2000ms;
    o.shutdown_grace = 500ms;
    return o;
  }

  // Sends `request` followed by a pipelined second request; expects one refusal with `status`,
  // "Connection: close", then the end of the connection without a second response.
  void ExpectRefused(const std::string& request, int status) {
    SCOPED_TRACE(request);
    RawConn c(server_.port());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.Send(request + std::string(kSmuggled)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c.WaitClosed(5s));
    EXPECT_EQ(c.buffered().find("HTTP/1.1"), std::string::npos) << c.buffered();
    EXPECT_EQ(smuggled_.load(), 0);
  }

  std::atomic<int> smuggled_{0};
  TestServer server_;
};

TEST_F(SmugglingTest, ControlWellFormedRequestsArePipelined) {
  // The positive control: the same pipelining is answered twice when the framing is clean.
  for (std::string first : {
           std::string("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"),
           std::string("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n0\r\n\r\n"),
           std::string("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                       "3;ext=1\r\nabc\r\n0\r\n\r\n"),
       }) {
    SCOPED_TRACE(first);
    RawConn c(server_.port());
    ASSERT_TRUE(c.Send(first + std::string(kSmuggled)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "len=3");
    r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "smuggled");
  }
  EXPECT_EQ(smuggled_.load(), 3);
  smuggled_ = 0;
}

TEST_F(SmugglingTest, ContentLengthWithTransferEncoding) {
  ExpectRefused(
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      400);
  ExpectRefused(
      "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
      "0\r\n\r\n",
      400);
  ExpectRefused(
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: identity\r\n\r\n",
      400);
}

TEST_F(SmugglingTest, ConflictingContentLengths) {
  ExpectRefused(
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\nab", 400);
  // Even equal duplicates and lists: one plain number only (as Envoy).
  ExpectRefused(
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0x2\r\n\r\nab", 400);
  ExpectRefused("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400);
}

TEST_F(SmugglingTest, TransferCodingsOtherThanExactlyChunked) {
  const std::string head = "POST /echo HTTP/1.1\r\nHost: h\r\n";
  const std::string body = "\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  ExpectRefused(head + "Transfer-Encoding: chunked, identity" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: identity, chunked" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: gzip, chunked" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: xchunked" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: chunked-false" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: \"chunked\"" + body, 501);
  // A control byte in the value is a bad value.
  ExpectRefused(head + "Transfer-Encoding: \x0b" + "chunked" + body, 400);
  ExpectRefused(head + "Transfer-Encoding: identity" + body, 501);
  ExpectRefused(head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked" + body, 400);
  ExpectRefused(head + "Transfer-Encoding: chunked, chunked" + body, 501);
  // Obfuscated names: whitespace before the colon, or a folded value.
  ExpectRefused(head + "Transfer-Encoding : chunked" + body, 400);
  ExpectRefused(head + "Transfer-Encoding\t: chunked" + body, 400);
  ExpectRefused(head + "Transfer-Encoding:\r\n chunked" + body, 400);
  ExpectRefused(head + "X: y\r\n Transfer-Encoding: chunked" + body, 400);
}

TEST_F(SmugglingTest, TransferEncodingInHttp10) {
  ExpectRefused(
      "POST /echo HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      400);
}

TEST_F(SmugglingTest, BareLineEndingsAndControlBytes) {
  ExpectRefused("GET /echo HTTP/1.1\nHost: h\n\n", 400);
  ExpectRefused("GET /echo HTTP/1.1\r\nHost: h\n\r\n", 400);
  ExpectRefused("GET /echo HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400);
  ExpectRefused(std::string("GET /echo HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 40), 400);
  ExpectRefused("GET /echo HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400);
  ExpectRefused("GET /echo HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
}

// Requests without a body that arrive whole are parsed by the lean head parser first: the same
// refusals hold there, in long values too (checked sixteen bytes at a time), and a long clean
// value is still answered, pipelined.
TEST_F(SmugglingTest, BodilessRequestsWholeInTheBufferAreCheckedAsStrictly) {
  const std::string value(700, 'j');
  const std::string head = "GET /echo HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ";
  for (size_t at : {size_t{0}, size_t{17}, size_t{350}, size_t{699}}) {
    for (char bad : {'\x01', '\x7f', '\0', '\n'}) {
      std::string v = value;
      v[at] = bad;
      ExpectRefused(head + v + "\r\n\r\n", 400);
    }
  }
  ExpectRefused(head + value + "\r\n folded\r\n\r\n", 400);
  ExpectRefused("GET /echo HTTP/1.1\r\nX: y\r\n\r\n", 400);  // no Host
  ExpectRefused("GET /echo HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n", 400);

  RawConn c(server_.port());
  std::string clean = value;
  clean[100] = '\t';
  clean[200] = '\x80';
  ASSERT_TRUE(c.Send(head + clean + "\r\n\r\n" + head + clean + "\r\n\r\n"));
  for (int i = 0; i < 2; ++i) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "len=0");
  }
}

TEST_F(SmugglingTest, BadChunkSizes) {
  const std::string head = "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  ExpectRefused(head + "zz\r\nabc\r\n0\r\n\r\n", 400);
  ExpectRefused(head + "-3\r\nabc\r\n0\r\n\r\n", 400);
  ExpectRefused(head + "0x3\r\nabc\r\n0\r\n\r\n", 400);
  ExpectRefused(head + "fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400);
  ExpectRefused(head + "3\r\nabcdef\r\n0\r\n\r\n", 400);  // data longer than its size
  ExpectRefused(head + "3\nabc\n0\n\n", 400);             // bare LF in the chunk framing
  ExpectRefused(head + " 3\r\nabc\r\n0\r\n\r\n", 400);
}

}  // namespace
}  // namespace skiff::http
