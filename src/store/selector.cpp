#include "store/selector.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

namespace skiff::store {

namespace {

// ---- Validation (k8s.io/apimachinery/pkg/util/validation) ----

constexpr size_t kQualifiedNameMaxLength = 63;
constexpr size_t kLabelValueMaxLength = 63;
constexpr size_t kDns1123SubdomainMaxLength = 253;
constexpr std::string_view kQualifiedNameRule =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";
constexpr std::string_view kLabelValueRule =
    "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')";
constexpr std::string_view kDns1123SubdomainRule =
    "must be a lowercase RFC 1123 subdomain: lower case alphanumeric characters, '-' or '.', "
    "starting and ending with an alphanumeric character (e.g. 'example.com')";

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], non-empty.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty()) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || !lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// ---- Lexer (selector.go Lexer) ----

enum class Tok {
  kIdentifier,
  kDoesNotExist,  // !
  kEquals,        // =
  kDoubleEquals,  // ==
  kNotEquals,     // !=
  kIn,
  kNotIn,
  kOpenPar,
  kClosedPar,
  kComma,
  kGreaterThan,
  kLessThan,
  kEnd,
};

struct Token {
  Tok tok;
  std::string lit;
  size_t pos;  // byte offset in the input
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::optional<Tok> SymbolToken(std::string_view s) {
  if (s == "!") return Tok::kDoesNotExist;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "=") return Tok::kEquals;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == "(") return Tok::kOpenPar;
  if (s == ")") return Tok::kClosedPar;
  if (s == ",") return Tok::kComma;
  if (s == ">") return Tok::kGreaterThan;
  if (s == "<") return Tok::kLessThan;
  return std::nullopt;
}

// Every special character is a token on its own, so the longest-match scan of selector.go
// reduces to "take two characters if they form a token, else one".
std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsWhitespace(s[i])) ++i;
    if (i >= s.size()) {
      out.push_back({Tok::kEnd, "", i});
      return out;
    }
    if (IsSpecial(s[i])) {
      if (i + 1 < s.size()) {
        if (auto t = SymbolToken(s.substr(i, 2))) {
          out.push_back({*t, std::string(s.substr(i, 2)), i});
          i += 2;
          continue;
        }
      }
      out.push_back({*SymbolToken(s.substr(i, 1)), std::string(1, s[i]), i});
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !IsSpecial(s[i]) && !IsWhitespace(s[i])) ++i;
    std::string lit(s.substr(start, i - start));
    Tok tok = lit == "in" ? Tok::kIn : lit == "notin" ? Tok::kNotIn : Tok::kIdentifier;
    out.push_back({tok, std::move(lit), start});
  }
}

// ---- Parser (selector.go Parser) ----

// In a value position the keywords "in" and "notin" are plain identifiers.
enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(Lex(text)) {}

  Result<std::vector<Requirement>> Parse() {
    std::vector<Requirement> out;
    while (true) {
      const Token& t = Lookahead(Context::kValues);
      if (Kind(t, Context::kValues) == Tok::kEnd) return out;
      if (Kind(t, Context::kValues) != Tok::kIdentifier &&
          Kind(t, Context::kValues) != Tok::kDoesNotExist) {
        return Error(t, "!, identifier, or end of string");
      }
      SKIFF_ASSIGN_OR_RETURN(Requirement r, ParseRequirement());
      out.push_back(std::move(r));
      const Token& next = Consume(Context::kValues);
      Tok kind = Kind(next, Context::kValues);
      if (kind == Tok::kEnd) return out;
      if (kind != Tok::kComma) return Error(next, "',' or end of string");
      const Token& after = Lookahead(Context::kValues);
      kind = Kind(after, Context::kValues);
      if (kind != Tok::kIdentifier && kind != Tok::kDoesNotExist) {
        return Error(after, "identifier after ','");
      }
    }
  }

 private:
  static Tok Kind(const Token& t, Context ctx) {
    if (ctx == Context::kValues && (t.tok == Tok::kIn || t.tok == Tok::kNotIn)) {
      return Tok::kIdentifier;
    }
    return t.tok;
  }
  const Token& Lookahead(Context) const { return tokens_[pos_]; }
  const Token& Consume(Context) {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }

  Status Error(const Token& found, std::string_view expected) const {
    std::string what = found.tok == Tok::kEnd ? "end of string" : "'" + found.lit + "'";
    return InvalidArgument("found " + what + " at position " + std::to_string(found.pos) +
                           ", expected: " + std::string(expected));
  }

  Result<Requirement> ParseRequirement() {
    Requirement r;
    bool not_exists = false;
    const Token* t = &Consume(Context::kValues);
    if (t->tok == Tok::kDoesNotExist) {
      not_exists = true;
      t = &Consume(Context::kValues);
    }
    if (Kind(*t, Context::kValues) != Tok::kIdentifier) return Error(*t, "identifier");
    r.key = t->lit;
    SKIFF_RETURN_IF_ERROR(ValidateLabelKey(r.key));
    // "!a" ends the requirement here; in "!a=b" the caller then fails on '='.
    Tok next = Kind(Lookahead(Context::kValues), Context::kValues);
    if (not_exists || next == Tok::kEnd || next == Tok::kComma) {
      r.op = not_exists ? Requirement::Op::kDoesNotExist : Requirement::Op::kExists;
      return r;
    }
    const Token& op = Consume(Context::kKeyAndOperator);
    switch (op.tok) {
      case Tok::kIn:
        r.op = Requirement::Op::kIn;
        break;
      case Tok::kNotIn:
        r.op = Requirement::Op::kNotIn;
        break;
      case Tok::kEquals:
      case Tok::kDoubleEquals:
        r.op = Requirement::Op::kEquals;
        break;
      case Tok::kNotEquals:
        r.op = Requirement::Op::kNotEquals;
        break;
      case Tok::kGreaterThan:
        r.op = Requirement::Op::kGreaterThan;
        break;
      case Tok::kLessThan:
        r.op = Requirement::Op::kLessThan;
        break;
      default:
        return Error(op, "one of in, notin, =, ==, !=, >, <");
    }
    if (r.op == Requirement::Op::kIn || r.op == Requirement::Op::kNotIn) {
      SKIFF_ASSIGN_OR_RETURN(r.values, ParseValues());
    } else {
      SKIFF_ASSIGN_OR_RETURN(std::string v, ParseExactValue());
      r.values.push_back(std::move(v));
    }
    for (const std::string& v : r.values) {
      SKIFF_RETURN_IF_ERROR(ValidateLabelValue(v).WithPrefix("key " + Quote(r.key)));
    }
    if (r.op == Requirement::Op::kGreaterThan || r.op == Requirement::Op::kLessThan) {
      if (!ParseInt64(r.values.front())) {
        return InvalidArgument("value " + Quote(r.values.front()) + " for key " + Quote(r.key) +
                               ": for '>' and '<' operators, the value must be an integer");
      }
    }
    return r;
  }

  // "(a,b)". A literal port of selector.go parseValues/parseIdentifiersList, quirks included:
  // empty items stand for the empty value ("()", "(,a)", "(a,)", "(a,,b)"), yet "(a,,)" fails.
  Result<std::vector<std::string>> ParseValues() {
    const Token& open = Consume(Context::kValues);
    if (open.tok != Tok::kOpenPar) return Error(open, "'('");
    const Token& first = Lookahead(Context::kValues);
    Tok kind = Kind(first, Context::kValues);
    if (kind == Tok::kClosedPar) {
      Consume(Context::kValues);
      return std::vector<std::string>{""};
    }
    if (kind != Tok::kIdentifier && kind != Tok::kComma) {
      return Error(first, "',', ')' or identifier");
    }
    std::set<std::string> values;
    while (true) {
      const Token& t = Consume(Context::kValues);
      Tok k = Kind(t, Context::kValues);
      if (k == Tok::kIdentifier) {
        values.insert(t.lit);
        const Token& next = Lookahead(Context::kValues);
        Tok nk = Kind(next, Context::kValues);
        if (nk == Tok::kComma) continue;
        if (nk == Tok::kClosedPar) break;
        return Error(next, "',' or ')'");
      }
      if (k != Tok::kComma) return Error(t, "',', or identifier");
      if (values.empty()) values.insert("");  // "(,"
      Tok nk = Kind(Lookahead(Context::kValues), Context::kValues);
      if (nk == Tok::kClosedPar) {
        values.insert("");  // ",)"
        break;
      }
      if (nk == Tok::kComma) {
        Consume(Context::kValues);
        values.insert("");  // ",,"
      }
    }
    const Token& close = Consume(Context::kValues);
    if (close.tok != Tok::kClosedPar) return Error(close, "')'");
    return std::vector<std::string>(values.begin(), values.end());
  }

  // "a=b"; "a=" (followed by ',' or the end) selects the empty value.
  Result<std::string> ParseExactValue() {
    const Token& t = Lookahead(Context::kValues);
    Tok k = Kind(t, Context::kValues);
    if (k == Tok::kEnd || k == Tok::kComma) return std::string();
    Consume(Context::kValues);
    if (k == Tok::kIdentifier) return t.lit;
    return Error(t, "identifier");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

template <class Lookup>
bool RequirementMatches(const Requirement& r, const Lookup& lookup) {
  std::optional<std::string_view> v = lookup(r.key);
  auto has_value = [&] {
    return std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
  };
  switch (r.op) {
    case Requirement::Op::kEquals:
    case Requirement::Op::kIn:
      return v && has_value();
    case Requirement::Op::kNotEquals:
    case Requirement::Op::kNotIn:
      return !v || !has_value();
    case Requirement::Op::kExists:
      return v.has_value();
    case Requirement::Op::kDoesNotExist:
      return !v;
    case Requirement::Op::kGreaterThan:
    case Requirement::Op::kLessThan: {
      if (!v || r.values.size() != 1) return false;
      std::optional<int64_t> have = ParseInt64(*v), want = ParseInt64(r.values.front());
      if (!have || !want) return false;
      return r.op == Requirement::Op::kGreaterThan ? *have > *want : *have < *want;
    }
  }
  return false;
}

}  // namespace

Status ValidateLabelKey(std::string_view key) {
  auto fail = [&](std::string_view why) {
    return InvalidArgument("invalid label key " + Quote(key) + ": " + std::string(why));
  };
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (key.find('/', slash + 1) != std::string_view::npos) {
      return fail(
          "a qualified name has at most one '/': an optional DNS subdomain prefix and '/' "
          "(e.g. 'example.com/MyName')");
    }
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) return fail("prefix part must be non-empty");
    if (prefix.size() > kDns1123SubdomainMaxLength) {
      return fail("prefix part must be no more than 253 characters");
    }
    if (!IsDns1123Subdomain(prefix)) {
      return fail("prefix part " + std::string(kDns1123SubdomainRule));
    }
  }
  if (name.empty()) return fail("name part must be non-empty");
  if (name.size() > kQualifiedNameMaxLength) {
    return fail("name part must be no more than 63 characters");
  }
  if (!IsQualifiedNamePart(name)) return fail("name part " + std::string(kQualifiedNameRule));
  return Status::Ok();
}

Status ValidateLabelValue(std::string_view value) {
  if (value.size() > kLabelValueMaxLength) {
    return InvalidArgument("invalid label value " + Quote(value) +
                           ": must be no more than 63 characters");
  }
  if (!value.empty() && !IsQualifiedNamePart(value)) {
    return InvalidArgument("invalid label value " + Quote(value) + ": " +
                           std::string(kLabelValueRule));
  }
  return Status::Ok();
}

Result<Selector> Selector::Parse(std::string_view text) {
  Parser parser(text);
  Result<std::vector<Requirement>> parsed = parser.Parse();
  if (!parsed) {
    return parsed.error().WithPrefix("invalid label selector " + Quote(text));
  }
  Selector s;
  s.requirements_ = std::move(*parsed);
  std::stable_sort(s.requirements_.begin(), s.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return s;
}

bool Selector::Matches(const std::map<std::string, std::string>& labels) const {
  auto lookup = [&](const std::string& key) -> std::optional<std::string_view> {
    auto it = labels.find(key);
    if (it == labels.end()) return std::nullopt;
    return std::string_view(it->second);
  };
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return RequirementMatches(r, lookup); });
}

bool Selector::MatchesObject(const json::object& object) const {
  if (requirements_.empty()) return true;
  static const json::object kNoLabels;
  const json::object* labels = &kNoLabels;
  if (auto it = object.find("metadata"); it != object.end() && it->value().is_object()) {
    const json::object& meta = it->value().get_object();
    if (auto lt = meta.find("labels"); lt != meta.end() && lt->value().is_object()) {
      labels = &lt->value().get_object();
    }
  }
  return MatchesLabels(*labels);
}

bool Selector::MatchesLabels(const json::object& labels) const {
  // A label whose value is not a string cannot have been written by a Kubernetes client; it
  // counts as absent.
  auto lookup = [&](const std::string& key) -> std::optional<std::string_view> {
    auto it = labels.find(key);
    if (it == labels.end() || !it->value().is_string()) return std::nullopt;
    const json::string& s = it->value().get_string();
    return std::string_view(s.data(), s.size());
  };
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return RequirementMatches(r, lookup); });
}

std::string Selector::ToString() const {
  std::string out;
  for (const Requirement& r : requirements_) {
    if (!out.empty()) out += ',';
    auto join = [&] {
      std::string s;
      for (size_t i = 0; i < r.values.size(); ++i) {
        if (i > 0) s += ',';
        s += r.values[i];
      }
      return s;
    };
    switch (r.op) {
      case Requirement::Op::kEquals:
        out += r.key + "=" + join();
        break;
      case Requirement::Op::kNotEquals:
        out += r.key + "!=" + join();
        break;
      case Requirement::Op::kIn:
        out += r.key + " in (" + join() + ")";
        break;
      case Requirement::Op::kNotIn:
        out += r.key + " notin (" + join() + ")";
        break;
      case Requirement::Op::kExists:
        out += r.key;
        break;
      case Requirement::Op::kDoesNotExist:
        out += "!" + r.key;
        break;
      case Requirement::Op::kGreaterThan:
        out += r.key + ">" + join();
        break;
      case Requirement::Op::kLessThan:
        out += r.key + "<" + join();
        break;
    }
  }
  return out;
}

}  // namespace skiff::store
