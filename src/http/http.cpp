#include "http/http.hpp"

#include <algorithm>

namespace skiff::http {

namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

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

bool EqualsIgnoreCaseSameSize(std::string_view a, std::string_view b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  for (const auto& [k, v] : entries_) {
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::vector<std::string_view> HeaderMap::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : entries_) {
    if (EqualsIgnoreCase(k, name)) out.emplace_back(v);
  }
  return out;
}

void HeaderMap::Set(std::string_view name, std::string_view value) {
  // Replace the first occurrence in place (keeps the order stable), drop the others.
  bool replaced = false;
  auto out = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (EqualsIgnoreCase(it->first, name)) {
      if (replaced) continue;
      it->second.assign(value);
      replaced = true;
    }
    if (out != it) *out = std::move(*it);
    ++out;
  }
  entries_.erase(out, entries_.end());
  if (!replaced) Add(name, value);
}

void HeaderMap::Add(std::string_view name, std::string_view value) {
  // One allocation for a usual header block instead of growing through 1, 2, 4, 8, 16.
  if (entries_.capacity() == 0) entries_.reserve(kInitialCapacity);
  entries_.emplace_back(std::string(name), std::string(value));
}

void HeaderMap::Remove(std::string_view name) {
  std::erase_if(entries_, [&](const Entry& e) { return EqualsIgnoreCase(e.first, name); });
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
  bool segment_start = true;  // just after a '/'
  for (size_t i = 1; i < raw_path.size(); ++i) {
    auto u = static_cast<unsigned char>(raw_path[i]);
    if (u == '%' || u == '\\' || u < 0x20 || u == 0x7f) return false;
    if (segment_start && (u == '/' || u == '.')) return false;
    segment_start = u == '/';
  }
  return true;
}

}  // namespace

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
