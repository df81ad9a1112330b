#include "http/head_parser.hpp"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace skiff::http::internal {

namespace {

// RFC 9110 tchar: what Beast accepts in a method and a field name.
constexpr std::array<bool, 256> kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Beast's request-target characters: anything visible, obs-text included.
bool IsTargetChar(unsigned char c) { return c > 0x20 && c != 0x7f; }

bool IsOws(char c) { return c == ' ' || c == '\t'; }

// Past the letters, digits and '-' from d[i] on (all tchar), sixteen bytes at a time, while
// sixteen bytes remain before n: the usual field name is passed with one or two compares instead
// of a table lookup per byte. Where it stops, the caller's byte-wise loop goes on.
size_t SkipNameChars(const char* d, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i k20 = _mm_set1_epi8(0x20);
  // Signed compares: bytes from 0x80 on are negative, below every bound.
  const __m128i before_a = _mm_set1_epi8('a' - 1), after_z = _mm_set1_epi8('z' + 1);
  const __m128i before_0 = _mm_set1_epi8('0' - 1), after_9 = _mm_set1_epi8('9' + 1);
  const __m128i dash = _mm_set1_epi8('-');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    const __m128i lower = _mm_or_si128(v, k20);  // a letter's lower case, in a-z only for letters
    const __m128i letter =
        _mm_and_si128(_mm_cmpgt_epi8(lower, before_a), _mm_cmplt_epi8(lower, after_z));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, before_0), _mm_cmplt_epi8(v, after_9));
    const int mask =
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(v, dash)));
    if (mask != 0xffff) return i + static_cast<size_t>(__builtin_ctz(~static_cast<unsigned>(mask)));
  }
#endif
  return i;
}

// The end of a field value or reason phrase from `i`: the first control byte other than HTAB,
// or DEL (the caller wants CR there).
size_t SkipText(std::string_view s, size_t i) {
  for (;;) {
    i = SkipFieldText(s, i);
    if (i == s.size() || s[i] != '\t') return i;
    ++i;
  }
}

// A comma-separated list of tokens with OWS around them and no empty element; sets what Beast's
// Connection flags would be. False for anything else.
bool ConnectionTokens(std::string_view v, bool& close, bool& keep_alive) {
  size_t i = 0;
  for (;;) {
    while (i < v.size() && IsOws(v[i])) ++i;
    const size_t start = i;
    while (i < v.size() && kToken[static_cast<unsigned char>(v[i])]) ++i;
    if (i == start) return false;
    const std::string_view token = v.substr(start, i - start);
    if (EqualsIgnoreCase(token, "close")) close = true;
    if (EqualsIgnoreCase(token, "keep-alive")) keep_alive = true;
    while (i < v.size() && IsOws(v[i])) ++i;
    if (i == v.size()) return true;
    if (v[i] != ',') return false;
    ++i;
  }
}

// The fields after the start line, from `i` to the blank line. `request`: a Content-Length is
// declined too.
bool ParseFields(std::string_view data, size_t i, size_t limit, bool request, ParsedHead& head,
                 HeaderMap& headers) {
  bool close = false, keep_alive = false;
  const size_t n = data.size() < limit ? data.size() : limit;
  const char* d = data.data();
  for (;;) {
    if (i + 2 > n) return false;
    if (d[i] == '\r') {
      if (d[i + 1] != '\n') return false;
      head.size = i + 2;
      break;
    }
    // Name: one or more tchar, then ':' (no whitespace before it).
    const size_t name_start = i;
    i = SkipNameChars(d, i, n);
    while (i < n && kToken[static_cast<unsigned char>(d[i])]) ++i;
    if (i == name_start || i >= n || d[i] != ':') return false;
    const std::string_view name(d + name_start, i - name_start);
    ++i;
    while (i < n && IsOws(d[i])) ++i;
    // Value: up to CR, HTAB allowed, any other control byte or DEL declined.
    const size_t value_start = i;
    i = SkipText(std::string_view(d, n), i);
    // CR LF, and the next line must not continue this one (obs-fold).
    if (i + 2 >= n || d[i] != '\r' || d[i + 1] != '\n' || IsOws(d[i + 2])) return false;
    size_t value_end = i;
    while (value_end > value_start && IsOws(d[value_end - 1])) --value_end;
    const std::string_view value(d + value_start, value_end - value_start);
    i += 2;

    switch (name.size()) {
      case 10:
        if (EqualsIgnoreCaseSameSize(name, "connection") &&
            !ConnectionTokens(value, close, keep_alive)) {
          return false;
        }
        break;
      case 14:
        if (EqualsIgnoreCaseSameSize(name, "content-length")) {
          if (request || head.content_length || value.empty() || value.size() > 18) return false;
          uint64_t v = 0;
          for (char c : value) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<uint64_t>(c - '0');
          }
          head.content_length = v;
        }
        break;
      case 16:
        if (EqualsIgnoreCaseSameSize(name, "proxy-connection") &&
            !ConnectionTokens(value, close, keep_alive)) {
          return false;
        }
        break;
      case 17:
        if (EqualsIgnoreCaseSameSize(name, "transfer-encoding")) return false;
        break;
      default:
        break;
    }
    headers.Add(name, value);
  }
  head.keep_alive = head.version >= 11 ? !close : keep_alive;
  return true;
}

// "HTTP/1.0" or "HTTP/1.1" at d[i..i+8).
bool ParseVersion(const char* d, size_t i, int& version) {
  if (std::memcmp(d + i, "HTTP/1.", 7) != 0) return false;
  if (d[i + 7] != '0' && d[i + 7] != '1') return false;
  version = 10 + (d[i + 7] - '0');
  return true;
}

}  // namespace

size_t SkipFieldText(std::string_view s, size_t from) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = from;
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i k7f = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);
    const __m128i del = _mm_cmpeq_epi8(v, k7f);
    const int mask = _mm_movemask_epi8(_mm_or_si128(ctl, del));
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < n; ++i) {
    if (p[i] < 0x20 || p[i] == 0x7f) return i;
  }
  return n;
}

bool ParseRequestHead(std::string_view data, size_t limit, ParsedHead& head, HeaderMap& headers) {
  const size_t n = data.size() < limit ? data.size() : limit;
  const char* d = data.data();
  size_t i = 0;
  while (i < n && kToken[static_cast<unsigned char>(d[i])]) ++i;
  if (i == 0 || i >= n || d[i] != ' ') return false;
  head.method = std::string_view(d, i);
  const size_t target_start = ++i;
  while (i < n && IsTargetChar(static_cast<unsigned char>(d[i]))) ++i;
  if (i == target_start || i >= n || d[i] != ' ') return false;
  head.target = std::string_view(d + target_start, i - target_start);
  ++i;
  if (i + 10 > n || !ParseVersion(d, i, head.version) || d[i + 8] != '\r' || d[i + 9] != '\n') {
    return false;
  }
  head.content_length.reset();
  return ParseFields(data, i + 10, limit, /*request=*/true, head, headers);
}

bool ParseResponseHead(std::string_view data, size_t limit, ParsedHead& head, HeaderMap& headers) {
  const size_t n = data.size() < limit ? data.size() : limit;
  const char* d = data.data();
  // "HTTP/1.x DDD " then the reason phrase.
  if (n < 13 || !ParseVersion(d, 0, head.version) || d[8] != ' ') return false;
  int status = 0;
  for (size_t k = 9; k < 12; ++k) {
    if (d[k] < '0' || d[k] > '9') return false;
    status = status * 10 + (d[k] - '0');
  }
  if (d[12] != ' ') return false;
  head.status = status;
  const size_t i = SkipText(std::string_view(d, n), 13);
  if (i + 2 > n || d[i] != '\r' || d[i + 1] != '\n') return false;
  head.content_length.reset();
  if (!ParseFields(data, i + 2, limit, /*request=*/false, head, headers)) return false;
  // A body without a length runs to the end of the connection (RFC 9112 section 6.3).
  const bool bodiless = status / 100 == 1 || status == 204 || status == 304;
  if (!head.content_length && !bodiless) head.keep_alive = false;
  return true;
}

}  // namespace skiff::http::internal
