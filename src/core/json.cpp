#include "core/json.hpp"

#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <charconv>

namespace skiff {

namespace {

std::string Position(std::string_view text, size_t offset) {
  int line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + " column " + std::to_string(col);
}

// Splits a dotted path or a JSON pointer into its unescaped segments.
std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  const bool pointer = path.front() == '/';
  const char sep = pointer ? '/' : '.';
  if (pointer) path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t end = path.find(sep, start);
    std::string seg(path.substr(start, end == std::string_view::npos ? path.npos : end - start));
    if (pointer) {
      std::string un;
      for (size_t i = 0; i < seg.size(); ++i) {
        if (seg[i] == '~' && i + 1 < seg.size() && (seg[i + 1] == '0' || seg[i + 1] == '1')) {
          un += seg[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          un += seg[i];
        }
      }
      seg = std::move(un);
    }
    out.push_back(std::move(seg));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<json::value> ParseJson(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  json::stream_parser p({}, opts);
  boost::system::error_code ec;
  size_t n = p.write_some(text.data(), text.size(), ec);
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

std::string Serialize(const json::value& v) { return json::serialize(v); }

const json::value* Find(const json::value& root, std::string_view path) {
  const json::value* cur = &root;
  for (const std::string& seg : Segments(path)) {
    if (const auto* obj = cur->if_object()) {
      auto it = obj->find(seg);
      if (it == obj->end()) return nullptr;
      cur = &it->value();
    } else if (const auto* arr = cur->if_array()) {
      size_t idx = 0;
      auto [p, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), idx);
      if (ec != std::errc() || p != seg.data() + seg.size() || idx >= arr->size()) return nullptr;
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

const json::object* GetObject(const json::value& root, std::string_view path) {
  const json::value* v = Find(root, path);
  return v == nullptr ? nullptr : v->if_object();
}

json::object& EnsureObject(json::object& obj, std::string_view key) {
  json::value& v = obj[key];
  if (!v.is_object()) v = json::object();
  return v.as_object();
}

}  // namespace skiff
