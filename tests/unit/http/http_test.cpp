#include "http/http.hpp"

#include <gtest/gtest.h>

namespace skiff::http {
namespace {

TEST(HeaderMapTest, CaseInsensitiveGetSetAddRemove) {
  HeaderMap h;
  h.Add("Content-Type", "text/plain");
  h.Add("X-A", "1");
  h.Add("x-a", "2");
  EXPECT_EQ(h.Get("content-type"), "text/plain");
  EXPECT_EQ(h.GetAll("X-a").size(), 2u);
  EXPECT_FALSE(h.Get("missing").has_value());
  h.Set("X-A", "3");
  ASSERT_EQ(h.GetAll("x-a").size(), 1u);
  EXPECT_EQ(h.Get("x-a"), "3");
  EXPECT_EQ(h.begin()->first, "Content-Type");  // order kept
  h.Set("New", "v");
  EXPECT_EQ(h.size(), 3u);
  h.Remove("CONTENT-TYPE");
  EXPECT_FALSE(h.Has("content-type"));
  h.clear();
  EXPECT_EQ(h.size(), 0u);
}

TEST(EqualsIgnoreCaseTest, Basics) {
  EXPECT_TRUE(EqualsIgnoreCase("Keep-Alive", "keep-alive"));
  EXPECT_FALSE(EqualsIgnoreCase("keep", "keep-alive"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
}

TEST(RequestQueryTest, DecodesPlusAndPercent) {
  Request r;
  r.raw_query = "a=x+y&b=x%20y&c&d=&e=%ZZ&e=ok&k%65y=v&a=second";
  EXPECT_EQ(r.Query("a"), "x y");  // first wins
  EXPECT_EQ(r.Query("b"), "x y");
  EXPECT_EQ(r.Query("c"), "");
  EXPECT_EQ(r.Query("d"), "");
  EXPECT_EQ(r.Query("e"), "ok");  // malformed first value skipped
  EXPECT_EQ(r.Query("key"), "v");
  EXPECT_FALSE(r.Query("zzz").has_value());
  Request empty;
  EXPECT_FALSE(empty.Query("a").has_value());
}

TEST(PercentTest, DecodeEncode) {
  EXPECT_EQ(PercentDecode("a%2Fb%41", false), "a/bA");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_FALSE(PercentDecode("%4", false).has_value());
  EXPECT_FALSE(PercentDecode("%", false).has_value());
  EXPECT_FALSE(PercentDecode("%G0", false).has_value());
  EXPECT_EQ(PercentEncode("a b/c~d-e_f.g"), "a%20b%2Fc~d-e_f.g");
  EXPECT_EQ(PercentEncode("\xff"), "%FF");
  EXPECT_EQ(PercentDecode(PercentEncode("x y&z=1/\n"), false), "x y&z=1/\n");
}

TEST(ResponseTest, TextAndJsonSetContentType) {
  auto t = Response::Text(201, "hi");
  EXPECT_EQ(t.status, 201);
  EXPECT_EQ(t.body, "hi");
  EXPECT_EQ(t.headers.Get("content-type"), "text/plain; charset=utf-8");
  auto j = Response::Json(200, "{}");
  EXPECT_EQ(j.headers.Get("Content-Type"), "application/json");
}

struct PathCase {
  const char* in;
  const char* out;  // nullptr: rejected
};

class NormalizePathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(NormalizePathTest, Table) {
  const PathCase& c = GetParam();
  auto r = NormalizePath(c.in);
  if (c.out == nullptr) {
    ASSERT_FALSE(r) << c.in << " -> " << (r ? *r : "");
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_FALSE(r.error().message().empty());
  } else {
    ASSERT_TRUE(r) << c.in << ": " << r.error();
    EXPECT_EQ(*r, c.out) << c.in;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Paths, NormalizePathTest,
    ::testing::Values(
        PathCase{"/", "/"}, PathCase{"/healthz", "/healthz"}, PathCase{"/a/b/", "/a/b/"},
        PathCase{"//a///b", "/a/b"}, PathCase{"/a/./b", "/a/b"}, PathCase{"/a/b/..", "/a/"},
        PathCase{"/a/b/../c", "/a/c"}, PathCase{"/a/.", "/a/"}, PathCase{"/a/%2e%2E/b", "/b"},
        PathCase{"/%61%62c", "/abc"}, PathCase{"/a%20b", "/a b"}, PathCase{"/a+b", "/a+b"},
        PathCase{"/..", nullptr}, PathCase{"/../etc/passwd", nullptr},
        PathCase{"/a/../..", nullptr}, PathCase{"/a/%2e%2e/%2e%2e", nullptr},
        PathCase{"/a%2Fb", nullptr}, PathCase{"/a%2fb", nullptr}, PathCase{"/a%00b", nullptr},
        PathCase{"/a\\b", nullptr}, PathCase{"/a%5Cb", nullptr}, PathCase{"/a%0Ab", nullptr},
        PathCase{"/a%zz", nullptr}, PathCase{"/a%2", nullptr}, PathCase{"", nullptr},
        PathCase{"a/b", nullptr}, PathCase{"*", nullptr}, PathCase{"/public/..;/admin", nullptr},
        PathCase{"/a/.;x/b", nullptr}, PathCase{"/a/%2e%2e;jsessionid=1/b", nullptr},
        PathCase{"/a;v=1/b", "/a;v=1/b"}, PathCase{"/m/x:predict;v", "/m/x:predict;v"}));

}  // namespace
}  // namespace skiff::http
