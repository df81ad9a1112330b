// Shared protocol pieces: the JSON request parser and its NaN/Infinity policy, the KServe error
// mapping, and the number/UTF-8/FP16 helpers both codecs write with.
#include "serving/protocol.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "serving/protocol_json.hpp"

namespace skiff::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ProtocolJsonParse, StrictJsonParses) {
  auto v = ParseRequestJson(R"({"a": [1, 2.5, "x", null, true]})");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(Serialize(*v), R"({"a":[1,2.5,"x",null,true]})");
}

TEST(ProtocolJsonParse, AcceptsPythonNanAndInfinityTokens) {
  auto v = ParseRequestJson("[NaN, Infinity, -Infinity, 0, -0, [NaN]]");
  ASSERT_TRUE(v) << v.error();
  const json::array& a = v->as_array();
  ASSERT_EQ(a.size(), 6u);
  ASSERT_TRUE(a[0].is_double());
  EXPECT_TRUE(std::isnan(a[0].get_double()));
  EXPECT_EQ(a[1].get_double(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(a[2].get_double(), -std::numeric_limits<double>::infinity());
  // The zeros the tokens were rewritten to do not leak into real zeros next to them.
  ASSERT_TRUE(a[3].is_int64());
  EXPECT_EQ(a[3].get_int64(), 0);
  ASSERT_TRUE(a[4].is_int64());
  EXPECT_TRUE(std::isnan(a[5].as_array()[0].get_double()));
}

TEST(ProtocolJsonParse, TokensInsideStringsAndKeysStayText) {
  auto v = ParseRequestJson(R"({"NaN": "NaN, Infinity \" -Infinity", "v":NaN})");
  ASSERT_TRUE(v) << v.error();
  const json::object& o = v->as_object();
  EXPECT_EQ(o.at("NaN").as_string(), "NaN, Infinity \" -Infinity");
  EXPECT_TRUE(std::isnan(o.at("v").as_double()));
}

TEST(ProtocolJsonParse, OtherSpellingsAreErrors) {
  for (const char* text : {"[nan]", "[inf]", "[+Infinity]", "[NaNa]", "[1NaN]", "[-NaN]",
                           "[Infinityx]", "[NaN", "{\"a\": NaN,}"}) {
    auto v = ParseRequestJson(text);
    ASSERT_FALSE(v) << text;
    EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(v.error().message(), StartsWith("Unrecognized request format: invalid JSON at"))
        << text;
  }
}

TEST(ProtocolJsonParse, MalformedJsonKeepsKfservingTextAndPosition) {
  auto v = ParseRequestJson("{\"instances\": [[1, 2],\n  [3, }");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), StartsWith("Unrecognized request format: "));
  EXPECT_THAT(v.error().message(), HasSubstr("line 2 column 7"));
  // With a NaN token before the error, the position is still that of the error.
  auto w = ParseRequestJson("[NaN,\n  }");
  ASSERT_FALSE(w);
  EXPECT_THAT(w.error().message(), HasSubstr("line 2 column 3"));
  EXPECT_FALSE(ParseRequestJson(""));
  EXPECT_FALSE(ParseRequestJson("[1] [2]"));
}

TEST(ProtocolErrors, MapsStatusesAsKserveDoes) {
  struct Case {
    Status status;
    int http;
    std::string body;
    bool retry_after;
  };
  const Case cases[] = {
      {InvalidArgument("bad shape"), 400, R"({"error":"bad shape"})", false},
      {Invalid("bad field"), 400, R"({"error":"bad field"})", false},
      {FailedPrecondition("no"), 400, R"({"error":"no"})", false},
      {ModelNotFound("iris"), 404, R"({"error":"Model with name iris does not exist."})", false},
      {TooLarge("body too big"), 413, R"({"error":"body too big"})", false},
      {ModelNotReady("iris"), 503, R"({"error":"Model with name iris is not ready."})", true},
      {ResourceExhausted("queue full"), 503, R"({"error":"queue full"})", true},
      {Unavailable("worker died"), 503, R"({"error":"worker died"})", true},
      {DeadlineExceeded("slow"), 504, R"({"error":"slow"})", false},
      {Unimplemented("explain"), 501, R"({"error":"explain"})", false},
      {Cancelled("gone"), 499, R"({"error":"gone"})", false},
      {PermissionDenied("denied"), 403, R"({"error":"denied"})", false},
      {Unauthenticated("who"), 401, R"({"error":"who"})", false},
      {Internal("/secret/path leaked"), 500, R"({"error":"internal error"})", false},
      {Status(Code::kUnknown, "x"), 500, R"({"error":"internal error"})", false},
      {Status(Code::kDataLoss, "x"), 500, R"({"error":"internal error"})", false},
      {InvalidArgument("quote \" and\nnewline"), 400, R"({"error":"quote \" and\nnewline"})",
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    EXPECT_EQ(ProtocolHttpStatus(c.status), c.http);
    http::Response r = ProtocolErrorResponse(c.status, 2);
    EXPECT_EQ(r.status, c.http);
    EXPECT_EQ(r.body, c.body);
    EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
    if (c.retry_after) {
      EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "2");
    } else {
      EXPECT_FALSE(r.headers.Has("Retry-After"));
    }
  }
  EXPECT_EQ(ProtocolHttpStatus(Status::Ok()), 200);
}

TEST(ProtocolErrors, EmptyMessageFallsBackToCodeName) {
  http::Response r = ProtocolErrorResponse(Status(Code::kInvalidArgument, ""));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("INVALID_ARGUMENT"));
}

TEST(ProtocolHalf, KnownValues) {
  using protocol_json::DoubleToHalf;
  EXPECT_EQ(DoubleToHalf(0.0), 0x0000);
  EXPECT_EQ(DoubleToHalf(-0.0), 0x8000);
  EXPECT_EQ(DoubleToHalf(1.0), 0x3c00);
  EXPECT_EQ(DoubleToHalf(-2.0), 0xc000);
  EXPECT_EQ(DoubleToHalf(1.5), 0x3e00);
  EXPECT_EQ(DoubleToHalf(0.1), 0x2e66);
  EXPECT_EQ(DoubleToHalf(1.0 / 3), 0x3555);
  EXPECT_EQ(DoubleToHalf(65504.0), 0x7bff);
  EXPECT_EQ(DoubleToHalf(65519.0), 0x7bff);  // rounds down to the largest half
  EXPECT_EQ(DoubleToHalf(65520.0), 0x7c00);  // the tie rounds to even: infinity
  EXPECT_EQ(DoubleToHalf(1e10), 0x7c00);
  EXPECT_EQ(DoubleToHalf(std::ldexp(1.0, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(DoubleToHalf(std::ldexp(1.0, -25)), 0x0000);     // tie to even: zero
  EXPECT_EQ(DoubleToHalf(std::ldexp(1.5, -25)), 0x0001);     // above the tie
  EXPECT_EQ(DoubleToHalf(std::ldexp(1023.0, -24)), 0x03ff);  // largest subnormal
  EXPECT_EQ(DoubleToHalf(std::ldexp(2047.0, -25)), 0x0400);  // rounds up into normals
  EXPECT_EQ(DoubleToHalf(1e-300), 0x0000);
  EXPECT_EQ(DoubleToHalf(std::numeric_limits<double>::infinity()), 0x7c00);
  EXPECT_EQ(DoubleToHalf(-std::numeric_limits<double>::infinity()), 0xfc00);
  EXPECT_EQ(DoubleToHalf(std::numeric_limits<double>::quiet_NaN()) & 0x7e00, 0x7e00);
  EXPECT_EQ(DoubleToHalf(1.0 + std::ldexp(1.0, -11)), 0x3c00);      // tie: even mantissa stays
  EXPECT_EQ(DoubleToHalf(1.0 + 3 * std::ldexp(1.0, -11)), 0x3c02);  // tie: odd rounds up
}

TEST(ProtocolHalf, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const double d = protocol_json::HalfToDouble(static_cast<uint16_t>(h));
    if (std::isnan(d)) continue;
    ASSERT_EQ(protocol_json::DoubleToHalf(d), h) << std::hex << h;
  }
}

TEST(ProtocolNumbers, DoublesMatchCoreFormatting) {
  for (double d : {0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3, 6.8, 1e20, 1e21, 123456789012345678.0, 1e-6,
                   9.99e-7, 1e-7, 5e-324, 1.7976931348623157e308, -2.5e-10}) {
    std::string out;
    protocol_json::AppendDouble(out, d);
    EXPECT_EQ(out, FormatJsonNumber(d)) << d;
    // Round-trip precision: reading the text back gives the same double.
    EXPECT_EQ(std::strtod(out.c_str(), nullptr), d) << out;
  }
  std::string nan;
  protocol_json::AppendDouble(nan, std::numeric_limits<double>::quiet_NaN());
  protocol_json::AppendDouble(nan, std::numeric_limits<double>::infinity());
  EXPECT_EQ(nan, "nullnull");
}

TEST(ProtocolNumbers, FloatsUseShortestFloatDigits) {
  std::string out;
  protocol_json::AppendFloat(out, 0.1f);
  EXPECT_EQ(out, "0.1");
  out.clear();
  protocol_json::AppendFloat(out, 3.4028234663852886e+38f);
  EXPECT_EQ(out, "3.4028235e+38");
  out.clear();
  protocol_json::AppendFloat(out, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(out, "null");
}

TEST(ProtocolUtf8, Validation) {
  using protocol_json::IsValidUtf8;
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("a\x80z"));
}

TEST(ProtocolStrings, Escaping) {
  std::string out;
  protocol_json::AppendString(out, std::string("a\"b\\c\n\x01\t", 9));
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001\t\u0000")");  // the NUL too
}

}  // namespace
}  // namespace skiff::serving
