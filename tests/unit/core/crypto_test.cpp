#include "core/crypto.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <regex>
#include <set>
#include <string>

namespace skiff {
namespace {

// RFC 4648 section 10.
struct Vector {
  std::string plain, b64;
};
const Vector kRfc4648[] = {{"", ""},
                           {"f", "Zg=="},
                           {"fo", "Zm8="},
                           {"foo", "Zm9v"},
                           {"foob", "Zm9vYg=="},
                           {"fooba", "Zm9vYmE="},
                           {"foobar", "Zm9vYmFy"}};

TEST(Base64Test, Rfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(Base64Encode(v.plain), v.b64) << v.plain;
    auto d = Base64Decode(v.b64);
    ASSERT_TRUE(d) << v.b64;
    EXPECT_EQ(*d, v.plain);
  }
}

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  for (const auto& v : kRfc4648) {
    std::string unpadded = v.b64.substr(0, v.b64.find('='));
    EXPECT_EQ(Base64UrlEncode(v.plain), unpadded) << v.plain;
    auto d = Base64UrlDecode(unpadded);
    ASSERT_TRUE(d) << unpadded;
    EXPECT_EQ(*d, v.plain);
    // Padded input is accepted too.
    auto padded = Base64UrlDecode(v.b64);
    ASSERT_TRUE(padded) << v.b64;
    EXPECT_EQ(*padded, v.plain);
  }
}

TEST(Base64Test, AlphabetsDiffer) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(*Base64Decode("+/+/"), bytes);
  EXPECT_EQ(*Base64UrlDecode("-_-_"), bytes);
  EXPECT_FALSE(Base64Decode("-_-_"));
  EXPECT_FALSE(Base64UrlDecode("+/+/"));
}

TEST(Base64Test, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string part = all.substr(0, n);
    EXPECT_EQ(*Base64Decode(Base64Encode(part)), part);
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(part)), part);
  }
}

TEST(Base64Test, IgnoresLineBreaks) {
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYmFy\n"), "foobar");
  EXPECT_EQ(*Base64UrlDecode("Zm9v\nYmE"), "fooba");
}

TEST(Base64Test, DecodeErrors) {
  for (const char* bad : {
           "Zg",        // standard decoding requires padding
           "Zg=",       // incomplete padding
           "Zm9vY",     // impossible length
           "Z===",      // too much padding
           "Zg===",     // too much padding
           "Zm9v====",  // padding after a full quantum
           "Zg==Zg==",  // padding in the middle
           "Zm 9v",     // space
           "Zm9v!A==",  // bad character
           "Zm9=v",     // '=' inside
           "\xC3\xA9\xC3\xA9",
       }) {
    auto r = Base64Decode(bad);
    EXPECT_FALSE(r) << "accepted \"" << bad << "\"";
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
  for (const char* bad : {"Zm9vY", "Zg=", "Z===", "Zg==Zg", "a+b", "a/b", "Zm9v.A"}) {
    EXPECT_FALSE(Base64UrlDecode(bad)) << "accepted \"" << bad << "\"";
  }
}

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  EXPECT_EQ(HexEncode(Sha256(std::string("\0", 1))),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
}

TEST(HexTest, Encode) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xff", 5)), "00017f80ff");
}

TEST(RandomTest, BytesLengthAndVariety) {
  EXPECT_EQ(RandomBytes(0), "");
  EXPECT_EQ(RandomBytes(1).size(), 1u);
  EXPECT_EQ(RandomBytes(1000).size(), 1000u);
  EXPECT_NE(RandomBytes(32), RandomBytes(32));
  // 4096 random bytes use (almost) every byte value; a broken generator (zeros) would not.
  std::set<unsigned char> seen;
  for (unsigned char c : RandomBytes(4096)) seen.insert(c);
  EXPECT_GT(seen.size(), 200u);
}

TEST(UidTest, FormatIsRfc4122Version4) {
  const std::regex pattern("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 200; ++i) {
    std::string uid = NewUid();
    ASSERT_EQ(uid.size(), 36u);
    EXPECT_TRUE(std::regex_match(uid, pattern)) << uid;
  }
}

TEST(UidTest, Unique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(NewUid());
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(TokenTest, LengthAndCharset) {
  const std::regex url_safe("^[A-Za-z0-9_-]+$");
  std::string t = RandomToken();
  EXPECT_EQ(t.size(), 43u);  // 32 bytes, base64url without padding
  EXPECT_TRUE(std::regex_match(t, url_safe)) << t;
  EXPECT_EQ(Base64UrlDecode(t)->size(), 32u);
  EXPECT_EQ(RandomToken(16).size(), 22u);
  EXPECT_EQ(RandomToken(3).size(), 4u);
  EXPECT_EQ(RandomToken(1).size(), 2u);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string tok = RandomToken(16);
    EXPECT_TRUE(std::regex_match(tok, url_safe)) << tok;
    seen.insert(tok);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "Secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ConstantTimeEqualsTest, EveryByteOfEveryLengthCounts) {
  // Lengths across the eight-byte words and the tail; one bit flipped at each position (each
  // bit in turn), compared from unaligned starts.
  for (size_t n = 0; n <= 41; ++n) {
    std::string a(n + 3, '\0');
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>('!' + (i * 7) % 90);
    const std::string_view va = std::string_view(a).substr(3);
    const std::string b(va);
    EXPECT_TRUE(ConstantTimeEquals(va, b)) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string c = b;
      c[i] = static_cast<char>(c[i] ^ (1 << (i % 8)));
      EXPECT_FALSE(ConstantTimeEquals(va, c)) << n << " " << i;
      EXPECT_FALSE(ConstantTimeEquals(c, va)) << n << " " << i;
    }
  }
}

TEST(SipHashTest, ReferenceVectors) {
  // The SipHash paper's key 00 01 .. 0f and messages 00 01 .. (n-1) (reference vectors.h, read
  // as little-endian words; the 15-byte one is the paper's worked example).
  const std::array<uint64_t, 2> key = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  std::string msg;
  for (int n = 0; n < 16; ++n) msg += static_cast<char>(n);
  EXPECT_EQ(SipHash24(key, std::string_view(msg).substr(0, 0)), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(SipHash24(key, std::string_view(msg).substr(0, 1)), 0x74f839c593dc67fdULL);
  EXPECT_EQ(SipHash24(key, std::string_view(msg).substr(0, 7)), 0xab0200f58b01d137ULL);
  EXPECT_EQ(SipHash24(key, std::string_view(msg).substr(0, 8)), 0x93f5f5799a932462ULL);
  EXPECT_EQ(SipHash24(key, std::string_view(msg).substr(0, 15)), 0xa129ca6149be45e5ULL);
}

TEST(SipHashTest, ProcessKeyedHashDependsOnEveryByte) {
  EXPECT_EQ(ProcessKeyedHash("abc"), ProcessKeyedHash("abc"));
  std::set<uint64_t> seen;
  std::string data(40, 'a');
  seen.insert(ProcessKeyedHash(data));
  for (size_t i = 0; i < data.size(); ++i) {
    std::string changed = data;
    changed[i] = 'b';
    seen.insert(ProcessKeyedHash(changed));
  }
  seen.insert(ProcessKeyedHash(std::string_view(data).substr(0, 39)));
  EXPECT_EQ(seen.size(), data.size() + 2);
  // Not the unkeyed function: the key is random, not zero.
  EXPECT_NE(ProcessKeyedHash("abc"), SipHash24({0, 0}, "abc"));
}

}  // namespace
}  // namespace skiff
