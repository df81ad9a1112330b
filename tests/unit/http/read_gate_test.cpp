// ReadGate (server_internal.hpp) on a real loopback TCP connection and a one-thread
// io_context: a socket read empty is not read again until epoll reports it readable, and bytes
// that come meanwhile are still read, by the reactor or by the next TryNow.

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/version.hpp>
#include <string>

#include "http/server_internal.hpp"

namespace skiff::http::internal {
namespace {

// Boost 1.81's epoll reactor is the one whose state ReadGate knows (scripts/deps.sh installs it).
// With another, ReadGate does nothing and these tests fail: port it, or the proxy loses a system
// call per request.

class ReadGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(ctx_, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    peer_.connect(acceptor.local_endpoint());
    acceptor.accept(socket_);
  }

  // Sends `bytes` and waits until they (or the end of the stream) can be read from `s`, so that
  // epoll has them to report.
  void Send(const std::string& bytes) {
    net::write(peer_, net::buffer(bytes));
    ASSERT_TRUE(Readable(socket_));
  }
  static bool Readable(tcp::socket& s) {
    pollfd p{s.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 2000) == 1;
  }

  // Runs the io_context until nothing is ready: the reactor's epoll_wait sees what came.
  void Poll() {
    auto work = net::make_work_guard(ctx_);  // else poll() returns at once: nothing pending
    ctx_.restart();
    ctx_.poll();
  }

  // Runs it until `done` or two seconds pass.
  bool RunUntil(const bool& done) {
    ctx_.restart();
    for (int i = 0; i < 200 && !done; ++i) ctx_.run_for(std::chrono::milliseconds(10));
    return done;
  }

  // The read the reactor makes when epoll reports the socket (started without a try, as after
  // a TryNow that read nothing), then gate.Drained: what it read, or "error: ...".
  std::string ReactorRead(const ReadGate& gate) {
    std::string got = "no answer";
    bool done = false;
    socket_.async_read_some(net::buffer(buf_), [&](boost::system::error_code e, size_t k) {
      gate.Drained(socket_, e, k, sizeof buf_);
      got = e ? "error: " + e.message() : std::string(buf_, k);
      done = true;
    });
    RunUntil(done);
    return got;
  }

  net::io_context ctx_{1};
  tcp::socket peer_{ctx_};
  tcp::socket socket_{ctx_};
  char buf_[64];
};

// Reads what the socket holds until a try finds nothing: the gate is then closed.
size_t ReadAllNow(tcp::socket& s, char* buf, size_t size, std::string& got) {
  size_t tries = 0;
  for (;;) {
    ReadGate gate(s);
    size_t n = 0;
    boost::system::error_code ec;
    if (!gate.TryNow(s, net::buffer(buf, size), n, ec)) return tries;
    ++tries;
    if (ec) return tries;
    got.append(buf, n);
  }
}

TEST_F(ReadGateTest, ASocketReadEmptyWaitsForEpollAndMissesNothing) {
  Send("first");
  std::string got;
  // A new socket may hold bytes: read at once, until a try finds nothing.
  ASSERT_GT(ReadAllNow(socket_, buf_, sizeof buf_, got), 0u)
      << "ReadGate is off: Boost " << BOOST_LIB_VERSION;
  EXPECT_EQ(got, "first");

  // Read empty: bytes that come now are left to epoll, not read by TryNow.
  Send("second");
  size_t n = 0;
  boost::system::error_code ec;
  ReadGate gate(socket_);
  EXPECT_FALSE(gate.TryNow(socket_, net::buffer(buf_), n, ec));
  // The reactor reads them when epoll reports them: nothing is lost.
  EXPECT_EQ(ReactorRead(gate), "second");

  // Drained marked it empty again (6 of 64 bytes, no FIN reported); an event seen since opens
  // the gate: TryNow reads at once.
  ReadGate closed(socket_);
  EXPECT_FALSE(closed.TryNow(socket_, net::buffer(buf_), n, ec));
  Send("third");
  Poll();  // epoll reports the bytes; no read is pending
  ReadGate open(socket_);
  ASSERT_TRUE(open.TryNow(socket_, net::buffer(buf_), n, ec));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf_, n), "third");
}

// Bytes and the peer's FIN reported by one epoll event: the read of the bytes does not mark the
// socket empty, or its end would never be seen (no event would come for it again).
TEST_F(ReadGateTest, BytesThatCameWithTheEndOfTheStreamDoNotHideIt) {
  Send("hello");
  std::string got;
  ReadAllNow(socket_, buf_, sizeof buf_, got);  // read empty: the gate is closed
  ASSERT_EQ(got, "hello");
  net::write(peer_, net::buffer(std::string("last")));
  peer_.close();
  ASSERT_TRUE(Readable(socket_));
  // The reactor reads "last"; Drained sees the FIN in epoll's report and leaves the gate open.
  ReadGate gate(socket_);
  size_t n = 0;
  boost::system::error_code ec;
  ASSERT_FALSE(gate.TryNow(socket_, net::buffer(buf_), n, ec));
  EXPECT_EQ(ReactorRead(gate), "last");
  ReadGate after(socket_);
  ASSERT_TRUE(after.TryNow(socket_, net::buffer(buf_), n, ec));
  EXPECT_EQ(ec, net::error::eof);
}

TEST_F(ReadGateTest, AReadThatFillsTheBufferLeavesTheGateOpen) {
  Send(std::string(100, 'x'));
  std::string got;
  // 64 bytes (the gate stays open), 36 bytes, then a try that finds nothing.
  EXPECT_EQ(ReadAllNow(socket_, buf_, sizeof buf_, got), 2u);
  EXPECT_EQ(got, std::string(100, 'x'));
}

TEST_F(ReadGateTest, TheEndOfTheStreamIsReportedWhetherTriedOrWaitedFor) {
  Send("first");
  std::string got;
  ReadAllNow(socket_, buf_, sizeof buf_, got);
  // Read empty; the peer closes: epoll reports it, the waiting read ends with EOF.
  peer_.close();
  ASSERT_TRUE(Readable(socket_));
  size_t n = 0;
  boost::system::error_code ec;
  ReadGate wait(socket_);
  EXPECT_FALSE(wait.TryNow(socket_, net::buffer(buf_), n, ec));
  EXPECT_EQ(ReactorRead(wait), "error: " + make_error_code(net::error::eof).message());
  // An EOF seen by epoll before any read starts: TryNow reads it at once.
  tcp::acceptor acceptor(ctx_, tcp::endpoint(net::ip::address_v4::loopback(), 0));
  tcp::socket other_peer(ctx_), other(ctx_);
  other_peer.connect(acceptor.local_endpoint());
  acceptor.accept(other);
  other_peer.close();
  ASSERT_TRUE(Readable(other));
  Poll();
  ReadGate fresh(other);
  ASSERT_TRUE(fresh.TryNow(other, net::buffer(buf_), n, ec));
  EXPECT_EQ(ec, net::error::eof);
}

}  // namespace
}  // namespace skiff::http::internal
