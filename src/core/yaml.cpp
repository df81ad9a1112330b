#include "core/yaml.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace skiff {

namespace {

// Alias expansion is bounded so that a small document cannot expand into a huge one ("billion
// laughs"): every converted node costs 1 plus its scalar length, and a stream may spend at most
// kAliasExpansionFactor times its own size plus kAliasExpansionSlack.
constexpr size_t kAliasExpansionFactor = 10;
constexpr size_t kAliasExpansionSlack = 64 * 1024;

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

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// go-yaml v2's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool IsYamlStyleFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
  } else {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && IsDigit(s[i])) ++i;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

// Go's strconv.ParseUint(s, 0, 64): "0x"/"0o"/"0b" prefixes (any case), a leading "0" means
// octal, otherwise decimal. No sign. `range` is set when the digits are valid but too large.
bool ParseUintBase0(std::string_view s, uint64_t& out, bool& range) {
  range = false;
  if (s.empty()) return false;
  unsigned base = 10;
  if (s[0] == '0') {
    const char p = s.size() >= 3 ? static_cast<char>(s[1] | 0x20) : '\0';
    if (p == 'b' || p == 'o' || p == 'x') {
      base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  uint64_t n = 0;
  for (char c : s) {
    unsigned d;
    if (IsDigit(c)) {
      d = static_cast<unsigned>(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
      d = static_cast<unsigned>((c | 0x20) - 'a' + 10);
    } else {
      return false;
    }
    if (d >= base) return false;
    if (!range) {
      if (n > (std::numeric_limits<uint64_t>::max() - d) / base) {
        range = true;
      } else {
        n = n * base + d;
      }
    }
  }
  if (range) return false;
  out = n;
  return true;
}

json::value String(std::string_view s) { return json::value(json::string(s)); }

}  // namespace

// Resolves a plain (unquoted, untagged) scalar exactly as go-yaml v2 (and so sigs.k8s.io/yaml
// and kubectl) does: YAML 1.1 booleans and nulls from a fixed table, integers through
// strconv.ParseInt/ParseUint with base 0 after removing '_' (so "0755" is octal and "0x1F",
// "0o17", "0b101" work), floats matching yamlStyleFloat ("1.10" is the float 1.1), .inf/.nan.
// Deliberate difference: unquoted timestamps ("2001-12-14") stay strings as written, where
// go-yaml turns them into time.Time and kubectl re-renders them in RFC 3339.
json::value ResolveYamlScalar(std::string_view s) {
  if (s.empty()) return nullptr;
  const char first = s[0];
  const bool sign = first == '+' || first == '-';
  const bool digit = IsDigit(first);
  const bool dot = first == '.';
  const bool in_map = std::string_view("yYnNtTfFoO~").find(first) != std::string_view::npos;
  if (!sign && !digit && !dot && !in_map) return String(s);
  if (IsOneOf(s, {"~", "null", "Null", "NULL"})) return nullptr;
  if (IsOneOf(s, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) {
    return true;
  }
  if (IsOneOf(s, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
    return false;
  }
  if (IsOneOf(s, {".nan", ".NaN", ".NAN"})) return std::numeric_limits<double>::quiet_NaN();
  if (IsOneOf(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) {
    return std::numeric_limits<double>::infinity();
  }
  if (IsOneOf(s, {"-.inf", "-.Inf", "-.INF"})) return -std::numeric_limits<double>::infinity();
  if (in_map) return String(s);

  auto parse_float = [](const std::string& t, json::value& out) {
    if (!IsYamlStyleFloat(t)) return false;
    errno = 0;
    char* end = nullptr;
    double d = std::strtod(t.c_str(), &end);
    // Go's ParseFloat fails on overflow only; underflow quietly gives 0 or a denormal.
    if (end != t.c_str() + t.size() || std::isinf(d)) return false;
    out = d;
    return true;
  };
  json::value result;
  if (dot) {
    // strconv.ParseFloat on the text as written: no '_' allowed.
    if (parse_float(std::string(s), result)) return result;
    return String(s);
  }
  std::string plain;
  plain.reserve(s.size());
  for (char c : s) {
    if (c != '_') plain += c;
  }
  // strconv.ParseInt(plain, 0, 64), then strconv.ParseUint(plain, 0, 64).
  {
    std::string_view t = plain;
    bool neg = false;
    if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
      neg = t[0] == '-';
      t.remove_prefix(1);
    }
    uint64_t u = 0;
    bool range = false;
    if (ParseUintBase0(t, u, range)) {
      constexpr uint64_t kMaxInt = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      if (!neg && u <= kMaxInt) return static_cast<int64_t>(u);
      if (neg && u <= kMaxInt + 1) return static_cast<int64_t>(0 - u);
      if (!sign) return u;  // ParseUint takes no sign
    }
  }
  if (parse_float(plain, result)) return result;
  return String(s);
}

namespace {

class Converter {
 public:
  Converter(YamlDocument& doc, size_t& budget, std::string_view text)
      : doc_(doc), budget_(budget), text_(text) {
    // yaml-cpp's marks count bytes after a UTF-8 byte order mark.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") bom_ = 3;
  }

  Result<json::value> Convert(const YAML::Node& node, const std::string& pointer, int depth) {
    if (!Spend(1)) return TooMuch(node);
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json::value(nullptr);
      case YAML::NodeType::Scalar: {
        if (!Spend(node.Scalar().size())) return TooMuch(node);
        SKIFF_RETURN_IF_ERROR(CheckQuoteClosed(node));
        // Quoted and block scalars get the tag "!" from yaml-cpp; "!!str" forces a string.
        // Plain scalars ("?") and other tags resolve by their text.
        if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
          return String(node.Scalar());
        }
        return ResolveYamlScalar(node.Scalar());
      }
      case YAML::NodeType::Sequence: {
        // The same limit as ParseJson, so that every document read here also serializes and
        // parses back as JSON.
        if (depth >= kMaxJsonDepth) return TooDeep(node);
        json::array arr;
        arr.reserve(node.size());
        size_t i = 0;
        for (const auto& item : node) {
          std::string p = pointer + "/" + std::to_string(i++);
          // yaml-cpp marks an empty (implicit null) item at the token after it; leave such
          // items to fall back to their parent's line.
          if (!(item.IsNull() && item.Tag().empty()) && item.Mark().line >= 0) {
            doc_.lines.emplace(p, item.Mark().line + 1);
          }
          SKIFF_ASSIGN_OR_RETURN(json::value v, Convert(item, p, depth + 1));
          arr.push_back(std::move(v));
        }
        return json::value(std::move(arr));
      }
      case YAML::NodeType::Map: {
        if (depth >= kMaxJsonDepth) return TooDeep(node);
        json::object obj;
        for (const auto& kv : node) {
          const int line = kv.first.Mark().line + 1;
          if (!kv.first.IsScalar()) {
            return InvalidArgument("line " + std::to_string(line) +
                                   ": mapping keys must be strings");
          }
          if (kv.first.Tag() != "!" && kv.first.Scalar() == "<<") {
            return InvalidArgument("line " + std::to_string(line) +
                                   ": YAML merge keys (<<) are not supported");
          }
          SKIFF_RETURN_IF_ERROR(CheckQuoteClosed(kv.first));
          const std::string& key = kv.first.Scalar();
          if (obj.contains(key)) {
            return InvalidArgument("line " + std::to_string(line) + ": duplicate key \"" + key +
                                   "\"");
          }
          if (!Spend(key.size())) return TooMuch(node);
          std::string p = pointer + "/" + EscapePointer(key);
          if (line > 0) doc_.lines.emplace(p, line);
          SKIFF_ASSIGN_OR_RETURN(json::value v, Convert(kv.second, p, depth + 1));
          obj.emplace(key, std::move(v));
        }
        return json::value(std::move(obj));
      }
    }
    return json::value(nullptr);
  }

 private:
  // yaml-cpp 0.7 accepts a quoted scalar that is still open at the end of the stream and makes
  // the rest of the text part of it ("a: \"oops\nb: 2" reads as a = "oops b: 2"). Every other
  // YAML parser, go-yaml included, rejects that; so do we, by finding the closing quote.
  Status CheckQuoteClosed(const YAML::Node& node) const {
    if (node.Tag() != "!" && node.Tag() != "tag:yaml.org,2002:str") return Status::Ok();
    const YAML::Mark mark = node.Mark();
    if (mark.pos < 0) return Status::Ok();
    size_t p = static_cast<size_t>(mark.pos) + bom_;
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    // The mark may be at a tag or an anchor in front of the scalar.
    while (p < text_.size() && (text_[p] == '!' || text_[p] == '&')) {
      while (p < text_.size() && !space(text_[p])) ++p;
      while (p < text_.size() && space(text_[p])) ++p;
    }
    if (p >= text_.size() || (text_[p] != '"' && text_[p] != '\'')) return Status::Ok();
    const char quote = text_[p++];
    while (p < text_.size()) {
      const char c = text_[p];
      if (quote == '"' && c == '\\') {
        p += 2;
      } else if (c == quote && quote == '\'' && p + 1 < text_.size() && text_[p + 1] == '\'') {
        p += 2;  // '' is an escaped single quote
      } else if (c == quote) {
        return Status::Ok();
      } else {
        ++p;
      }
    }
    return InvalidArgument("invalid YAML at line " + std::to_string(mark.line + 1) + " column " +
                           std::to_string(mark.column + 1) +
                           ": quoted scalar is not closed before the end of the input");
  }

  bool Spend(size_t n) {
    if (n > budget_) return false;
    budget_ -= n;
    return true;
  }
  static Status TooDeep(const YAML::Node& node) {
    return InvalidArgument("line " + std::to_string(node.Mark().line + 1) +
                           ": YAML nesting is deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  static Status TooMuch(const YAML::Node& node) {
    return InvalidArgument("line " + std::to_string(node.Mark().line + 1) +
                           ": YAML aliases expand to a document too large to accept");
  }

  YamlDocument& doc_;
  size_t& budget_;
  std::string_view text_;
  size_t bom_ = 0;
};

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Characters that YAML treats as line breaks or a byte order mark (U+0085, U+2028, U+2029,
// U+FEFF), or that it does not allow unescaped (C0 controls other than tab, DEL).
bool HasSpecialCharacters(std::string_view s, bool allow_newline_and_tab) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || c == '\t') {
      if (!allow_newline_and_tab) return true;
    } else if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return s.find("\xC2\x85") != s.npos || s.find("\xE2\x80\xA8") != s.npos ||
         s.find("\xE2\x80\xA9") != s.npos || s.find("\xEF\xBB\xBF") != s.npos;
}

// Whether a string must be quoted to read back as the same string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  if (!ResolveYamlScalar(s).is_string()) return true;
  if (s == "<<") return true;  // a plain "<<" key is a merge key
  static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@` \t";
  if (kIndicators.find(s.front()) != std::string_view::npos) return true;
  if (s.back() == ' ' || s.back() == '\t' || s.back() == ':') return true;
  if (StartsWith(s, "...")) return true;  // document end marker
  if (s.find(": ") != s.npos || s.find(":\t") != s.npos || s.find(" #") != s.npos ||
      s.find("\t#") != s.npos) {
    return true;
  }
  return HasSpecialCharacters(s, /*allow_newline_and_tab=*/false);
}

// Whether yaml-cpp's literal block ("|") reads back as exactly `s`. The block uses "clip"
// chomping, so the text must end with exactly one newline; its first line sets the
// indentation, so it must not start with a space or an empty line.
bool FitsLiteralBlock(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s.front() == ' ' || s.front() == '\t' || s.front() == '\n') return false;
  if (s.find('\n') == s.size() - 1) return false;  // one line: quoting reads better
  return !HasSpecialCharacters(s, /*allow_newline_and_tab=*/true);
}

std::string FormatYamlFloat(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  std::string s = FormatJsonNumber(d);
  // Keep it a float when read back ("1.0", not the integer "1").
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (FitsLiteralBlock(s)) {
    // yaml-cpp ends the block with a line break of its own, which "clip" chomping keeps as the
    // one final newline; passing ours too would add an empty line.
    out << YAML::Literal << s.substr(0, s.size() - 1);
  } else if (NeedsQuotes(s)) {
    out << YAML::DoubleQuoted << s;
  } else {
    out << s;
  }
}

void Emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out << YAML::Null;
      break;
    case json::kind::bool_:
      out << v.get_bool();
      break;
    case json::kind::int64:
      out << v.get_int64();
      break;
    case json::kind::uint64:
      out << v.get_uint64();
      break;
    case json::kind::double_:
      out << FormatYamlFloat(v.get_double());
      break;
    case json::kind::string:
      EmitString(out, std::string(v.get_string()));
      break;
    case json::kind::array: {
      const auto& arr = v.get_array();
      if (arr.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::Block << YAML::BeginSeq;
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
      out << YAML::Block << YAML::BeginMap;
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

std::string At(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return " at line " + std::to_string(mark.line + 1) + " column " + std::to_string(mark.column + 1);
}

}  // namespace

int YamlDocument::LineOf(std::string_view path) const {
  std::string pointer;
  if (!path.empty() && path.front() == '/') {
    pointer = std::string(path);
  } else if (!path.empty()) {
    size_t start = 0;
    while (true) {
      size_t end = path.find('.', start);
      pointer +=
          "/" + EscapePointer(path.substr(start, end == path.npos ? path.npos : end - start));
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
  } catch (const YAML::DeepRecursion& e) {
    return InvalidArgument("invalid YAML" + At(e.mark) + ": nesting is too deep");
  } catch (const YAML::Exception& e) {
    return InvalidArgument("invalid YAML" + At(e.mark) + ": " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
  size_t budget = kAliasExpansionFactor * text.size() + kAliasExpansionSlack;
  std::vector<YamlDocument> docs;
  for (const auto& node : nodes) {
    // Empty documents ("---" with nothing, comments only, a bare "null") are skipped, as
    // kubectl skips them.
    if (node.IsNull() || !node.IsDefined()) continue;
    YamlDocument doc;
    doc.line = node.Mark().line + 1;
    Converter conv(doc, budget, text);
    try {
      SKIFF_ASSIGN_OR_RETURN(doc.value, conv.Convert(node, "", 0));
    } catch (const YAML::Exception& e) {
      return InvalidArgument("invalid YAML" + At(e.mark) + ": " + e.msg);
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
  out.SetNullFormat(YAML::LowerNull);
  out.SetBoolFormat(YAML::TrueFalseBool);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  Emit(out, v);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace skiff
