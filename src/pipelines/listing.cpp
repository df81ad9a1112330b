#include "pipelines/listing.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/json.hpp"

namespace skiff::pipelines {
namespace {

constexpr std::string_view kInvalidInput = "Invalid input error: ";

Status InvalidInput(std::string_view message) {
  return InvalidArgument(std::string(kInvalidInput) + std::string(message));
}

// Go's %q for the strings in messages: quotes and escapes quotes and backslashes.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Case-insensitive (ASCII) three-way comparison.
int CompareCi(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = static_cast<unsigned char>(Lower(a[i]));
    unsigned char y = static_cast<unsigned char>(Lower(b[i]));
    if (x != y) return x < y ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

// `needle` is lower case already.
bool ContainsCi(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && Lower(hay[i + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Go's url.QueryUnescape: "%XX" escapes and '+' as a space.
Result<std::string> QueryUnescape(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) {
        std::string_view bad = s.substr(i, std::min<size_t>(3, s.size() - i));
        return InvalidArgument("invalid URL escape " + Quote(bad));
      }
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

using ValueView = FieldRef;

ValueView View(const FieldValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) return std::string_view(*s);
  return std::monostate{};
}

ValueView FieldOf(const Row& row, const std::string& row_key) {
  if (row_key.empty()) return std::string_view(row.id);
  const FieldValue* v = row.Find(row_key);
  return v ? View(*v) : ValueView{};
}

// NULL first, then numbers, then strings (ASCII case-insensitive, then bytewise so the order
// is total).
int CompareViews(const ValueView& a, const ValueView& b) {
  if (a.index() != b.index()) return a.index() < b.index() ? -1 : 1;
  if (const auto* x = std::get_if<int64_t>(&a)) {
    int64_t y = std::get<int64_t>(b);
    return *x < y ? -1 : (*x > y ? 1 : 0);
  }
  if (const auto* x = std::get_if<std::string_view>(&a)) {
    std::string_view y = std::get<std::string_view>(b);
    int c = CompareCi(*x, y);
    if (c != 0) return c;
    c = x->compare(y);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return 0;
}

std::string_view KindGoType(Predicate::Kind kind) {
  switch (kind) {
    case Predicate::Kind::kInt:
      return "int32";
    case Predicate::Kind::kLong:
      return "int64";
    case Predicate::Kind::kString:
      return "string";
    case Predicate::Kind::kTimestamp:
      return "int64";
    case Predicate::Kind::kInts:
      return "[]int32";
    case Predicate::Kind::kLongs:
      return "[]int64";
    case Predicate::Kind::kStrings:
      return "[]string";
  }
  return "?";
}

bool IsList(Predicate::Kind kind) {
  return kind == Predicate::Kind::kInts || kind == Predicate::Kind::kLongs ||
         kind == Predicate::Kind::kStrings;
}
bool IsStringKind(Predicate::Kind kind) {
  return kind == Predicate::Kind::kString || kind == Predicate::Kind::kStrings;
}

// ---------------------------------------------------------------------------------------------
// Filter JSON (protojson rules: proto or lowerCamelCase names, null is unset, unknown fields are
// errors, int64 as number or string).

Result<int64_t> JsonInt(const json::value& v, bool int32, std::string_view field) {
  std::optional<int64_t> out;
  if (v.is_int64()) {
    out = v.get_int64();
  } else if (v.is_uint64()) {
    if (v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      out = static_cast<int64_t>(v.get_uint64());
    }
  } else if (v.is_double()) {
    double d = v.get_double();
    if (d > -9.2e18 && d < 9.2e18 && d == std::floor(d)) out = static_cast<int64_t>(d);
  } else if (v.is_string()) {
    out = ParseInt64(std::string_view(v.get_string()));
  }
  if (!out) return InvalidArgument("invalid value for " + std::string(field) + ": " + Serialize(v));
  if (int32 &&
      (*out < std::numeric_limits<int32_t>::min() || *out > std::numeric_limits<int32_t>::max())) {
    return InvalidArgument("invalid value for " + std::string(field) + ": " + Serialize(v) +
                           " (out of int32 range)");
  }
  return *out;
}

struct ValueField {
  std::string_view proto;
  std::string_view camel;
  Predicate::Kind kind;
};
constexpr ValueField kValueFields[] = {
    {"int_value", "intValue", Predicate::Kind::kInt},
    {"long_value", "longValue", Predicate::Kind::kLong},
    {"string_value", "stringValue", Predicate::Kind::kString},
    {"timestamp_value", "timestampValue", Predicate::Kind::kTimestamp},
    {"int_values", "intValues", Predicate::Kind::kInts},
    {"long_values", "longValues", Predicate::Kind::kLongs},
    {"string_values", "stringValues", Predicate::Kind::kStrings},
};

std::optional<FilterOp> OpFromName(ApiVersion version, std::string_view name) {
  static constexpr std::pair<std::string_view, FilterOp> kNames[] = {
      {"EQUALS", FilterOp::kEquals},
      {"NOT_EQUALS", FilterOp::kNotEquals},
      {"GREATER_THAN", FilterOp::kGreaterThan},
      {"GREATER_THAN_EQUALS", FilterOp::kGreaterThanEquals},
      {"LESS_THAN", FilterOp::kLessThan},
      {"LESS_THAN_EQUALS", FilterOp::kLessThanEquals},
      {"IN", FilterOp::kIn},
      {"IS_SUBSTRING", FilterOp::kIsSubstring},
  };
  for (const auto& [n, op] : kNames) {
    if (n == name) return op;
  }
  (void)version;
  return std::nullopt;
}

// The raw predicate as the proto carries it (before the schema).
struct RawPredicate {
  int op = 0;
  std::string key;
  std::optional<Predicate::Kind> kind;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

Result<RawPredicate> ParseRawPredicate(ApiVersion version, const json::value& v) {
  const json::object* obj = v.if_object();
  if (!obj) return InvalidArgument("a predicate must be a JSON object");
  std::string_view op_field = version == ApiVersion::kV1beta1 ? "op" : "operation";
  std::string_view enum_zero =
      version == ApiVersion::kV1beta1 ? "UNKNOWN" : "OPERATION_UNSPECIFIED";
  RawPredicate raw;
  for (const auto& [k, value] : *obj) {
    std::string_view key = k;
    if (value.is_null()) continue;
    if (key == "key") {
      if (!value.is_string()) return InvalidArgument("invalid value for key: " + Serialize(value));
      raw.key = std::string(value.get_string());
      continue;
    }
    if (key == op_field) {
      if (value.is_string()) {
        std::string_view name = value.get_string();
        if (name == enum_zero) {
          raw.op = 0;
        } else if (auto op = OpFromName(version, name)) {
          raw.op = static_cast<int>(*op);
        } else {
          return InvalidArgument("invalid value for enum field " + std::string(op_field) + ": " +
                                 Quote(name));
        }
      } else {
        SKIFF_ASSIGN_OR_RETURN(int64_t n, JsonInt(value, true, op_field));
        raw.op = static_cast<int>(n);
      }
      continue;
    }
    const ValueField* vf = nullptr;
    for (const auto& f : kValueFields) {
      if (key == f.proto || key == f.camel) vf = &f;
    }
    if (!vf) return InvalidArgument("unknown field " + Quote(key));
    if (raw.kind) {
      return InvalidArgument("more than one value field set in a predicate (" + std::string(key) +
                             ")");
    }
    raw.kind = vf->kind;
    switch (vf->kind) {
      case Predicate::Kind::kInt:
      case Predicate::Kind::kLong: {
        SKIFF_ASSIGN_OR_RETURN(int64_t n,
                               JsonInt(value, vf->kind == Predicate::Kind::kInt, vf->proto));
        raw.ints.push_back(n);
        break;
      }
      case Predicate::Kind::kString:
        if (!value.is_string()) {
          return InvalidArgument("invalid value for string_value: " + Serialize(value));
        }
        raw.strings.emplace_back(value.get_string());
        break;
      case Predicate::Kind::kTimestamp: {
        if (!value.is_string()) {
          return InvalidArgument("invalid value for timestamp_value: " + Serialize(value));
        }
        auto t = ParseRfc3339(std::string_view(value.get_string()));
        if (!t) return InvalidArgument("invalid timestamp_value: " + t.error().message());
        raw.ints.push_back(FloorDiv(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count(),
            1'000'000'000));
        break;
      }
      case Predicate::Kind::kInts:
      case Predicate::Kind::kLongs:
      case Predicate::Kind::kStrings: {
        const json::object* list = value.if_object();
        if (!list) return InvalidArgument("invalid value for " + std::string(vf->proto));
        for (const auto& [lk, lv] : *list) {
          if (std::string_view(lk) != "values") {
            return InvalidArgument("unknown field " + Quote(lk) + " in " + std::string(vf->proto));
          }
          if (lv.is_null()) continue;
          const json::array* arr = lv.if_array();
          if (!arr) return InvalidArgument("invalid value for " + std::string(vf->proto));
          for (const json::value& item : *arr) {
            if (vf->kind == Predicate::Kind::kStrings) {
              if (!item.is_string()) {
                return InvalidArgument("invalid value in string_values: " + Serialize(item));
              }
              raw.strings.emplace_back(item.get_string());
            } else {
              SKIFF_ASSIGN_OR_RETURN(int64_t n,
                                     JsonInt(item, vf->kind == Predicate::Kind::kInts, vf->proto));
              raw.ints.push_back(n);
            }
          }
        }
        break;
      }
    }
  }
  return raw;
}

std::string DescribeValue(const RawPredicate& raw) {
  if (!raw.kind) return "<nil>";
  if (IsStringKind(*raw.kind)) {
    if (!IsList(*raw.kind)) return raw.strings.empty() ? "" : raw.strings[0];
    std::string out = "[";
    for (size_t i = 0; i < raw.strings.size(); ++i) out += (i ? " " : "") + raw.strings[i];
    return out + "]";
  }
  if (!IsList(*raw.kind)) return raw.ints.empty() ? "" : std::to_string(raw.ints[0]);
  std::string out = "[";
  for (size_t i = 0; i < raw.ints.size(); ++i) out += (i ? " " : "") + std::to_string(raw.ints[i]);
  return out + "]";
}

// KFP's checkPredicate, then the key through the schema.
Result<Predicate> ResolvePredicate(RawPredicate raw, const ResourceSchema& schema,
                                   bool apply_aliases) {
  if (raw.op < 1 || raw.op > 8) {
    return InvalidArgument("invalid predicate operation: " + std::to_string(raw.op));
  }
  auto op = static_cast<FilterOp>(raw.op);
  if (!raw.kind) {
    return InvalidArgument("predicate on " + Quote(raw.key) + " has no value");
  }
  if (raw.key.empty()) {
    return InvalidArgument("Predicate key cannot be empty for operation " +
                           std::string(FilterOpName(op)) + " and value " + DescribeValue(raw));
  }
  Predicate::Kind kind = *raw.kind;
  if (op == FilterOp::kIn && !IsList(kind)) {
    return InvalidArgument("cannot use IN operator with scalar type " +
                           std::string(KindGoType(kind)));
  }
  if (op != FilterOp::kIn && op != FilterOp::kIsSubstring && IsList(kind)) {
    return InvalidArgument("cannot use scalar operator " + std::string(FilterOpName(op)) +
                           " on array type " + std::string(KindGoType(kind)));
  }
  if (op == FilterOp::kIsSubstring && kind != Predicate::Kind::kString) {
    return InvalidArgument("cannot use non string value type " + std::string(KindGoType(kind)) +
                           " with operator IS_SUBSTRING");
  }
  const FieldSpec* field = schema.Find(raw.key);
  if (!field || !field->filterable) {
    return InvalidArgument("no support for filtering on unrecognized field " + Quote(raw.key));
  }
  Predicate p;
  p.op = op;
  p.key = std::move(raw.key);
  p.row_key = field->row_key;
  p.type = field->type;
  p.kind = kind;
  p.ints = std::move(raw.ints);
  p.strings.reserve(raw.strings.size());
  for (std::string& s : raw.strings) {
    if (apply_aliases) {
      for (const auto& [from, to] : field->value_aliases) {
        if (CompareCi(from, s) == 0) {
          s = to;
          break;
        }
      }
    }
    p.strings.push_back(AsciiLower(s));
  }
  return p;
}

json::value CanonicalPredicate(const Predicate& p) {
  json::array values;
  for (int64_t i : p.ints) values.emplace_back(i);
  for (const std::string& s : p.strings) values.emplace_back(s);
  return json::array{static_cast<int>(p.op), p.key, static_cast<int>(p.kind), std::move(values)};
}

std::string CanonicalText(const std::vector<Predicate>& predicates) {
  if (predicates.empty()) return {};
  std::vector<std::string> parts;
  parts.reserve(predicates.size());
  for (const Predicate& p : predicates) parts.push_back(Serialize(CanonicalPredicate(p)));
  std::sort(parts.begin(), parts.end());
  std::string out = "[";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out + "]";
}

// Rebuilds a filter from its canonical form (from a token). Checks it against the schema.
Result<Filter> FilterFromCanonical(const json::value& v, const ResourceSchema& schema) {
  Filter f;
  if (v.is_null()) return f;
  const json::array* arr = v.if_array();
  if (!arr) return InvalidArgument("bad filter");
  for (const json::value& item : *arr) {
    const json::array* p = item.if_array();
    if (!p || p->size() != 4 || !(*p)[0].is_int64() || !(*p)[1].is_string() ||
        !(*p)[2].is_int64() || !(*p)[3].is_array()) {
      return InvalidArgument("bad predicate");
    }
    int64_t kind = (*p)[2].get_int64();
    if (kind < 0 || kind > static_cast<int>(Predicate::Kind::kStrings)) {
      return InvalidArgument("bad predicate");
    }
    RawPredicate raw;
    raw.op = static_cast<int>((*p)[0].get_int64());
    raw.key = std::string((*p)[1].get_string());
    raw.kind = static_cast<Predicate::Kind>(kind);
    for (const json::value& x : (*p)[3].get_array()) {
      if (IsStringKind(*raw.kind) && x.is_string()) {
        raw.strings.emplace_back(x.get_string());
      } else if (!IsStringKind(*raw.kind) && x.is_int64()) {
        raw.ints.push_back(x.get_int64());
      } else {
        return InvalidArgument("bad predicate value");
      }
    }
    if (!IsList(*raw.kind) && raw.ints.size() + raw.strings.size() != 1) {
      return InvalidArgument("bad predicate value");
    }
    SKIFF_ASSIGN_OR_RETURN(Predicate pred, ResolvePredicate(std::move(raw), schema, false));
    f.predicates.push_back(std::move(pred));
  }
  f.canonical = CanonicalText(f.predicates);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Matching.

std::optional<int64_t> StringAsNumber(std::string_view s, FieldType type) {
  if (auto n = ParseInt64(s)) return n;
  if (type == FieldType::kTimestampSeconds || type == FieldType::kTimestampMillis) {
    if (auto t = ParseRfc3339(s)) {
      return FloorDiv(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count(),
          1'000'000'000);
    }
  }
  return std::nullopt;
}

bool OpHolds(FilterOp op, int cmp) {
  switch (op) {
    case FilterOp::kEquals:
    case FilterOp::kIn:
      return cmp == 0;
    case FilterOp::kNotEquals:
      return cmp != 0;
    case FilterOp::kGreaterThan:
      return cmp > 0;
    case FilterOp::kGreaterThanEquals:
      return cmp >= 0;
    case FilterOp::kLessThan:
      return cmp < 0;
    case FilterOp::kLessThanEquals:
      return cmp <= 0;
    case FilterOp::kIsSubstring:
      return false;
  }
  return false;
}

int Cmp(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// `get(row_key)` reads the row's field ("" = its id).
template <class Get>
bool MatchesOne(const Predicate& p, const Get& get) {
  ValueView field = get(p.row_key);
  if (std::holds_alternative<std::monostate>(field)) return false;  // SQL NULL
  bool is_in = p.op == FilterOp::kIn;
  if (const auto* s = std::get_if<std::string_view>(&field)) {
    if (p.op == FilterOp::kIsSubstring) return ContainsCi(*s, p.strings[0]);
    if (IsStringKind(p.kind)) {
      for (const std::string& v : p.strings) {
        if (OpHolds(p.op, CompareCi(*s, v))) return true;
        if (!is_in) return false;
      }
      return false;
    }
    std::optional<int64_t> n = StringAsNumber(*s, p.type);
    if (!n) return false;
    for (int64_t v : p.ints) {
      if (OpHolds(p.op, Cmp(*n, v))) return true;
      if (!is_in) return false;
    }
    return false;
  }
  int64_t n = std::get<int64_t>(field);
  if (p.type == FieldType::kTimestampMillis) n = FloorDiv(n, 1000);
  if (p.op == FilterOp::kIsSubstring) return ContainsCi(std::to_string(n), p.strings[0]);
  if (IsStringKind(p.kind)) {
    for (const std::string& v : p.strings) {
      std::optional<int64_t> x = StringAsNumber(v, p.type);
      if (x && OpHolds(p.op, Cmp(n, *x))) return true;
      if (!is_in) return false;
    }
    return false;
  }
  for (int64_t v : p.ints) {
    if (OpHolds(p.op, Cmp(n, v))) return true;
    if (!is_in) return false;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Page tokens.

std::string Mac(std::string_view secret, std::string_view payload) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string MakeToken(const ListQuery& q, const ValueView& v, std::string_view last_id) {
  json::object t;
  t["v"] = 1;
  t["t"] = q.type_name;
  t["s"] = q.sort.api_name;
  t["d"] = q.sort.desc;
  if (!q.filter.canonical.empty()) {
    auto parsed = ParseJson(q.filter.canonical);
    if (parsed) t["f"] = std::move(*parsed);
  }
  if (const auto* i = std::get_if<int64_t>(&v)) {
    t["k"] = *i;
  } else if (const auto* s = std::get_if<std::string_view>(&v)) {
    t["k"] = *s;
  } else {
    t["k"] = nullptr;
  }
  t["i"] = last_id;
  std::string payload = Base64UrlEncode(Serialize(t));
  if (!q.token_secret.empty()) payload += "." + Base64UrlEncode(Mac(q.token_secret, payload));
  return payload;
}

Status BadToken(std::string_view why) {
  return InvalidInput("Invalid page token: " + std::string(why));
}

struct DecodedToken {
  std::string sort_api_name;
  bool desc = false;
  Filter filter;
  Cursor cursor;
};

Result<DecodedToken> DecodeToken(std::string_view token, const ResourceSchema& schema) {
  std::string_view payload = token;
  size_t dot = token.find('.');
  if (!schema.token_secret.empty()) {
    if (dot == std::string_view::npos) return BadToken("not signed");
    payload = token.substr(0, dot);
    auto mac = Base64UrlDecode(token.substr(dot + 1));
    if (!mac || !ConstantTimeEquals(*mac, Mac(schema.token_secret, payload))) {
      return BadToken("signature does not match");
    }
  } else if (dot != std::string_view::npos) {
    return BadToken("signed by another server");
  }
  auto bytes = Base64UrlDecode(payload);
  if (!bytes) return BadToken("not base64url");
  auto parsed = ParseJsonObject(*bytes);
  if (!parsed) return BadToken("not JSON");
  const json::object& t = *parsed;
  const json::value* v = t.if_contains("v");
  const json::value* type = t.if_contains("t");
  const json::value* sort = t.if_contains("s");
  const json::value* desc = t.if_contains("d");
  const json::value* key = t.if_contains("k");
  const json::value* id = t.if_contains("i");
  if (!v || !v->is_int64() || v->get_int64() != 1 || !type || !type->is_string() || !sort ||
      !sort->is_string() || !desc || !desc->is_bool() || !key || !id || !id->is_string()) {
    return BadToken("malformed");
  }
  if (std::string_view(type->get_string()) != schema.type_name) {
    return BadToken("made for another resource type");
  }
  const FieldSpec* field = schema.Find(std::string_view(sort->get_string()));
  if (!field || !field->sortable) return BadToken("unknown sort field");
  DecodedToken out;
  out.sort_api_name = field->api_name;
  out.desc = desc->get_bool();
  if (const json::value* f = t.if_contains("f")) {
    auto filter = FilterFromCanonical(*f, schema);
    if (!filter) return BadToken("bad filter: " + filter.error().message());
    out.filter = std::move(*filter);
  }
  if (key->is_null()) {
    out.cursor.value = std::monostate{};
  } else if (key->is_int64()) {
    out.cursor.value = key->get_int64();
  } else if (key->is_string()) {
    out.cursor.value = std::string(key->get_string());
  } else {
    return BadToken("malformed sort value");
  }
  out.cursor.id = std::string(id->get_string());
  return out;
}

Result<int> ParsePageSize(std::string_view text) {
  int64_t n = 0;
  if (!text.empty()) {
    std::string_view digits = text;
    bool neg = false;
    if (digits[0] == '+' || digits[0] == '-') {
      neg = digits[0] == '-';
      digits.remove_prefix(1);
    }
    bool ok = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                             [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      return InvalidArgument("parsing field \"page_size\": strconv.ParseInt: parsing " +
                             Quote(text) + ": invalid syntax");
    }
    for (char c : digits) {
      n = n * 10 + (c - '0');
      if (n > int64_t{1} << 31) break;
    }
    if (neg) n = -n;
    if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max()) {
      return InvalidArgument("parsing field \"page_size\": strconv.ParseInt: parsing " +
                             Quote(text) + ": value out of range");
    }
  }
  if (n < 0) {
    return InvalidInput("The page size should be greater than 0. Got " + std::to_string(n));
  }
  if (n == 0) return kDefaultPageSize;
  return static_cast<int>(std::min<int64_t>(n, kMaxPageSize));
}

// KFP's NewOptions sort_by handling. Empty: the default field, ascending.
Result<SortSpec> ParseSortBy(std::string_view sort_by, const ResourceSchema& schema) {
  std::string lower = AsciiLower(sort_by);
  std::vector<std::string_view> words;
  std::string_view rest = lower;
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(" \t\n\r\v\f");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find_first_of(" \t\n\r\v\f");
    words.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  if (words.size() > 2 || (words.size() == 2 && words[1] != "desc" && words[1] != "asc")) {
    return InvalidInput("Received invalid sort by format " + Quote(sort_by) +
                        ". Supported format: \"field_name\", \"field_name desc\", or "
                        "\"field_name asc\"");
  }
  std::string_view name = words.empty() ? std::string_view(schema.default_sort) : words[0];
  const FieldSpec* field = schema.Find(name);
  if (!field || !field->sortable) {
    return InvalidInput("Invalid sorting field: " + Quote(name) + " on listable type " +
                        schema.type_name);
  }
  SortSpec sort;
  sort.api_name = field->api_name;
  sort.row_key = field->row_key;
  sort.type = field->row_key.empty() ? FieldType::kString : field->type;
  sort.desc = words.size() == 2 && words[1] == "desc";
  return sort;
}

struct Entry {
  ValueView value;
  std::string_view id;
  size_t index;
};

}  // namespace

const FieldValue* Row::Find(std::string_view key) const {
  auto it = fields.find(key);
  return it == fields.end() ? nullptr : &it->second;
}

const FieldSpec* ResourceSchema::Find(std::string_view api_name) const {
  for (const FieldSpec& f : fields) {
    if (f.api_name == api_name) return &f;
  }
  return nullptr;
}

ResourceSchema KfpSchema(KfpResource resource, std::string token_secret) {
  const FieldType kStr = FieldType::kString;
  const FieldType kMs = FieldType::kTimestampMillis;
  const std::map<std::string, std::string> kStorageAliases = {
      {"STORAGESTATE_AVAILABLE", "AVAILABLE"},
      {"STORAGESTATE_ARCHIVED", "ARCHIVED"},
      {"STORAGE_STATE_UNSPECIFIED", "STORAGE_STATE_UNSPECIFIED"},
  };
  ResourceSchema s;
  s.default_sort = "created_at";
  s.token_secret = std::move(token_secret);
  auto add = [&](std::string api, std::string row_key, FieldType type,
                 std::map<std::string, std::string> aliases = {}) {
    s.fields.push_back(
        FieldSpec{std::move(api), std::move(row_key), type, true, true, std::move(aliases)});
  };
  auto common = [&](std::string v2_id) {
    add("id", "", kStr);
    add(std::move(v2_id), "", kStr);
    add("name", "display_name", kStr);
    add("display_name", "display_name", kStr);
    add("created_at", "created_at", kMs);
    add("description", "description", kStr);
  };
  switch (resource) {
    case KfpResource::kPipeline:
      s.type_name = "Pipeline";
      common("pipeline_id");
      add("namespace", "namespace", kStr);
      break;
    case KfpResource::kPipelineVersion:
      s.type_name = "PipelineVersion";
      common("pipeline_version_id");
      add("status", "status", kStr);
      break;
    case KfpResource::kExperiment:
      s.type_name = "Experiment";
      common("experiment_id");
      add("namespace", "namespace", kStr);
      add("storage_state", "storage_state", kStr, kStorageAliases);
      add("last_run_created_at", "last_run_created_at", kMs);
      break;
    case KfpResource::kRun:
      s.type_name = "Run";
      common("run_id");
      add("finished_at", "finished_at", kMs);
      add("scheduled_at", "scheduled_at", kMs);
      add("storage_state", "storage_state", kStr, kStorageAliases);
      add("status", "status", kStr);
      add("namespace", "namespace", kStr);
      add("experiment_id", "experiment_id", kStr);
      add("state", "state", kStr);
      add("recurring_run_id", "recurring_run_id", kStr);
      add("pipeline_version_id", "pipeline_version_id", kStr);
      add("pipeline_id", "pipeline_id", kStr);
      break;
    case KfpResource::kRecurringRun:
      s.type_name = "Job";
      common("recurring_run_id");
      add("updated_at", "updated_at", kMs);
      add("pipeline_name", "pipeline_name", kStr);
      add("pipeline_version_id", "pipeline_version_id", kStr);
      add("pipeline_id", "pipeline_id", kStr);
      add("package_id", "pipeline_id", kStr);  // KFP 1.x's name
      break;
  }
  return s;
}

std::string_view FilterOpName(FilterOp op) {
  switch (op) {
    case FilterOp::kEquals:
      return "EQUALS";
    case FilterOp::kNotEquals:
      return "NOT_EQUALS";
    case FilterOp::kGreaterThan:
      return "GREATER_THAN";
    case FilterOp::kGreaterThanEquals:
      return "GREATER_THAN_EQUALS";
    case FilterOp::kLessThan:
      return "LESS_THAN";
    case FilterOp::kLessThanEquals:
      return "LESS_THAN_EQUALS";
    case FilterOp::kIn:
      return "IN";
    case FilterOp::kIsSubstring:
      return "IS_SUBSTRING";
  }
  return "UNKNOWN";
}

Result<Filter> ParseFilter(ApiVersion version, std::string_view text,
                           const ResourceSchema& schema) {
  Filter filter;
  if (text.empty()) return filter;
  auto fail = [&](const Status& why) {
    return InvalidInput("failed to parse valid filter from " + Quote(text) + ": " + why.message());
  };
  auto decoded = QueryUnescape(text);
  if (!decoded) return fail(decoded.error());
  auto parsed = ParseJson(*decoded);
  if (!parsed) return fail(parsed.error());
  const json::object* obj = parsed->if_object();
  if (!obj) return fail(InvalidArgument("a filter must be a JSON object"));
  std::vector<RawPredicate> raws;
  for (const auto& [k, v] : *obj) {
    if (std::string_view(k) != "predicates")
      return fail(InvalidArgument("unknown field " + Quote(k)));
    if (v.is_null()) continue;
    const json::array* arr = v.if_array();
    if (!arr) return fail(InvalidArgument("predicates must be an array"));
    for (const json::value& p : *arr) {
      auto raw = ParseRawPredicate(version, p);
      if (!raw) return fail(raw.error());
      raws.push_back(std::move(*raw));
    }
  }
  for (RawPredicate& raw : raws) {
    auto p = ResolvePredicate(std::move(raw), schema, true);
    if (!p) return InvalidInput(p.error().message());
    filter.predicates.push_back(std::move(*p));
  }
  filter.canonical = CanonicalText(filter.predicates);
  return filter;
}

bool Matches(const Filter& filter, const Row& row) {
  auto get = [&](const std::string& key) { return FieldOf(row, key); };
  for (const Predicate& p : filter.predicates) {
    if (!MatchesOne(p, get)) return false;
  }
  return true;
}

Result<ListQuery> ParseListQuery(ApiVersion version, const ListParams& params,
                                 const ResourceSchema& schema) {
  ListQuery q;
  q.type_name = schema.type_name;
  q.token_secret = schema.token_secret;
  SKIFF_ASSIGN_OR_RETURN(q.page_size, ParsePageSize(params.page_size));
  if (params.page_token.empty()) {
    SKIFF_ASSIGN_OR_RETURN(q.sort, ParseSortBy(params.sort_by, schema));
    SKIFF_ASSIGN_OR_RETURN(q.filter, ParseFilter(version, params.filter, schema));
    return q;
  }
  SKIFF_ASSIGN_OR_RETURN(DecodedToken token, DecodeToken(params.page_token, schema));
  SKIFF_ASSIGN_OR_RETURN(q.sort, ParseSortBy(token.sort_api_name, schema));
  q.sort.desc = token.desc;
  q.filter = std::move(token.filter);
  q.after = std::move(token.cursor);
  if (!params.sort_by.empty() || !params.filter.empty()) {
    // As KFP: the request's criteria must be the token's.
    SKIFF_ASSIGN_OR_RETURN(SortSpec sort, ParseSortBy(params.sort_by, schema));
    SKIFF_ASSIGN_OR_RETURN(Filter filter, ParseFilter(version, params.filter, schema));
    if (sort.api_name != q.sort.api_name || sort.desc != q.sort.desc ||
        filter.canonical != q.filter.canonical) {
      return InvalidInput(
          "page token does not match the supplied sort by and/or filtering criteria. Either "
          "specify the same criteria or leave the latter empty if page token is specified.");
    }
  }
  return q;
}

int CompareForSort(const SortSpec& sort, const Row& a, const Row& b) {
  int c = CompareViews(FieldOf(a, sort.row_key), FieldOf(b, sort.row_key));
  if (c != 0) return c;
  c = a.id.compare(b.id);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

namespace {

// The one implementation: `id(i)` and `get(i, row_key)` read row i of `count`.
template <class IdFn, class GetFn>
IndexPage ApplyImpl(const ListQuery& query, size_t count, const IdFn& id, const GetFn& get) {
  IndexPage page;
  const bool desc = query.sort.desc;
  ValueView cursor_value;
  if (query.after) cursor_value = View(query.after->value);
  auto compare = [&](const ValueView& av, std::string_view aid, const ValueView& bv,
                     std::string_view bid) {
    int c = CompareViews(av, bv);
    if (c == 0) c = aid.compare(bid);
    return desc ? -c : c;
  };
  auto less = [&](const Entry& a, const Entry& b) {
    return compare(a.value, a.id, b.value, b.id) < 0;
  };
  // The page is the `n` smallest rows after the cursor: a bounded max-heap keeps them in one
  // pass (most rows cost one comparison with the heap's top).
  const size_t n = static_cast<size_t>(std::max(query.page_size, 1));
  std::vector<Entry> heap;
  heap.reserve(n);
  size_t after_cursor = 0;
  const std::string& sort_key = query.sort.row_key;
  for (size_t i = 0; i < count; ++i) {
    auto field = [&](const std::string& key) -> ValueView {
      if (key.empty()) return id(i);
      return get(i, key);
    };
    bool match = true;
    for (const Predicate& p : query.filter.predicates) {
      if (!MatchesOne(p, field)) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    ++page.total_size;
    std::string_view row_id = id(i);
    ValueView v = sort_key.empty() ? ValueView(row_id) : get(i, sort_key);
    if (query.after && compare(v, row_id, cursor_value, query.after->id) <= 0) continue;
    ++after_cursor;
    Entry e{v, row_id, i};
    if (heap.size() < n) {
      heap.push_back(e);
      std::push_heap(heap.begin(), heap.end(), less);
    } else if (less(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), less);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), less);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), less);
  page.items.reserve(heap.size());
  for (const Entry& e : heap) page.items.push_back(e.index);
  if (after_cursor > n && !heap.empty()) {
    page.next_page_token = MakeToken(query, heap.back().value, heap.back().id);
  }
  return page;
}

}  // namespace

IndexPage Apply(const ListQuery& query, const RowSource& source) {
  return ApplyImpl(
      query, source.size, [&](size_t i) { return source.id(i); },
      [&](size_t i, const std::string& key) { return source.field(i, key); });
}

ListPage Apply(const ListQuery& query, std::span<const Row* const> rows) {
  IndexPage indexed = ApplyImpl(
      query, rows.size(), [&](size_t i) { return std::string_view(rows[i]->id); },
      [&](size_t i, const std::string& key) {
        const FieldValue* v = rows[i]->Find(key);
        return v ? View(*v) : ValueView{};
      });
  ListPage page;
  page.items.reserve(indexed.items.size());
  for (size_t i : indexed.items) page.items.push_back(rows[i]);
  page.next_page_token = std::move(indexed.next_page_token);
  page.total_size = indexed.total_size;
  return page;
}

std::string OrderKey(const ListQuery& query) {
  return query.sort.row_key + (query.sort.desc ? " desc\n" : " asc\n") + query.filter.canonical;
}

namespace {

// Apply's order: the sort value, then the id; reversed for desc.
int CompareRows(const ListQuery& query, const ValueView& av, std::string_view aid,
                const ValueView& bv, std::string_view bid) {
  int c = CompareViews(av, bv);
  if (c == 0) c = aid.compare(bid);
  return query.sort.desc ? -c : c;
}

}  // namespace

std::vector<uint32_t> Order(const ListQuery& query, std::span<const Row* const> rows) {
  struct Keyed {
    ValueView value;
    std::string_view id;
    uint32_t index;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!Matches(query.filter, *rows[i])) continue;
    keyed.push_back({FieldOf(*rows[i], query.sort.row_key), rows[i]->id, static_cast<uint32_t>(i)});
  }
  std::sort(keyed.begin(), keyed.end(), [&](const Keyed& a, const Keyed& b) {
    return CompareRows(query, a.value, a.id, b.value, b.id) < 0;
  });
  std::vector<uint32_t> order;
  order.reserve(keyed.size());
  for (const Keyed& k : keyed) order.push_back(k.index);
  return order;
}

ListPage ApplyOrdered(const ListQuery& query, std::span<const Row* const> rows,
                      std::span<const uint32_t> order) {
  ListPage page;
  page.total_size = static_cast<int64_t>(order.size());
  size_t start = 0;
  if (query.after) {
    // The first row after the cursor.
    const ValueView cursor = View(query.after->value);
    auto it = std::partition_point(order.begin(), order.end(), [&](uint32_t i) {
      const Row& r = *rows[i];
      return CompareRows(query, FieldOf(r, query.sort.row_key), r.id, cursor, query.after->id) <= 0;
    });
    start = static_cast<size_t>(it - order.begin());
  }
  const size_t n = static_cast<size_t>(std::max(query.page_size, 1));
  const size_t end = std::min(order.size(), start + n);
  page.items.reserve(end - start);
  for (size_t k = start; k < end; ++k) page.items.push_back(rows[order[k]]);
  if (end < order.size() && !page.items.empty()) {
    const Row& last = *page.items.back();
    page.next_page_token = MakeToken(query, FieldOf(last, query.sort.row_key), last.id);
  }
  return page;
}

ListPage Apply(const ListQuery& query, std::span<const Row> rows) {
  std::vector<const Row*> pointers;
  pointers.reserve(rows.size());
  for (const Row& r : rows) pointers.push_back(&r);
  return Apply(query, std::span<const Row* const>(pointers));
}

int KfpHttpStatus(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return 200;
    case Code::kCancelled:
      return 499;
    case Code::kUnknown:
      return 500;
    case Code::kInvalidArgument:
      return 400;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kResourceExhausted:
      return 429;
    case Code::kFailedPrecondition:
      return 400;
    case Code::kAborted:
      return 409;
    case Code::kOutOfRange:
      return 400;
    case Code::kUnimplemented:
      return 501;
    case Code::kInternal:
      return 500;
    case Code::kUnavailable:
      return 503;
    case Code::kDataLoss:
      return 500;
    case Code::kUnauthenticated:
      return 401;
  }
  return 500;
}

std::string KfpErrorBody(const Status& status, ApiVersion version) {
  json::object body;
  const std::string& message = status.message();
  int code = static_cast<int>(status.code());
  if (version == ApiVersion::kV1beta1) {
    body["error"] = message;
    body["code"] = code;
    body["message"] = message;
    json::object detail;
    detail["@type"] = "type.googleapis.com/api.Error";
    detail["error_message"] = message;
    detail["error_details"] = message;
    body["details"] = json::array{std::move(detail)};
  } else {
    body["code"] = code;
    body["message"] = message;
    body["details"] = json::array{};
  }
  return Serialize(body);
}

}  // namespace skiff::pipelines
