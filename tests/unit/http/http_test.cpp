#include "http/http.hpp"

#include <gtest/gtest.h>

#include "http/copy_piece.hpp"

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

// Every entry of `h` in order, as "name: value" lines.
std::string Dump(const HeaderMap& h) {
  std::string out;
  for (const auto& [name, value] : h) {
    out.append(name).append(": ").append(value).append("\n");
  }
  return out;
}

TEST(HeaderMapTest, ManyHeadersKeepOrderAndValuesAcrossGrowth) {
  HeaderMap h;
  std::string want;
  for (int i = 0; i < 300; ++i) {  // far past the first buffer (16 entries, 512 bytes)
    std::string name = "X-Header-" + std::to_string(i);
    std::string value(static_cast<size_t>(i % 40), static_cast<char>('a' + i % 26));
    h.Add(name, value);
    want += name + ": " + value + "\n";
  }
  EXPECT_EQ(h.size(), 300u);
  EXPECT_EQ(Dump(h), want);
  EXPECT_EQ(h.Get("x-header-299"), std::string(299 % 40, static_cast<char>('a' + 299 % 26)));
  EXPECT_EQ(h.Get("X-HEADER-0"), "");
  EXPECT_FALSE(h.Get("X-Header-300"));
}

TEST(HeaderMapTest, LookupIsCaseInsensitiveAndSizeAware) {
  HeaderMap h;
  h.Add("Content-Type", "text/plain");
  h.Add("content-typ", "short");  // a prefix of the name is another name
  h.Add("CONTENT-TYPE", "second");
  EXPECT_EQ(h.Get("cOnTeNt-TyPe"), "text/plain");
  EXPECT_EQ(h.Get("Content-Typ"), "short");
  auto all = h.GetAll("content-type");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "text/plain");
  EXPECT_EQ(all[1], "second");
  EXPECT_TRUE(h.Has("CONTENT-typ"));
  EXPECT_FALSE(h.Has("Content-Types"));
  EXPECT_FALSE(h.Has(""));
}

TEST(HeaderMapTest, SetReplacesFirstInPlaceAndDropsTheOthers) {
  HeaderMap h;
  h.Add("A", "1");
  h.Add("Via", "long value number one");
  h.Add("B", "2");
  h.Add("via", "two");
  h.Add("C", "3");
  h.Set("VIA", "short");  // shorter: written over the first value
  EXPECT_EQ(Dump(h), "A: 1\nVia: short\nB: 2\nC: 3\n");
  EXPECT_GT(h.unused_bytes(), 0u);
  h.Set("via", std::string(100, 'x'));  // longer: appended, the position kept
  EXPECT_EQ(Dump(h), "A: 1\nVia: " + std::string(100, 'x') + "\nB: 2\nC: 3\n");
  h.Set("D", "4");  // absent: added at the end
  EXPECT_EQ(h.Get("d"), "4");
  EXPECT_EQ(h.size(), 5u);
  h.Set("A", "");
  EXPECT_EQ(h.Get("A"), "");
}

TEST(HeaderMapTest, AddAndSetAcceptViewsOfTheSameMap) {
  HeaderMap h;
  h.Add("Host", "example.com:8080");
  for (int i = 0; i < 50; ++i) {  // each Add may grow (and move) the buffer the view is in
    h.Add("X-Copy-" + std::to_string(i), *h.Get("Host"));
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(h.Get("X-Copy-" + std::to_string(i)), "example.com:8080");
  // A longer value made of an existing one, and a value viewing a header Set removes.
  h.Add("X-Dup", "one");
  h.Add("X-Dup", "the second value, longer than the first");
  std::string_view second = h.GetAll("X-Dup")[1];
  h.Set("X-Dup", second);
  EXPECT_EQ(h.GetAll("X-Dup").size(), 1u);
  EXPECT_EQ(h.Get("X-Dup"), "the second value, longer than the first");
  // A value overlapping the one it replaces.
  std::string_view host = *h.Get("Host");
  h.Set("Host", host.substr(0, 11));
  EXPECT_EQ(h.Get("Host"), "example.com");
}

TEST(HeaderMapTest, RemoveAndRemoveIfKeepTheOthersOrder) {
  HeaderMap h;
  for (const char* n : {"Connection", "A", "Keep-Alive", "B", "connection", "C"}) h.Add(n, n);
  h.Remove("CONNECTION");
  EXPECT_EQ(Dump(h), "A: A\nKeep-Alive: Keep-Alive\nB: B\nC: C\n");
  h.RemoveIf([](std::string_view name, std::string_view value) {
    return name == "Keep-Alive" || value == "C";
  });
  EXPECT_EQ(Dump(h), "A: A\nB: B\n");
  h.Remove("missing");
  EXPECT_EQ(h.size(), 2u);
}

TEST(HeaderMapTest, UnusedBytesAreDroppedWhenTheBufferGrows) {
  HeaderMap h;
  for (int round = 0; round < 1000; ++round) {
    h.Set("X-Counter", std::string(static_cast<size_t>(round % 64 + 1), 'v'));
    h.Add("X-Temp", "some temporary value");
    h.Remove("X-Temp");
  }
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.Get("X-Counter"), std::string(999 % 64 + 1, 'v'));
  // Bounded: never more unused bytes than a grown buffer's size allows.
  EXPECT_LT(h.unused_bytes(), 4096u);
}

TEST(HeaderMapTest, CopiesAreIndependentAndMovesLeaveAnEmptyMap) {
  HeaderMap h;
  h.Add("A", "alpha value that is not short");
  h.Add("B", "beta");
  HeaderMap copy = h;
  copy.Set("A", "changed");
  copy.Add("C", "gamma");
  EXPECT_EQ(h.Get("A"), "alpha value that is not short");
  EXPECT_FALSE(h.Has("C"));
  EXPECT_EQ(Dump(copy), "A: changed\nB: beta\nC: gamma\n");

  HeaderMap moved = std::move(copy);
  EXPECT_EQ(moved.size(), 3u);
  EXPECT_EQ(copy.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_FALSE(copy.Has("A"));
  copy.Add("D", "reused after the move");  // a moved-from map is usable
  EXPECT_EQ(Dump(copy), "D: reused after the move\n");
  HeaderMap assigned;
  assigned.Add("Z", "z");
  assigned = std::move(moved);
  EXPECT_EQ(Dump(assigned), "A: changed\nB: beta\nC: gamma\n");
  EXPECT_EQ(moved.size(), 0u);  // NOLINT(bugprone-use-after-move)
  assigned.clear();
  EXPECT_EQ(assigned.size(), 0u);
  EXPECT_EQ(assigned.unused_bytes(), 0u);
  assigned.Add("E", "e");
  EXPECT_EQ(Dump(assigned), "E: e\n");
}

TEST(HeaderMapTest, MapsReusingADestroyedMapsStorageStartEmpty) {
  // Destroyed and overwritten maps give their buffers to the thread's cache; maps that take them
  // must hold only their own entries.
  for (int round = 0; round < 3; ++round) {
    {
      HeaderMap old;
      for (int i = 0; i < 12; ++i) old.Add("X-Old-" + std::to_string(i), "an old value");
      HeaderMap overwritten;
      overwritten.Add("Y", "y");
      overwritten = std::move(old);
      EXPECT_EQ(overwritten.size(), 12u);
    }
    HeaderMap a;
    a.Add("Host", "example.com");
    HeaderMap b;
    b.Add("Accept", "*/*");
    b.Set("Accept", "text/html");
    EXPECT_EQ(Dump(a), "Host: example.com\n");
    EXPECT_EQ(Dump(b), "Accept: text/html\n");
    EXPECT_FALSE(a.Has("X-Old-0"));
    EXPECT_FALSE(b.Has("Y"));
    EXPECT_EQ(a.unused_bytes(), 0u);
  }
}

TEST(HeaderMapTest, MayHoldCrLfFindsACrOrLfInAnyNameOrValue) {
  HeaderMap empty;
  EXPECT_FALSE(empty.MayHoldCrLf());
  // Names and values of every length up to three SSE blocks, the byte at every position, after
  // other entries (so it lies at every offset of the buffer's blocks).
  for (size_t before = 0; before < 3; ++before) {
    for (size_t n = 1; n <= 40; ++n) {
      for (size_t at = 0; at < n; ++at) {
        for (char c : {'\r', '\n'}) {
          for (bool in_name : {false, true}) {
            HeaderMap h;
            for (size_t i = 0; i < before; ++i) h.Add("X-Before", std::string(i + 5, 'b'));
            std::string bad(n, 'a');
            bad[at] = c;
            if (in_name) {
              h.Add(bad, "value");
            } else {
              h.Add("X-Bad", bad);
            }
            h.Add("X-After", "after");
            EXPECT_TRUE(h.MayHoldCrLf()) << before << " " << n << " " << at << " " << in_name;
          }
        }
      }
      HeaderMap clean;
      for (size_t i = 0; i < before; ++i) clean.Add("X-Before", std::string(i + 5, 'b'));
      // Bytes next to CR and LF, and high bytes, are not taken for them.
      clean.Add("X-Clean", std::string(n, '\x0c') + "\x0b\x0e\x09\x8d\x8a\xff");
      EXPECT_FALSE(clean.MayHoldCrLf()) << before << " " << n;
    }
  }
  // Mostly removed bytes (a dropped 700-byte token): the live entries are looked at one by one,
  // and a CR or LF in any of them, at any position, is still found.
  for (size_t at = 0; at < 20; ++at) {
    for (bool in_name : {false, true}) {
      HeaderMap h;
      h.Add("Host", "example.com");
      h.Add("Authorization", "Bearer " + std::string(700, 't') + "\r\n");
      h.Add("X-Forwarded-For", "10.0.0.1");
      h.Remove("Authorization");
      EXPECT_FALSE(h.MayHoldCrLf()) << "the removed entry's CR LF does not count";
      std::string bad(20, 'v');
      bad[at] = '\n';
      if (in_name) {
        h.Add(bad, "x");
      } else {
        h.Add("X-Bad", bad);
      }
      EXPECT_TRUE(h.MayHoldCrLf()) << at << " " << in_name;
    }
  }
  // Set in place over a bad value, then a copy and a move: the bad byte is gone with it.
  HeaderMap h;
  h.Add("A", "x\r\ny");
  h.Set("A", "ok");
  h.clear();
  h.Add("B", "fine");
  EXPECT_FALSE(h.MayHoldCrLf());
  h.Add("C", "bad\n");
  HeaderMap copy = h;
  EXPECT_TRUE(copy.MayHoldCrLf());
  HeaderMap moved = std::move(copy);
  EXPECT_TRUE(moved.MayHoldCrLf());
}

TEST(CopyPieceTest, CopiesEveryLengthExactlyAndNothingAround) {
  std::string src;
  for (int i = 0; i < 80; ++i) src += static_cast<char>('!' + i);
  for (size_t n = 0; n <= 70; ++n) {
    for (size_t at : {0u, 1u, 7u}) {
      std::string dst(90, '.');
      skiff::http::internal::CopyPiece(dst.data() + 5 + at, src.data() + at, n);
      std::string want(90, '.');
      want.replace(5 + at, n, src.substr(at, n));
      EXPECT_EQ(dst, want) << n << " " << at;
    }
  }
}

TEST(HeaderMapTest, IteratorGivesNameAndValue) {
  HeaderMap h;
  h.Add("Name", "Value");
  auto it = h.begin();
  EXPECT_EQ(it->first, "Name");
  EXPECT_EQ((*it).second, "Value");
  ++it;
  EXPECT_TRUE(it == h.end());
  EXPECT_EQ(std::distance(h.begin(), h.end()), 1);
}

// Every pair of byte values, at every position of strings of lengths around the eight-byte
// words the comparison works in, against a byte-by-byte reference.
TEST(EqualsIgnoreCaseTest, AgreesWithTheBytewiseDefinitionForEveryBytePair) {
  auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (size_t n : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 23u}) {
    for (int x = 0; x < 256; ++x) {
      for (int y = 0; y < 256; ++y) {
        const bool want =
            lower(static_cast<unsigned char>(x)) == lower(static_cast<unsigned char>(y));
        for (size_t at : {size_t{0}, n / 2, n - 1}) {
          std::string a(n, 'k'), b(n, 'K');
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          ASSERT_EQ(EqualsIgnoreCase(a, b), want) << n << " " << at << " " << x << " " << y;
        }
      }
    }
  }
}

TEST(EqualsIgnoreCaseTest, Basics) {
  EXPECT_TRUE(EqualsIgnoreCase("Keep-Alive", "keep-alive"));
  EXPECT_FALSE(EqualsIgnoreCase("keep", "keep-alive"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  // Only ASCII letters fold: '@' and '`', '[' and '{' differ by the case bit but are not letters.
  EXPECT_FALSE(EqualsIgnoreCase("a@b", "a`b"));
  EXPECT_FALSE(EqualsIgnoreCase("[x]", "{x}"));
  EXPECT_FALSE(EqualsIgnoreCase("\xc1", "\xe1"));
  EXPECT_TRUE(EqualsIgnoreCase("X-REQUEST-ID", "x-request-id"));
}

TEST(HeaderMapTest, LookupComparesWholeNamesNotJustTheFirstLetter) {
  HeaderMap h;
  h.Add("@a", "1");
  h.Add("Xb", "2");
  h.Add("xa", "3");
  h.Add("", "empty name");
  EXPECT_FALSE(h.Has("`a"));  // same first letter once folded, but not a letter
  EXPECT_EQ(h.Get("XA"), "3");
  EXPECT_EQ(h.Get("xB"), "2");
  EXPECT_EQ(h.Get(""), "empty name");
  EXPECT_FALSE(h.Has("xc"));
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
  // NormalizePathInto agrees, overwriting what `out` held; on error it leaves `out` alone.
  std::string out = "/previous/request/path/that/was/long";
  Status s = NormalizePathInto(c.in, out);
  if (c.out == nullptr) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.in;
    EXPECT_EQ(out, "/previous/request/path/that/was/long");
  } else {
    EXPECT_TRUE(s.ok()) << c.in << ": " << s;
    EXPECT_EQ(out, c.out) << c.in;
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

// The usual path is checked sixteen bytes at a time: every kind of byte or pair NormalizePath
// must act on, at every offset of a long path (the pair across a 16-byte boundary too), and the
// same path without it, which comes back as it was.
TEST(NormalizePathScanTest, EveryOffsetOfALongPath) {
  const std::string base = "/" + std::string(47, 'a');
  struct Insert {
    std::string text;
    const char* becomes;  // nullptr: refused
  };
  const Insert inserts[] = {{"/", "/"},        {"//", "/"},      {"/./", "/"},
                            {"%41", "A"},      {"\\", nullptr},  {std::string(1, '\x01'), nullptr},
                            {"\x7f", nullptr}, {"%2F", nullptr}, {"\t", nullptr}};
  for (size_t at = 2; at < base.size(); ++at) {  // after a letter: "/" + "/" would collapse
    for (const Insert& in : inserts) {
      const std::string raw = base.substr(0, at) + in.text + base.substr(at);
      auto r = NormalizePath(raw);
      std::string out = "/previous";
      Status s = NormalizePathInto(raw, out);
      if (in.becomes == nullptr) {
        EXPECT_FALSE(r) << raw;
        EXPECT_FALSE(s.ok()) << raw;
      } else {
        const std::string want = base.substr(0, at) + in.becomes + base.substr(at);
        ASSERT_TRUE(r) << raw << ": " << r.error();
        EXPECT_EQ(*r, want) << raw;
        EXPECT_EQ(out, want) << raw;
      }
    }
  }
  // "/." and "//" at the very end, on a 16-byte boundary and past it.
  for (size_t len : {14u, 15u, 16u, 17u, 31u, 32u, 33u}) {
    const std::string stem = "/" + std::string(len - 1, 'b');
    EXPECT_EQ(NormalizePath(stem + "/."), stem + "/") << len;
    EXPECT_EQ(NormalizePath(stem + "//"), stem + "/") << len;
    EXPECT_EQ(NormalizePath(stem + "/"), stem + "/") << len;
  }
}

}  // namespace
}  // namespace skiff::http
