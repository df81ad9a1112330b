#include "core/json.hpp"

#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace skiff {

namespace {

std::string Position(std::string_view text, size_t offset) {
  int line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++col;  // columns count characters, not UTF-8 continuation bytes
    }
  }
  return "line " + std::to_string(line) + " column " + std::to_string(col);
}

// Splits a dotted path or a JSON pointer into its unescaped segments. Returns false for a
// pointer with an invalid escape ("~" not followed by 0 or 1, RFC 6901 section 3).
bool Segments(std::string_view path, std::vector<std::string>& out) {
  out.clear();
  if (path.empty()) return true;
  const bool pointer = path.front() == '/';
  const char sep = pointer ? '/' : '.';
  if (pointer) path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t end = path.find(sep, start);
    std::string_view seg =
        path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (pointer) {
      std::string un;
      un.reserve(seg.size());
      for (size_t i = 0; i < seg.size(); ++i) {
        if (seg[i] != '~') {
          un += seg[i];
          continue;
        }
        if (i + 1 >= seg.size() || (seg[i + 1] != '0' && seg[i + 1] != '1')) return false;
        un += seg[i + 1] == '0' ? '~' : '/';
        ++i;
      }
      out.push_back(std::move(un));
    } else {
      out.emplace_back(seg);
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

// An array index as RFC 6901 spells it: "0" or digits without a leading zero.
bool ArrayIndex(const std::string& seg, size_t& idx) {
  if (seg.empty() || (seg.size() > 1 && seg[0] == '0')) return false;
  auto [p, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), idx);
  return ec == std::errc() && p == seg.data() + seg.size();
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the pending run of characters that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

namespace {

void Write(std::string& out, const json::array& a);
void Write(std::string& out, const json::object& o);

void Write(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::int64: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      out.append(buf, r.ptr);
      break;
    }
    case json::kind::uint64: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, r.ptr);
      break;
    }
    case json::kind::double_:
      out += FormatJsonNumber(v.get_double());
      break;
    case json::kind::string:
      AppendJsonString(out, v.get_string());
      break;
    case json::kind::array:
      Write(out, v.get_array());
      break;
    case json::kind::object:
      Write(out, v.get_object());
      break;
  }
}

void Write(std::string& out, const json::array& a) {
  out += '[';
  bool first = true;
  for (const auto& item : a) {
    if (!first) out += ',';
    first = false;
    Write(out, item);
  }
  out += ']';
}

void Write(std::string& out, const json::object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, kv.key());
    out += ':';
    Write(out, kv.value());
  }
  out += '}';
}

}  // namespace

Result<json::value> ParseJson(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  json::stream_parser p({}, opts);
  boost::system::error_code ec;
  // write() (unlike write_some) reports text after the value as "extra data".
  size_t n = p.write(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    return InvalidArgument("invalid JSON at " + Position(text, n) + ": " + ec.message());
  }
  return p.release();
}

Result<json::object> ParseJsonObject(std::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(json::value v, ParseJson(text));
  if (!v.is_object()) return InvalidArgument("expected a JSON object at the top level");
  return std::move(v.as_object());
}

std::string FormatJsonNumber(double d) {
  if (!std::isfinite(d)) return "null";
  // Go's encoding/json: shortest round-trip digits, plain notation for 1e-6 <= |d| < 1e21,
  // exponent notation outside that range.
  char buf[64];
  const double a = std::fabs(d);
  const bool exp = a != 0 && (a < 1e-6 || a >= 1e21);
  auto r = std::to_chars(buf, buf + sizeof buf, d,
                         exp ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (exp) {
    // "1e-07" -> "1e-7" as Go does; positive exponents keep their sign ("1e+21").
    size_t e = s.find('e');
    if (e != std::string::npos && e + 3 < s.size() && s[e + 1] == '-' && s[e + 2] == '0') {
      s.erase(e + 2, 1);
    }
  }
  return s;
}

std::string Serialize(const json::value& v) {
  std::string out;
  Write(out, v);
  return out;
}

std::string Serialize(const json::object& o) {
  std::string out;
  Write(out, o);
  return out;
}

std::string Serialize(const json::array& a) {
  std::string out;
  Write(out, a);
  return out;
}

const json::value* Find(const json::value& root, std::string_view path) {
  std::vector<std::string> segments;
  if (!Segments(path, segments)) return nullptr;
  const json::value* cur = &root;
  for (const std::string& seg : segments) {
    if (const auto* obj = cur->if_object()) {
      auto it = obj->find(seg);
      if (it == obj->end()) return nullptr;
      cur = &it->value();
    } else if (const auto* arr = cur->if_array()) {
      size_t idx = 0;
      if (!ArrayIndex(seg, idx) || idx >= arr->size()) return nullptr;
      cur = &(*arr)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

const json::value* Find(const json::object& root, std::string_view path) {
  std::vector<std::string> segments;
  if (!Segments(path, segments) || segments.empty()) return nullptr;
  auto it = root.find(segments.front());
  if (it == root.end()) return nullptr;
  const json::value* cur = &it->value();
  for (size_t i = 1; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    if (const auto* obj = cur->if_object()) {
      auto found = obj->find(seg);
      if (found == obj->end()) return nullptr;
      cur = &found->value();
    } else if (const auto* arr = cur->if_array()) {
      size_t idx = 0;
      if (!ArrayIndex(seg, idx) || idx >= arr->size()) return nullptr;
      cur = &(*arr)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

json::value* FindMutable(json::value& root, std::string_view path) {
  return const_cast<json::value*>(Find(root, path));
}

std::string GetString(const json::value& root, std::string_view path, std::string_view fallback) {
  const json::value* v = Find(root, path);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return std::string(v->get_string());
}

std::string GetString(const json::object& root, std::string_view path, std::string_view fallback) {
  const json::value* v = Find(root, path);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return std::string(v->get_string());
}

const json::object* GetObject(const json::value& root, std::string_view path) {
  const json::value* v = Find(root, path);
  return v == nullptr ? nullptr : v->if_object();
}

const json::object* GetObject(const json::object& root, std::string_view path) {
  const json::value* v = Find(root, path);
  return v == nullptr ? nullptr : v->if_object();
}

json::object& EnsureObject(json::object& obj, std::string_view key) {
  json::value& v = obj[key];
  if (!v.is_object()) v = json::object();
  return v.as_object();
}

}  // namespace skiff
