#include "core/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

namespace skiff {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes like Go's encoding/base64: '\r' and '\n' are ignored; padding, when present, must be
// complete and only at the end. The standard alphabet requires padding (StdEncoding, as
// Kubernetes Secret data); the URL alphabet accepts it with or without (RawURLEncoding for JWTs,
// URLEncoding otherwise).
Result<std::string> Decode(std::string_view text, bool url) {
  std::string in;
  in.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n') in += c;
  }
  size_t data_len = in.size();
  while (data_len > 0 && in[data_len - 1] == '=') --data_len;
  const size_t pad = in.size() - data_len;
  if (pad > 2) return InvalidArgument("invalid base64: too much padding");
  if (pad > 0 || !url) {
    if (in.size() % 4 != 0) return InvalidArgument("invalid base64: length is not a multiple of 4");
    if (pad > 0 && (data_len + pad) % 4 != 0) return InvalidArgument("invalid base64 padding");
  }
  if (data_len % 4 == 1) return InvalidArgument("invalid base64 length");
  // A padded final quantum must hold exactly the bytes its padding says.
  if (pad > 0 && 4 - pad != data_len % 4) return InvalidArgument("invalid base64 padding");
  std::string out;
  out.reserve(data_len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; ++i) {
    const char c = in[i];
    uint32_t v;
    if (c >= 'A' && c <= 'Z') {
      v = static_cast<uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      v = static_cast<uint32_t>(c - 'a' + 26);
    } else if (c >= '0' && c <= '9') {
      v = static_cast<uint32_t>(c - '0' + 52);
    } else if (c == (url ? '-' : '+')) {
      v = 62;
    } else if (c == (url ? '_' : '/')) {
      v = 63;
    } else {
      return InvalidArgument("invalid base64 character at offset " + std::to_string(i));
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  // RAND_bytes takes an int length; fill in chunks that fit.
  constexpr size_t kChunk = size_t{1} << 30;
  for (size_t off = 0; off < n; off += kChunk) {
    const int len = static_cast<int>(std::min(kChunk, n - off));
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + off), len) != 1) {
      CheckFailed("RAND_bytes", __FILE__, __LINE__);
    }
  }
  return out;
}

std::string NewUid() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string RandomToken(size_t bytes) { return Base64UrlEncode(RandomBytes(bytes)); }

std::array<uint8_t, 32> Sha256Digest(std::string_view data) {
  // Fetched once: EVP_sha256() is looked up in the provider store (under its lock) on every
  // use, and every request with a session cookie hashes it.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  SKIFF_CHECK(sha256 != nullptr);
  // One context per thread, reused: EVP_Digest would allocate and free one (and its provider
  // state) for every digest.
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                            &EVP_MD_CTX_free);
  SKIFF_CHECK(ctx != nullptr);
  std::array<uint8_t, 32> d{};
  unsigned int len = 0;
  SKIFF_CHECK(EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) == 1 &&
              EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
              EVP_DigestFinal_ex(ctx.get(), d.data(), &len) == 1 && len == d.size());
  return d;
}

std::string Sha256(std::string_view data) {
  const std::array<uint8_t, 32> md = Sha256Digest(data);
  return std::string(reinterpret_cast<const char*>(md.data()), md.size());
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) { return Encode(bytes, kB64Url, false); }
Result<std::string> Base64UrlDecode(std::string_view text) { return Decode(text, true); }
std::string Base64Encode(std::string_view bytes) { return Encode(bytes, kB64, true); }
Result<std::string> Base64Decode(std::string_view text) { return Decode(text, false); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Eight bytes at a time (CRYPTO_memcmp goes one byte per iteration: ~5k instructions for a
  // 700-byte JWT), the differences OR-ed together with no branch on the data. The empty asm
  // hides `diff` from the optimizer, so it cannot stop early once a difference is seen.
  const size_t whole = a.size() / 8 * 8;
  uint64_t diff = 0;
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
    __asm__("" : "+r"(diff));
  }
  for (size_t i = whole; i < a.size(); ++i) {
    diff |= static_cast<uint8_t>(a[i] ^ b[i]);
    __asm__("" : "+r"(diff));
  }
  return diff == 0;
}

namespace {

constexpr uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
  void Absorb(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

uint64_t LoadWord(const unsigned char* p) {
  uint64_t m;
  std::memcpy(&m, p, 8);
  if constexpr (std::endian::native == std::endian::big) m = __builtin_bswap64(m);
  return m;
}

uint64_t LoadTail(const unsigned char* p, size_t n) {  // n < 8
  uint64_t m = 0;
  for (size_t i = 0; i < n; ++i) m |= static_cast<uint64_t>(p[i]) << (8 * i);
  return m;
}

}  // namespace

uint64_t SipHash24(const std::array<uint64_t, 2>& key, std::string_view data) {
  SipState s{key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
             key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t whole = data.size() / 8 * 8;
  for (size_t i = 0; i < whole; i += 8) s.Absorb(LoadWord(p + i));
  s.Absorb(LoadTail(p + whole, data.size() - whole) |
           (static_cast<uint64_t>(data.size() & 0xff) << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t ProcessKeyedHash(std::string_view data) {
  static const std::array<uint64_t, 2> kKey = [] {
    std::array<uint64_t, 2> k{};
    const std::string bytes = RandomBytes(sizeof(k));
    std::memcpy(k.data(), bytes.data(), sizeof(k));
    return k;
  }();
  return SipHash24(kKey, data);
}

}  // namespace skiff
