// The lean head parser (head_parser.hpp): what it accepts and declines, and, against Beast's own
// parser on many mutated heads, that whatever it accepts Beast parses the same way (so that
// declining is its only way to differ).

#include "http/head_parser.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <random>
#include <string>
#include <vector>

namespace skiff::http::internal {
namespace {

namespace bhttp = boost::beast::http;

constexpr size_t kLimit = 8192;

std::vector<std::pair<std::string, std::string>> Fields(const HeaderMap& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : h) out.emplace_back(name, value);
  return out;
}

// Whether the lean parser accepts `data` as a request (or a response) head.
bool Accepts(bool request, std::string_view data) {
  ParsedHead head;
  HeaderMap headers;
  return request ? ParseRequestHead(data, kLimit, head, headers)
                 : ParseResponseHead(data, kLimit, head, headers);
}

const std::string kRequest =
    "GET /bench/hello.txt?a=1 HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\r\n"
    "X-Empty:\r\n"
    "X-Padded: \t spaced value \t \r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 1025\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

TEST(HeadParserTest, ParsesTheUsualRequest) {
  ParsedHead head;
  HeaderMap headers;
  const std::string data = kRequest + "GET /next";  // a pipelined request stays unread
  ASSERT_TRUE(ParseRequestHead(data, kLimit, head, headers));
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/bench/hello.txt?a=1");
  EXPECT_EQ(head.version, 11);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.size, kRequest.size());
  EXPECT_FALSE(head.content_length);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"Host", "127.0.0.1:8080"},
      {"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
      {"X-Empty", ""},
      {"X-Padded", "spaced value"},
      {"Connection", "keep-alive"}};
  EXPECT_EQ(Fields(headers), want);
}

TEST(HeadParserTest, KeepAliveFollowsTheVersionAndConnectionTokens) {
  struct Case {
    std::string version, connection;
    bool keep_alive;
  };
  for (const Case& c : std::vector<Case>{{"1.1", "", true},
                                         {"1.1", "Connection: close\r\n", false},
                                         {"1.1", "Connection: Upgrade, CLOSE\r\n", false},
                                         {"1.1", "Proxy-Connection: close\r\n", false},
                                         {"1.0", "", false},
                                         {"1.0", "Connection: Keep-Alive\r\n", true},
                                         {"1.0", "Connection: te ,keep-alive\r\n", true}}) {
    ParsedHead head;
    HeaderMap headers;
    const std::string data = "GET / HTTP/" + c.version + "\r\nHost: h\r\n" + c.connection + "\r\n";
    ASSERT_TRUE(ParseRequestHead(data, kLimit, head, headers)) << data;
    EXPECT_EQ(head.keep_alive, c.keep_alive) << data;
    EXPECT_EQ(head.version, c.version == "1.1" ? 11 : 10);
  }
}

TEST(HeadParserTest, ParsesTheUsualResponse) {
  ParsedHead head;
  HeaderMap headers;
  ASSERT_TRUE(ParseResponseHead(kResponse + std::string(1025, 'x'), kLimit, head, headers));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, std::optional<uint64_t>(1025));
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.size, kResponse.size());
  EXPECT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers.Get("content-length"), std::optional<std::string_view>("1025"));
}

// Every strict prefix of a head is incomplete: declined, for Beast to read on.
TEST(HeadParserTest, DeclinesIncompleteHeads) {
  for (const std::string& whole : {kRequest, kResponse}) {
    for (size_t n = 0; n < whole.size(); ++n) {
      EXPECT_FALSE(Accepts(whole == kRequest, std::string_view(whole.data(), n))) << n;
    }
  }
}

TEST(HeadParserTest, DeclinesAHeadOverTheLimit) {
  ParsedHead head;
  HeaderMap headers;
  EXPECT_TRUE(ParseRequestHead(kRequest, kRequest.size(), head, headers));
  headers.clear();
  EXPECT_FALSE(ParseRequestHead(kRequest, kRequest.size() - 1, head, headers));
}

// Framing and smuggling material is never the lean parser's: bodies, ambiguous line ends,
// folded lines, whitespace before a colon, control bytes, malformed start lines.
TEST(HeadParserTest, DeclinesWhatBeastMustJudge) {
  const std::vector<std::string> requests = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: identity\r\n\r\n",
      "GET / HTTP/1.1\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n\n",
      "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
      "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
      "GET / HTTP/1.1\r\n: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHo(st: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost h\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: close,\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: a b\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: \"close\"\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
      "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
      "GET / http/1.1\r\nHost: h\r\n\r\n",
      "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
      "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
      " GET / HTTP/1.1\r\nHost: h\r\n\r\n",
  };
  for (const auto& r : requests) EXPECT_FALSE(Accepts(true, r)) << r;
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789012\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 200\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "HTTP/1.1 200 OK\n\r\n",
      "HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n",
  };
  for (const auto& r : responses) EXPECT_FALSE(Accepts(false, r)) << r;
}

// Every byte value in a field value, at the start, middle and end of a long one (the vectorised
// scan's lanes and its tail): visible ASCII, obs-text, SP and HTAB are kept; any other control
// byte and DEL are declined.
TEST(HeadParserTest, FieldValueBytesAreCheckedInEveryPosition) {
  const std::string long_value(700, 'a');
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = (b >= 0x20 && b != 0x7f) || b == '\t';
    for (size_t at : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{350},
                      size_t{698}, size_t{699}}) {
      std::string value = long_value;
      value[at] = c;
      const std::string data = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
      ParsedHead head;
      HeaderMap headers;
      const bool ok = ParseRequestHead(data, kLimit, head, headers);
      EXPECT_EQ(ok, allowed) << "byte " << b << " at " << at;
      if (ok && b != ' ' && b != '\t') {
        EXPECT_EQ(headers.Get("X"), std::optional<std::string_view>(value));
      }
    }
  }
}

// Field names are scanned sixteen bytes at a time while they hold letters, digits and '-': every
// byte value at every position of names of 1 to 40 bytes is taken or declined as the token table
// says (a name must be all tchar, then ':').
TEST(HeadParserTest, FieldNameBytesAreCheckedInEveryPosition) {
  auto is_tchar = [](int b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(b)) != std::string_view::npos;
  };
  for (size_t len = 1; len <= 40; ++len) {
    std::string base;
    for (size_t k = 0; k < len; ++k) base += "aZ9-"[k % 4];
    for (int b = 0; b < 256; ++b) {
      for (size_t at : {size_t{0}, len / 2, len - 1}) {
        std::string name = base;
        name[at] = static_cast<char>(b);
        const std::string data = "GET / HTTP/1.1\r\nHost: h\r\n" + name +
                                 ": v\r\nX-After: " + std::string(40, 'x') + "\r\n\r\n";
        ParsedHead head;
        HeaderMap headers;
        const bool ok = ParseRequestHead(data, kLimit, head, headers);
        // A ':' ends the name early: then the rest of it (and ": v") is the value, when it is a
        // name at all.
        const bool want = b == ':' ? at > 0 : is_tchar(b);
        EXPECT_EQ(ok, want) << "byte " << b << " at " << at << " of " << len;
        if (ok && b != ':') {
          EXPECT_EQ(headers.Get(name), std::optional<std::string_view>("v")) << b << " " << at;
          EXPECT_EQ(headers.size(), 3u);
        }
      }
    }
  }
}

TEST(HeadParserTest, SkipFieldTextFindsTheFirstControlByteOrDel) {
  for (size_t n = 0; n < 48; ++n) {
    std::string s(n, 'v');
    EXPECT_EQ(SkipFieldText(s, 0), n);
    for (size_t at = 0; at < n; ++at) {
      for (char bad : {'\0', '\t', '\r', '\n', '\x1f', '\x7f'}) {
        std::string t = s;
        t[at] = bad;
        EXPECT_EQ(SkipFieldText(t, 0), at) << n << " " << at;
        EXPECT_EQ(SkipFieldText(t, at + 1), n) << n << " " << at;
      }
      std::string t = s;
      t[at] = static_cast<char>(0x80);
      EXPECT_EQ(SkipFieldText(t, 0), n);
    }
  }
}

// What Beast makes of a head: the fields (in order), version, status, keep-alive and
// Content-Length, or nullopt when it refuses the head or does not see it complete.
struct BeastHead {
  std::vector<std::pair<std::string, std::string>> fields;
  int version = 0, status = 0;
  bool keep_alive = false;
  std::optional<uint64_t> content_length;
  std::string method, target;
  size_t size = 0;
};

template <bool isRequest>
std::optional<BeastHead> ParseWithBeast(std::string_view data) {
  bhttp::parser<isRequest, bhttp::empty_body> p;
  p.header_limit(kLimit);
  p.eager(false);
  boost::system::error_code ec;
  size_t used = 0;
  while (!p.is_header_done()) {
    size_t n = p.put(boost::asio::const_buffer(data.data() + used, data.size() - used), ec);
    used += n;
    if (ec || n == 0) return std::nullopt;
  }
  BeastHead out;
  const auto& m = p.get();
  for (const auto& f : m) out.fields.emplace_back(f.name_string(), f.value());
  out.version = m.version();
  out.keep_alive = p.keep_alive();
  if (auto cl = p.content_length()) out.content_length = *cl;
  if constexpr (isRequest) {
    out.method = m.method_string();
    out.target = m.target();
  } else {
    out.status = m.result_int();
  }
  out.size = used;
  return out;
}

// Heads mutated at random (bytes replaced, inserted or removed, from a set that reaches the
// parser's edge cases): whenever the lean parser accepts one, Beast accepts it too and parses it
// the same way.
TEST(HeadParserTest, WhatItAcceptsBeastParsesTheSameWay) {
  const std::string interesting = std::string("\r\n\t :,;\"\x7f\x80\xff\x01") + '\0' + "aZ0-";
  std::mt19937_64 rng(20261129);
  int accepted = 0;
  for (int round = 0; round < 40000; ++round) {
    const bool request = round % 2 == 0;
    std::string s = request ? kRequest : kResponse;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      const char c = interesting[rng() % interesting.size()];
      switch (rng() % 3) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          s.erase(at, 1);
          break;
      }
    }
    ParsedHead head;
    HeaderMap headers;
    const bool lean = request ? ParseRequestHead(s, kLimit, head, headers)
                              : ParseResponseHead(s, kLimit, head, headers);
    if (!lean) continue;
    ++accepted;
    auto beast = request ? ParseWithBeast<true>(s) : ParseWithBeast<false>(s);
    ASSERT_TRUE(beast) << "Beast refuses what the lean parser accepted:\n" << s;
    EXPECT_EQ(Fields(headers), beast->fields) << s;
    EXPECT_EQ(head.version, beast->version) << s;
    EXPECT_EQ(head.keep_alive, beast->keep_alive) << s;
    EXPECT_EQ(head.size, beast->size) << s;
    if (request) {
      EXPECT_EQ(head.method, beast->method) << s;
      EXPECT_EQ(head.target, beast->target) << s;
    } else {
      EXPECT_EQ(head.status, beast->status) << s;
      EXPECT_EQ(head.content_length, beast->content_length) << s;
    }
  }
  // The mutations must leave enough accepted heads for the comparison to mean something.
  EXPECT_GT(accepted, 2000);
}

}  // namespace
}  // namespace skiff::http::internal
