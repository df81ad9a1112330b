#include "core/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace skiff {

namespace {

constexpr int kMaxYamlDepth = 200;

std::string EscapePointer(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  for (auto o : options) {
    if (s == o) return true;
  }
  return false;
}

// Resolves a plain (unquoted) scalar to a JSON value the way sigs.k8s.io/yaml does.
json::value ResolvePlain(const std::string& s) {
  if (IsOneOf(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (IsOneOf(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})) {
    return true;
  }
  if (IsOneOf(s, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})) {
    return false;
  }
  // Integers: decimal with optional sign, 0x hex, 0o octal.
  {
    std::string_view t = s;
    bool neg = false;
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
      neg = t[0] == '-';
      t.remove_prefix(1);
    }
    int base = 10;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
      base = 16;
      t.remove_prefix(2);
    } else if (t.size() > 2 && t[0] == '0' && t[1] == 'o') {
      base = 8;
      t.remove_prefix(2);
    }
    std::string digits;
    for (char c : t) {
      if (c != '_') digits += c;
    }
    if (!digits.empty()) {
      uint64_t u = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
      if (p == digits.data() + digits.size()) {
        if (ec == std::errc()) {
          if (!neg) {
            if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
            return u;
          }
          if (u <= static_cast<uint64_t>(INT64_MAX) + 1) {
            return static_cast<int64_t>(0 - u);
          }
        }
        // Out of range integers fall through to float parsing.
      }
    }
  }
  if (IsOneOf(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) return HUGE_VAL;
  if (IsOneOf(s, {"-.inf", "-.Inf", "-.INF"})) return -HUGE_VAL;
  if (IsOneOf(s, {".nan", ".NaN", ".NAN"})) return NAN;
  // Floats: must look like a number (digits with optional '.', exponent).
  bool has_digit = false, ok = true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      has_digit = true;
    } else if (c == '.' || c == 'e' || c == 'E' || c == '_' ||
               ((c == '-' || c == '+') && (i == 0 || s[i - 1] == 'e' || s[i - 1] == 'E'))) {
    } else {
      ok = false;
      break;
    }
  }
  if (ok && has_digit) {
    std::string clean;
    for (char c : s) {
      if (c != '_') clean += c;
    }
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(clean.c_str(), &end);
    if (end == clean.c_str() + clean.size() && errno == 0) return d;
  }
  return json::string(s);
}

class Converter {
 public:
  explicit Converter(YamlDocument& doc) : doc_(doc) {}

  Result<json::value> Convert(const YAML::Node& node, const std::string& pointer, int depth) {
    if (depth > kMaxYamlDepth) return InvalidArgument("YAML nesting is too deep");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json::value(nullptr);
      case YAML::NodeType::Scalar: {
        // Quoted or explicitly tagged-as-string scalars keep their text.
        if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
          return json::value(json::string(node.Scalar()));
        }
        return ResolvePlain(node.Scalar());
      }
      case YAML::NodeType::Sequence: {
        json::array arr;
        arr.reserve(node.size());
        size_t i = 0;
        for (const auto& item : node) {
          std::string p = pointer + "/" + std::to_string(i++);
          doc_.lines.emplace(p, item.Mark().line + 1);
          SKIFF_ASSIGN_OR_RETURN(json::value v, Convert(item, p, depth + 1));
          arr.push_back(std::move(v));
        }
        return json::value(std::move(arr));
      }
      case YAML::NodeType::Map: {
        json::object obj;
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return InvalidArgument("line " + std::to_string(kv.first.Mark().line + 1) +
                                   ": mapping keys must be strings");
          }
          if (kv.first.Tag() != "!" && kv.first.Scalar() == "<<") {
            return InvalidArgument("line " + std::to_string(kv.first.Mark().line + 1) +
                                   ": YAML merge keys (<<) are not supported");
          }
          const std::string& key = kv.first.Scalar();
          if (obj.contains(key)) {
            return InvalidArgument("line " + std::to_string(kv.first.Mark().line + 1) +
                                   ": duplicate key \"" + key + "\"");
          }
          std::string p = pointer + "/" + EscapePointer(key);
          doc_.lines.emplace(p, kv.first.Mark().line + 1);
          SKIFF_ASSIGN_OR_RETURN(json::value v, Convert(kv.second, p, depth + 1));
          obj.emplace(key, std::move(v));
        }
        return json::value(std::move(obj));
      }
    }
    return json::value(nullptr);
  }

 private:
  YamlDocument& doc_;
};

bool NeedsQuotes(const std::string& s) {
  json::value resolved = ResolvePlain(s);
  if (!resolved.is_string()) return true;
  if (s.empty()) return true;
  // Leading/trailing spaces and YAML indicators are handled by yaml-cpp; be explicit for
  // the ones that change meaning.
  static const std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kIndicators.find(s.front()) != std::string_view::npos) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return true;
  return false;
}

void Emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out << YAML::Null;
      break;
    case json::kind::bool_:
      out << (v.get_bool() ? "true" : "false");
      break;
    case json::kind::int64:
      out << v.get_int64();
      break;
    case json::kind::uint64:
      out << v.get_uint64();
      break;
    case json::kind::double_: {
      double d = v.get_double();
      if (std::isnan(d)) {
        out << ".nan";
      } else if (std::isinf(d)) {
        out << (d > 0 ? ".inf" : "-.inf");
      } else {
        out << Serialize(v);
      }
      break;
    }
    case json::kind::string: {
      std::string s(v.get_string());
      if (s.find('\n') != std::string::npos && s.back() != ' ') {
        out << YAML::Literal << s;
      } else if (NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case json::kind::array: {
      const auto& arr = v.get_array();
      if (arr.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& item : arr) Emit(out, item);
      out << YAML::EndSeq;
      break;
    }
    case json::kind::object: {
      const auto& obj = v.get_object();
      if (obj.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& kv : obj) {
        std::string key(kv.key());
        out << YAML::Key;
        if (NeedsQuotes(key)) {
          out << YAML::DoubleQuoted << key;
        } else {
          out << key;
        }
        out << YAML::Value;
        Emit(out, kv.value());
      }
      out << YAML::EndMap;
      break;
    }
  }
}

}  // namespace

int YamlDocument::LineOf(std::string_view path) const {
  std::string pointer;
  if (!path.empty() && path.front() == '/') {
    pointer = std::string(path);
  } else {
    size_t start = 0;
    while (start <= path.size() && !path.empty()) {
      size_t end = path.find('.', start);
      pointer += "/" + EscapePointer(path.substr(start, end == path.npos ? path.npos : end - start));
      if (end == path.npos) break;
      start = end + 1;
    }
  }
  while (!pointer.empty()) {
    auto it = lines.find(pointer);
    if (it != lines.end()) return it->second;
    pointer.resize(pointer.rfind('/'));
  }
  return line;
}

Result<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument("invalid YAML at line " + std::to_string(e.mark.line + 1) +
                           " column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
  std::vector<YamlDocument> docs;
  for (const auto& node : nodes) {
    if (node.IsNull() || !node.IsDefined()) continue;
    YamlDocument doc;
    doc.line = node.Mark().line + 1;
    Converter conv(doc);
    try {
      SKIFF_ASSIGN_OR_RETURN(doc.value, conv.Convert(node, "", 0));
    } catch (const YAML::Exception& e) {
      return InvalidArgument("invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " +
                             e.msg);
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

Result<json::value> ParseYaml(std::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(auto docs, ParseYamlDocuments(text));
  if (docs.size() != 1) {
    return InvalidArgument("expected exactly one YAML document, found " +
                           std::to_string(docs.size()));
  }
  return std::move(docs.front().value);
}

std::string ToYaml(const json::value& v) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  Emit(out, v);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace skiff
