#include "pipelines/ir_cel.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace skiff::pipelines {

namespace cel_detail {

enum class Kind { kLiteral, kParameters, kIndex, kCall, kNot, kNeg, kAnd, kOr, kCompare };

struct Node {
  Kind kind = Kind::kLiteral;
  json::value literal;  // kLiteral
  std::string op;       // kCall: function name; kCompare: "==", "<", ...
  std::vector<std::shared_ptr<const Node>> args;
};

}  // namespace cel_detail

namespace {

using cel_detail::Kind;
using NodePtr = std::shared_ptr<const cel_detail::Node>;

NodePtr Make(Kind kind, std::vector<NodePtr> args = {}, std::string op = {}) {
  auto n = std::make_shared<cel_detail::Node>();
  n->kind = kind;
  n->args = std::move(args);
  n->op = std::move(op);
  return n;
}

NodePtr Literal(json::value v) {
  auto n = std::make_shared<cel_detail::Node>();
  n->kind = Kind::kLiteral;
  n->literal = std::move(v);
  return n;
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdent(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// Recursive descent over the text; positions in errors are 0-based offsets.
class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<NodePtr> ParseAll() {
    SKIFF_ASSIGN_OR_RETURN(NodePtr e, Or());
    Skip();
    if (pos_ != s_.size()) return Error("unexpected text");
    return e;
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgument("condition '" + std::string(s_) + "': " + std::string(what) +
                           " at offset " + std::to_string(pos_) +
                           " (skiff supports KFP's CEL subset: inputs.parameter_values[...], "
                           "int/double/string/bool, comparisons, &&, ||, !)");
  }
  void Skip() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }

  Result<NodePtr> Or() {
    SKIFF_ASSIGN_OR_RETURN(NodePtr left, And());
    while (Eat("||")) {
      SKIFF_ASSIGN_OR_RETURN(NodePtr right, And());
      left = Make(Kind::kOr, {left, right});
    }
    return left;
  }
  Result<NodePtr> And() {
    SKIFF_ASSIGN_OR_RETURN(NodePtr left, Compare());
    while (Eat("&&")) {
      SKIFF_ASSIGN_OR_RETURN(NodePtr right, Compare());
      left = Make(Kind::kAnd, {left, right});
    }
    return left;
  }
  Result<NodePtr> Compare() {
    SKIFF_ASSIGN_OR_RETURN(NodePtr left, Unary());
    static constexpr std::string_view kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (;;) {
      Skip();
      std::string_view found;
      for (std::string_view op : kOps) {
        if (s_.substr(pos_, op.size()) == op) {
          found = op;
          break;
        }
      }
      if (found.empty()) return left;
      pos_ += found.size();
      SKIFF_ASSIGN_OR_RETURN(NodePtr right, Unary());
      left = Make(Kind::kCompare, {left, right}, std::string(found));
    }
  }
  Result<NodePtr> Unary() {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == '!' && s_.substr(pos_, 2) != "!=") {
      ++pos_;
      SKIFF_ASSIGN_OR_RETURN(NodePtr e, Unary());
      return Make(Kind::kNot, {e});
    }
    if (pos_ < s_.size() && s_[pos_] == '-') {
      ++pos_;
      SKIFF_ASSIGN_OR_RETURN(NodePtr e, Unary());
      return Make(Kind::kNeg, {e});
    }
    return Postfix();
  }
  Result<NodePtr> Postfix() {
    SKIFF_ASSIGN_OR_RETURN(NodePtr e, Primary());
    while (Eat("[")) {
      SKIFF_ASSIGN_OR_RETURN(NodePtr key, Or());
      if (!Eat("]")) return Error("expected ']'");
      e = Make(Kind::kIndex, {e, key});
    }
    return e;
  }
  Result<NodePtr> Primary() {
    Skip();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      SKIFF_ASSIGN_OR_RETURN(NodePtr e, Or());
      if (!Eat(")")) return Error("expected ')'");
      return e;
    }
    if (c == '\'' || c == '"') return String();
    if ((c >= '0' && c <= '9') || c == '.') return Number();
    if (!IsIdentStart(c)) return Error("unexpected character");
    size_t start = pos_;
    while (pos_ < s_.size() && (IsIdent(s_[pos_]) || s_[pos_] == '.')) ++pos_;
    std::string_view ident = s_.substr(start, pos_ - start);
    if (ident == "true") return Literal(true);
    if (ident == "false") return Literal(false);
    if (ident == "null") return Literal(nullptr);
    if (ident == "inputs.parameter_values") return Make(Kind::kParameters);
    if (ident == "int" || ident == "double" || ident == "string" || ident == "bool") {
      if (!Eat("(")) return Error("expected '(' after " + std::string(ident));
      SKIFF_ASSIGN_OR_RETURN(NodePtr arg, Or());
      if (!Eat(")")) return Error("expected ')'");
      return Make(Kind::kCall, {arg}, std::string(ident));
    }
    pos_ = start;
    return Error("unsupported name '" + std::string(ident) + "'");
  }
  Result<NodePtr> String() {
    char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) break;
        char e = s_[pos_++];
        switch (e) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          default:
            out += e;  // \\ \' \"
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= s_.size()) return Error("unterminated string");
    ++pos_;
    return Literal(json::value(out));
  }
  Result<NodePtr> Number() {
    size_t start = pos_;
    bool is_double = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c >= '0' && c <= '9') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_double = true;
        ++pos_;
        if (c != '.' && pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      } else {
        break;
      }
    }
    std::string_view num = s_.substr(start, pos_ - start);
    if (pos_ < s_.size() && (s_[pos_] == 'u' || s_[pos_] == 'U')) ++pos_;  // unsigned suffix
    if (is_double) {
      double d = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), d);
      if (ec != std::errc() || p != num.data() + num.size()) return Error("bad number");
      return Literal(d);
    }
    int64_t i = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), i);
    if (ec != std::errc() || p != num.data() + num.size()) return Error("bad number");
    return Literal(i);
  }

  std::string_view s_;
  size_t pos_ = 0;
};

Status EvalError(std::string what) { return InvalidArgument("condition: " + std::move(what)); }

std::string TypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "bool";
    case json::kind::int64:
    case json::kind::uint64:
      return "int";
    case json::kind::double_:
      return "double";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "list";
    case json::kind::object:
      return "map";
  }
  return "?";
}

bool IsNumber(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }
double AsDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

Result<json::value> ToInt(const json::value& v) {
  if (v.is_int64()) return v;
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return EvalError("int() out of range");
    return json::value(static_cast<int64_t>(v.get_uint64()));
  }
  if (v.is_double()) {
    double d = std::trunc(v.get_double());
    if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return EvalError("int() out of range");
    return json::value(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    std::string_view s = v.get_string();
    int64_t i = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
      return EvalError("int('" + std::string(s) + "'): not an integer");
    return json::value(i);
  }
  return EvalError("int() of a " + TypeName(v));
}

Result<json::value> ToDouble(const json::value& v) {
  if (IsNumber(v)) return json::value(AsDouble(v));
  if (v.is_string()) {
    std::string_view s = v.get_string();
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
      return EvalError("double('" + std::string(s) + "'): not a number");
    return json::value(d);
  }
  return EvalError("double() of a " + TypeName(v));
}

Result<json::value> ToStringValue(const json::value& v) {
  if (v.is_string()) return v;
  if (v.is_bool()) return json::value(v.get_bool() ? "true" : "false");
  if (IsNumber(v)) return json::value(Serialize(v));
  return EvalError("string() of a " + TypeName(v));
}

Result<json::value> ToBool(const json::value& v) {
  if (v.is_bool()) return v;
  if (v.is_string()) {
    std::string_view s = v.get_string();
    if (s == "true" || s == "True" || s == "TRUE" || s == "1" || s == "t") return json::value(true);
    if (s == "false" || s == "False" || s == "FALSE" || s == "0" || s == "f")
      return json::value(false);
    return EvalError("bool('" + std::string(s) + "'): not a boolean");
  }
  return EvalError("bool() of a " + TypeName(v));
}

Result<json::value> Compare(const std::string& op, const json::value& a, const json::value& b) {
  int cmp = 0;
  bool ordered = true;
  if (IsNumber(a) && IsNumber(b)) {
    if (a.is_int64() && b.is_int64()) {
      cmp = a.get_int64() < b.get_int64() ? -1 : (a.get_int64() > b.get_int64() ? 1 : 0);
    } else {
      double x = AsDouble(a), y = AsDouble(b);
      cmp = x < y ? -1 : (x > y ? 1 : 0);
    }
  } else if (a.is_string() && b.is_string()) {
    int c = a.get_string().compare(b.get_string());
    cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
  } else if (a.is_bool() && b.is_bool()) {
    cmp = static_cast<int>(a.get_bool()) - static_cast<int>(b.get_bool());
  } else {
    ordered = false;
  }
  if (op == "==") return json::value(ordered ? cmp == 0 : (a == b));
  if (op == "!=") return json::value(ordered ? cmp != 0 : !(a == b));
  if (!ordered) return EvalError("cannot compare a " + TypeName(a) + " with a " + TypeName(b));
  if (op == "<") return json::value(cmp < 0);
  if (op == "<=") return json::value(cmp <= 0);
  if (op == ">") return json::value(cmp > 0);
  return json::value(cmp >= 0);
}

Result<bool> RequireBool(const json::value& v, std::string_view where) {
  if (!v.is_bool()) return EvalError(std::string(where) + " needs a bool, got a " + TypeName(v));
  return v.get_bool();
}

Result<json::value> Eval(const cel_detail::Node& n, const json::object& params) {
  switch (n.kind) {
    case Kind::kLiteral:
      return n.literal;
    case Kind::kParameters:
      return json::value(params);
    case Kind::kIndex: {
      SKIFF_ASSIGN_OR_RETURN(json::value base, Eval(*n.args[0], params));
      SKIFF_ASSIGN_OR_RETURN(json::value key, Eval(*n.args[1], params));
      if (base.is_object() && key.is_string()) {
        const json::value* v = base.get_object().if_contains(key.get_string());
        if (!v) return EvalError("no such key '" + std::string(key.get_string()) + "'");
        return *v;
      }
      if (base.is_array() && (key.is_int64() || key.is_uint64())) {
        int64_t i = key.is_int64() ? key.get_int64() : static_cast<int64_t>(key.get_uint64());
        if (i < 0 || static_cast<size_t>(i) >= base.get_array().size())
          return EvalError("index " + std::to_string(i) + " out of range");
        return base.get_array()[static_cast<size_t>(i)];
      }
      return EvalError("cannot index a " + TypeName(base) + " with a " + TypeName(key));
    }
    case Kind::kCall: {
      SKIFF_ASSIGN_OR_RETURN(json::value arg, Eval(*n.args[0], params));
      if (n.op == "int") return ToInt(arg);
      if (n.op == "double") return ToDouble(arg);
      if (n.op == "string") return ToStringValue(arg);
      return ToBool(arg);
    }
    case Kind::kNot: {
      SKIFF_ASSIGN_OR_RETURN(json::value v, Eval(*n.args[0], params));
      SKIFF_ASSIGN_OR_RETURN(bool b, RequireBool(v, "!"));
      return json::value(!b);
    }
    case Kind::kNeg: {
      SKIFF_ASSIGN_OR_RETURN(json::value v, Eval(*n.args[0], params));
      if (v.is_int64()) return json::value(-v.get_int64());
      if (IsNumber(v)) return json::value(-AsDouble(v));
      return EvalError("unary minus of a " + TypeName(v));
    }
    case Kind::kAnd:
    case Kind::kOr: {
      const bool is_and = n.kind == Kind::kAnd;
      SKIFF_ASSIGN_OR_RETURN(json::value l, Eval(*n.args[0], params));
      SKIFF_ASSIGN_OR_RETURN(bool lb, RequireBool(l, is_and ? "&&" : "||"));
      if (is_and && !lb) return json::value(false);
      if (!is_and && lb) return json::value(true);
      SKIFF_ASSIGN_OR_RETURN(json::value r, Eval(*n.args[1], params));
      SKIFF_ASSIGN_OR_RETURN(bool rb, RequireBool(r, is_and ? "&&" : "||"));
      return json::value(rb);
    }
    case Kind::kCompare: {
      SKIFF_ASSIGN_OR_RETURN(json::value l, Eval(*n.args[0], params));
      SKIFF_ASSIGN_OR_RETURN(json::value r, Eval(*n.args[1], params));
      return Compare(n.op, l, r);
    }
  }
  return EvalError("internal: unknown node");
}

}  // namespace

Result<CelExpression> CelExpression::Parse(std::string_view text) {
  Parser parser(text);
  SKIFF_ASSIGN_OR_RETURN(NodePtr root, parser.ParseAll());
  CelExpression e;
  e.text_ = std::string(text);
  e.root_ = std::move(root);
  return e;
}

Result<json::value> CelExpression::Evaluate(const json::object& parameter_values) const {
  if (!root_) return EvalError("empty expression");
  auto r = Eval(*root_, parameter_values);
  if (!r) return r.error().WithPrefix("'" + text_ + "'");
  return r;
}

Result<bool> CelExpression::EvaluateCondition(const json::object& parameter_values) const {
  SKIFF_ASSIGN_OR_RETURN(json::value v, Evaluate(parameter_values));
  if (!v.is_bool()) return EvalError("'" + text_ + "' is a " + TypeName(v) + ", not a bool");
  return v.get_bool();
}

}  // namespace skiff::pipelines
