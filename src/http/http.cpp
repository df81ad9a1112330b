#include "http/http.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/copy_piece.hpp"

namespace skiff::http {

namespace {

// ASCII lower case as a table: header names are compared on every lookup.
constexpr std::array<unsigned char, 256> kLower = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  return t;
}();

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

// Whether two 8-byte words are equal but for the case of ASCII letters: where they differ, only
// in bit 5 (0x20), and there x is a letter. The letter test, without a carry between bytes: the
// byte lower-cased (| 0x20) with its top bit set aside is at least 'a' when adding 0x1f sets the
// top bit, and above 'z' when adding 0x05 does; a byte with its top bit set is no letter.
bool EqualsIgnoreCaseWord(uint64_t x, uint64_t y) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  const uint64_t d = x ^ y;
  if (d == 0) return true;
  if ((d & ~(kOnes * 0x20)) != 0) return false;
  const uint64_t lower = x | (kOnes * 0x20);
  const uint64_t low7 = lower & ~kHighs;
  const uint64_t at_least_a = (low7 + kOnes * 0x1f) & kHighs;
  const uint64_t above_z = (low7 + kOnes * 0x05) & kHighs;
  const uint64_t letter = at_least_a & ~above_z & ~lower;
  return ((d << 2) & ~letter) == 0;  // each differing bit 5, moved to bit 7, on a letter
}

}  // namespace

bool EqualsIgnoreCaseSameSize(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n < 8) {
    const auto* x = reinterpret_cast<const unsigned char*>(a.data());
    const auto* y = reinterpret_cast<const unsigned char*>(b.data());
    for (size_t i = 0; i < n; ++i) {
      if (x[i] != y[i] && kLower[x[i]] != kLower[y[i]]) return false;
    }
    return true;
  }
  // Eight bytes at a time (header names are compared on every lookup), the last word
  // overlapping the one before it.
  auto word = [](const char* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  for (size_t i = 0; i + 8 < n; i += 8) {
    if (!EqualsIgnoreCaseWord(word(a.data() + i), word(b.data() + i))) return false;
  }
  return EqualsIgnoreCaseWord(word(a.data() + n - 8), word(b.data() + n - 8));
}

size_t HeaderMap::Find(std::string_view name, size_t from) const {
  if (name.empty()) {
    for (size_t i = from; i < slots_.size(); ++i) {
      if (slots_[i].name_len == 0) return i;
    }
    return kNone;
  }
  // Names of the same length are told apart by their first letter before a full comparison.
  const unsigned char first = kLower[static_cast<unsigned char>(name.front())];
  for (size_t i = from; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.name_len != name.size() ||
        kLower[static_cast<unsigned char>(text_[s.name_off])] != first) {
      continue;
    }
    if (EqualsIgnoreCaseSameSize(std::string_view(text_.data() + s.name_off, name.size()), name)) {
      return i;
    }
  }
  return kNone;
}

namespace {

// Whether p[0, n) holds a CR or LF, sixteen bytes at a time (the last block overlapping the one
// before it).
bool AnyCrLf(const char* p, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    auto block = [&](size_t at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
      return _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf))) != 0;
    };
    for (; i + 16 <= n; i += 16) {
      if (block(i)) return true;
    }
    return i < n && block(n - 16);
  }
#endif
  for (; i < n; ++i) {
    if (p[i] == '\r' || p[i] == '\n') return true;
  }
  return false;
}

}  // namespace

bool HeaderMap::MayHoldCrLf() const {
  // Every entry's bytes lie in text_[0, used_) (see text_): one pass over them, unless most are
  // removed entries' (a bearer token the proxy dropped: 700 bytes of a JWT), then the entries'
  // only.
  if (dead_ * 2 <= used_) return AnyCrLf(text_.data(), used_);
  // The entries' bytes as runs of adjacent names and values (usually two: before and after the
  // hole), each scanned in one pass.
  const char* base = text_.data();
  size_t run_start = 0, run_end = 0;
  auto take = [&](uint32_t off, uint32_t len) {
    if (off == run_end) {
      run_end += len;
      return false;
    }
    const bool found = AnyCrLf(base + run_start, run_end - run_start);
    run_start = off;
    run_end = static_cast<size_t>(off) + len;
    return found;
  };
  for (const Slot& s : slots_) {
    if (take(s.name_off, s.name_len) || take(s.value_off, s.value_len)) return true;
  }
  return AnyCrLf(base + run_start, run_end - run_start);
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  size_t i = Find(name, 0);
  if (i == kNone) return std::nullopt;
  return value(i);
}

std::vector<std::string_view> HeaderMap::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (size_t i = Find(name, 0); i != kNone; i = Find(name, i + 1)) out.push_back(value(i));
  return out;
}

namespace {

// The per-thread cache of HeaderMap buffers (see HeaderMap, Recycling). Bounded in count and in
// the size of what it keeps: a few hundred KiB per thread at most.
constexpr size_t kCachedMaps = 64;
constexpr size_t kCachedMaxEntries = 64;
constexpr size_t kCachedMaxBytes = 4096;

}  // namespace

struct HeaderMapCache {
  std::vector<std::vector<HeaderMap::Slot>> slots;
  std::vector<std::string> texts;
  ~HeaderMapCache();
};

namespace {
// Trivially destructible, so still readable while (and after) the thread's cache is destroyed:
// maps destroyed then free their buffers as usual.
thread_local bool t_cache_gone = false;
thread_local HeaderMapCache t_cache;
}  // namespace

HeaderMapCache::~HeaderMapCache() { t_cache_gone = true; }

void HeaderMap::Give() noexcept {
  if (t_cache_gone) return;
  HeaderMapCache& c = t_cache;
  if (slots_.capacity() != 0 && slots_.capacity() <= kCachedMaxEntries &&
      c.slots.size() < kCachedMaps) {
    slots_.clear();
    try {
      c.slots.push_back(std::move(slots_));
    } catch (...) {  // the cache's own growth failed: the buffer is freed as usual
    }
  }
  // The text keeps its size (the room a map taking it gets).
  if (text_.size() > kInlineText && text_.size() <= kCachedMaxBytes &&
      c.texts.size() < kCachedMaps) {
    try {
      c.texts.push_back(std::move(text_));
    } catch (...) {
    }
  }
  slots_ = {};
  text_.clear();  // (as `= {}` did, without the call: empty, its buffer, if any, kept)
  used_ = 0;
  dead_ = 0;
}

void HeaderMap::Take() {
  if (t_cache_gone) return;
  HeaderMapCache& c = t_cache;
  if (slots_.capacity() == 0 && !c.slots.empty()) {
    slots_ = std::move(c.slots.back());
    c.slots.pop_back();
  }
  if (text_.empty() && !c.texts.empty()) {
    text_ = std::move(c.texts.back());
    c.texts.pop_back();
    used_ = 0;
    dead_ = 0;
  }
}

std::pair<uint32_t, uint32_t> HeaderMap::Append(std::string_view a, std::string_view b) {
  const size_t extra = a.size() + b.size();
  if (text_.size() - used_ < extra) return AppendGrowing(a, b);
  // Room enough: the buffer does not move, and what `a` or `b` may view of it lies before
  // used_, apart from where they go.
  char* p = text_.data() + used_;
  internal::CopyPiece(p, a.data(), a.size());
  internal::CopyPiece(p + a.size(), b.data(), b.size());
  auto a_off = static_cast<uint32_t>(used_);
  used_ += extra;
  return {a_off, static_cast<uint32_t>(a_off + a.size())};
}

std::pair<uint32_t, uint32_t> HeaderMap::AppendGrowing(std::string_view a, std::string_view b) {
  const size_t extra = a.size() + b.size();
  // Grow: a fresh buffer with the used bytes only, then a and b (which may point into the
  // old buffer, still alive here).
  // The bytes entries use, counted (not taken from dead_): the copies below rely on it.
  size_t live = 0;
  for (const Slot& s : slots_) live += s.name_len + s.value_len;
  std::string next(std::max(kInitialBytes, 2 * (live + extra)), '\0');
  size_t at = 0;
  auto put = [&next, &at](const char* p, size_t n) {
    if (n != 0) std::memcpy(next.data() + at, p, n);
    at += n;
  };
  for (Slot& s : slots_) {
    auto name_off = static_cast<uint32_t>(at);
    put(text_.data() + s.name_off, s.name_len);
    auto value_off = static_cast<uint32_t>(at);
    put(text_.data() + s.value_off, s.value_len);
    s.name_off = name_off;
    s.value_off = value_off;
  }
  auto a_off = static_cast<uint32_t>(at);
  put(a.data(), a.size());
  auto b_off = static_cast<uint32_t>(at);
  put(b.data(), b.size());
  text_ = std::move(next);
  used_ = at;
  dead_ = 0;
  return {a_off, b_off};
}

void HeaderMap::Add(std::string_view name, std::string_view value) {
  // One allocation for a usual header block instead of growing through 1, 2, 4, 8, 16, or
  // none when the thread's cache has buffers.
  if (slots_.capacity() == 0) {
    Take();
    if (slots_.capacity() < kInitialEntries) slots_.reserve(kInitialEntries);
  }
  auto [name_off, value_off] = Append(name, value);
  slots_.push_back(Slot{name_off, static_cast<uint32_t>(name.size()), value_off,
                        static_cast<uint32_t>(value.size())});
}

void HeaderMap::Set(std::string_view name, std::string_view value) {
  size_t first = Find(name, 0);
  if (first == kNone) return Add(name, value);
  // The others of that name go first (their bytes stay where they are: `value` may view them).
  size_t out = first + 1;
  for (size_t i = first + 1; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.name_len == name.size() &&
        EqualsIgnoreCaseSameSize(std::string_view(text_.data() + s.name_off, s.name_len), name)) {
      dead_ += s.name_len + s.value_len;
      continue;
    }
    slots_[out++] = s;
  }
  slots_.resize(out);
  Slot& slot = slots_[first];
  if (value.size() <= slot.value_len) {
    // In place (memmove: `value` may overlap the old value).
    if (!value.empty()) std::memmove(text_.data() + slot.value_off, value.data(), value.size());
    dead_ += slot.value_len - value.size();
    slot.value_len = static_cast<uint32_t>(value.size());
    return;
  }
  // A longer value goes to the end of the buffer. The old one stays referenced until then (a
  // growing buffer copies it along), and is unused bytes after.
  const uint32_t old_len = slot.value_len;
  const uint32_t value_off = Append(std::string_view(), value).second;
  Slot& s = slots_[first];
  s.value_off = value_off;
  s.value_len = static_cast<uint32_t>(value.size());
  dead_ += old_len;
}

void HeaderMap::Remove(std::string_view name) {
  RemoveIf([&](std::string_view n, std::string_view) { return EqualsIgnoreCase(n, name); });
}

std::optional<std::string> Request::Query(std::string_view name) const {
  std::string_view rest = raw_query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_key = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto key = PercentDecode(raw_key, /*plus_is_space=*/true);
    if (!key || *key != name) continue;
    auto value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (value) return value;
  }
  return std::nullopt;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (IsUnreserved(u)) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

// Segment-wise decoding (RFC 3986 section 5.2.4 dot-segment removal after decoding): decoding
// first would let "%2F" forge a separator, so an encoded '/' is rejected rather than guessed at.
namespace {

// Whether NormalizePath would return `raw_path` unchanged: no percent-escape, backslash or
// control character, and no empty ("//"), "." or ".." segment (nor any segment starting with
// '.', which covers "..;x"); a final "/" is kept as it is. The usual request takes this path
// without splitting into segments.
bool AlreadyNormal(std::string_view raw_path) {
  const char* p = raw_path.data();
  const size_t n = raw_path.size();
  size_t i = 0;
  bool segment_start = false;  // p[i - 1] is '/' (p[0] is '/': the callers check it)
#if defined(__SSE2__)
  // Sixteen bytes at a time: any refused byte, or a '/' followed by '/' or '.'.
  const __m128i k1f = _mm_set1_epi8(0x1f);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i refused = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('%')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
    const __m128i slash = _mm_cmpeq_epi8(v, _mm_set1_epi8('/'));
    const auto slashes = static_cast<unsigned>(_mm_movemask_epi8(slash));
    const auto slash_or_dot = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(slash, _mm_cmpeq_epi8(v, _mm_set1_epi8('.')))));
    const unsigned after_slash = (slashes << 1) | (segment_start ? 1u : 0u);
    if ((static_cast<unsigned>(_mm_movemask_epi8(refused)) | (after_slash & slash_or_dot)) &
        0xffffu) {
      return false;
    }
    segment_start = (slashes >> 15) != 0;
  }
#endif
  for (; i < n; ++i) {
    auto u = static_cast<unsigned char>(p[i]);
    if (u == '%' || u == '\\' || u < 0x20 || u == 0x7f) return false;
    if (segment_start && (u == '/' || u == '.')) return false;
    segment_start = u == '/';
  }
  return true;
}

}  // namespace

Status NormalizePathInto(std::string_view raw_path, std::string& out) {
  if (!raw_path.empty() && raw_path.front() == '/' && AlreadyNormal(raw_path)) {
    out.assign(raw_path);
    return Status::Ok();
  }
  auto path = NormalizePath(raw_path);
  if (!path) return path.error();
  out = std::move(*path);
  return Status::Ok();
}

Result<std::string> NormalizePath(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') {
    return InvalidArgument("path must start with '/'");
  }
  if (AlreadyNormal(raw_path)) return std::string(raw_path);
  std::vector<std::string> segments;
  bool trailing_slash = false;
  size_t pos = 1;
  while (true) {
    size_t slash = raw_path.find('/', pos);
    bool last = slash == std::string_view::npos;
    std::string_view raw_seg = raw_path.substr(pos, last ? std::string_view::npos : slash - pos);
    for (size_t i = 0; i < raw_seg.size(); ++i) {
      if (raw_seg[i] == '%' && i + 2 < raw_seg.size() && raw_seg[i + 1] == '2' &&
          (raw_seg[i + 2] == 'F' || raw_seg[i + 2] == 'f')) {
        return InvalidArgument("path contains an encoded '/' (%2F)");
      }
    }
    auto seg = PercentDecode(raw_seg, /*plus_is_space=*/false);
    if (!seg) return InvalidArgument("path contains a malformed percent-escape");
    for (char c : *seg) {
      if (c == '\0') return InvalidArgument("path contains a NUL byte");
      if (c == '\\') return InvalidArgument("path contains a backslash");
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return InvalidArgument("path contains a control character");
    }
    // "..;x" and ".;x": path parameters on a dot segment, which servlet containers (Tomcat,
    // Jetty) resolve as ".." and "." behind the gateway's back.
    if (size_t semi = seg->find(';'); semi != std::string::npos) {
      std::string_view name(seg->data(), semi);
      if (name == "." || name == "..") {
        return InvalidArgument("path contains a dot segment with parameters (" + *seg + ")");
      }
    }
    if (*seg == ".") {
      trailing_slash = last;
    } else if (*seg == "..") {
      if (segments.empty()) return InvalidArgument("path escapes the root with '..'");
      segments.pop_back();
      trailing_slash = last;
    } else if (seg->empty()) {
      trailing_slash = last;  // "//" collapses; a final "/" is kept
    } else {
      segments.push_back(std::move(*seg));
      trailing_slash = false;
    }
    if (last) break;
    pos = slash + 1;
  }
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    out += s;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

}  // namespace skiff::http
