#include "pipelines/argo_expr.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>
#include <variant>

namespace skiff::pipelines::argo {
namespace {

// --- `when`: a govaluate subset ---

enum class Tok { kNumber, kString, kBool, kOp, kLParen, kRParen, kEnd };

struct Token {
  Tok kind;
  std::string text;  // operator, string value or number text
  double number = 0;
  bool boolean = false;
};

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' ||
         static_cast<unsigned char>(c) >= 0x80;
}

Result<std::vector<Token>> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
      continue;
    }
    if (c == '(' || c == ')') {
      out.push_back({c == '(' ? Tok::kLParen : Tok::kRParen, std::string(1, c)});
      ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      std::string value;
      size_t j = i + 1;
      bool closed = false;
      while (j < s.size()) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          value.push_back(s[j + 1]);
          j += 2;
          continue;
        }
        if (s[j] == c) {
          closed = true;
          break;
        }
        value.push_back(s[j++]);
      }
      if (!closed)
        return InvalidArgument("unclosed string starting at offset " + std::to_string(i));
      out.push_back({Tok::kString, std::move(value)});
      i = j + 1;
      continue;
    }
    static constexpr std::string_view kOps[] = {"==", "!=", "<=", ">=", "=~", "!~",
                                                "&&", "||", "<",  ">",  "!"};
    bool matched = false;
    for (std::string_view op : kOps) {
      if (s.substr(i, op.size()) == op) {
        out.push_back({Tok::kOp, std::string(op)});
        i += op.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    // A number (optionally signed when nothing precedes it that could be an operand).
    bool sign_ok = (c == '-' || c == '+') && i + 1 < s.size() &&
                   (std::isdigit(static_cast<unsigned char>(s[i + 1])) != 0) &&
                   (out.empty() || out.back().kind == Tok::kOp || out.back().kind == Tok::kLParen);
    if (std::isdigit(static_cast<unsigned char>(c)) != 0 || sign_ok) {
      size_t j = i + 1;
      while (j < s.size() && IsWordChar(s[j])) ++j;
      std::string text(s.substr(i, j - i));
      double d = 0;
      std::string_view digits = text;
      if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
      if (ec == std::errc() && p == digits.data() + digits.size()) {
        out.push_back({Tok::kNumber, text, d});
      } else {
        out.push_back({Tok::kString, text});  // "3abc": a bare word, read as a string
      }
      i = j;
      continue;
    }
    if (IsWordChar(c)) {
      size_t j = i;
      while (j < s.size() && IsWordChar(s[j])) ++j;
      std::string word(s.substr(i, j - i));
      if (word == "true" || word == "false") {
        out.push_back({Tok::kBool, word, 0, word == "true"});
      } else {
        out.push_back({Tok::kString, word});  // Argo reads govaluate variables as strings
      }
      i = j;
      continue;
    }
    return InvalidArgument(std::string("unexpected character '") + c + "' at offset " +
                           std::to_string(i));
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

using Value = std::variant<double, std::string, bool>;

std::string Describe(const Value& v) {
  if (std::holds_alternative<double>(v)) return "number";
  if (std::holds_alternative<std::string>(v)) return "string";
  return "boolean";
}

// Recursive descent: or := and ('||' and)*; and := cmp ('&&' cmp)*; cmp := unary (OP unary)?;
// unary := '!' unary | '(' or ')' | literal. With `evaluate` false it only checks the syntax.
class WhenParser {
 public:
  WhenParser(std::vector<Token> tokens, bool evaluate)
      : tokens_(std::move(tokens)), evaluate_(evaluate) {}

  Result<Value> Parse() {
    SKIFF_ASSIGN_OR_RETURN(Value v, Or());
    if (Peek().kind != Tok::kEnd) return InvalidArgument("unexpected '" + Peek().text + "'");
    return v;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  bool AcceptOp(std::string_view op) {
    if (Peek().kind == Tok::kOp && Peek().text == op) {
      ++pos_;
      return true;
    }
    return false;
  }

  Result<bool> AsBool(const Value& v, std::string_view op) {
    if (!evaluate_) return false;
    if (const bool* b = std::get_if<bool>(&v)) return *b;
    return InvalidArgument(std::string("operator ") + std::string(op) + " needs booleans, got a " +
                           Describe(v));
  }

  Result<Value> Or() {
    SKIFF_ASSIGN_OR_RETURN(Value left, And());
    while (AcceptOp("||")) {
      SKIFF_ASSIGN_OR_RETURN(Value right, And());
      SKIFF_ASSIGN_OR_RETURN(bool l, AsBool(left, "||"));
      SKIFF_ASSIGN_OR_RETURN(bool r, AsBool(right, "||"));
      left = l || r;
    }
    return left;
  }

  Result<Value> And() {
    SKIFF_ASSIGN_OR_RETURN(Value left, Compare());
    while (AcceptOp("&&")) {
      SKIFF_ASSIGN_OR_RETURN(Value right, Compare());
      SKIFF_ASSIGN_OR_RETURN(bool l, AsBool(left, "&&"));
      SKIFF_ASSIGN_OR_RETURN(bool r, AsBool(right, "&&"));
      left = l && r;
    }
    return left;
  }

  Result<Value> Compare() {
    SKIFF_ASSIGN_OR_RETURN(Value left, Unary());
    static constexpr std::string_view kCmp[] = {"==", "!=", "<=", ">=", "<", ">", "=~", "!~"};
    for (std::string_view op : kCmp) {
      if (!AcceptOp(op)) continue;
      SKIFF_ASSIGN_OR_RETURN(Value right, Unary());
      if (!evaluate_) return Value(false);
      return Apply(op, left, right);
    }
    return left;
  }

  Result<Value> Apply(std::string_view op, const Value& l, const Value& r) {
    if (op == "==") return Value(l == r);
    if (op == "!=") return Value(!(l == r));
    if (op == "=~" || op == "!~") {
      const auto* text = std::get_if<std::string>(&l);
      const auto* pattern = std::get_if<std::string>(&r);
      if (text == nullptr || pattern == nullptr) {
        return InvalidArgument(std::string(op) + " needs two strings");
      }
      try {
        bool found = std::regex_search(*text, std::regex(*pattern, std::regex::ECMAScript));
        return Value(op == "=~" ? found : !found);
      } catch (const std::regex_error& e) {
        return InvalidArgument("bad regular expression '" + *pattern + "': " + e.what());
      }
    }
    int c = 0;
    if (std::holds_alternative<double>(l) && std::holds_alternative<double>(r)) {
      double a = std::get<double>(l), b = std::get<double>(r);
      c = a < b ? -1 : (a > b ? 1 : 0);
    } else if (std::holds_alternative<std::string>(l) && std::holds_alternative<std::string>(r)) {
      c = std::get<std::string>(l).compare(std::get<std::string>(r));
    } else {
      return InvalidArgument(std::string("cannot compare a ") + Describe(l) + " and a " +
                             Describe(r) + " with " + std::string(op));
    }
    if (op == "<") return Value(c < 0);
    if (op == ">") return Value(c > 0);
    if (op == "<=") return Value(c <= 0);
    return Value(c >= 0);
  }

  Result<Value> Unary() {
    if (AcceptOp("!")) {
      SKIFF_ASSIGN_OR_RETURN(Value v, Unary());
      SKIFF_ASSIGN_OR_RETURN(bool b, AsBool(v, "!"));
      return Value(!b);
    }
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kLParen: {
        ++pos_;
        SKIFF_ASSIGN_OR_RETURN(Value v, Or());
        if (Peek().kind != Tok::kRParen) return InvalidArgument("missing ')'");
        ++pos_;
        return v;
      }
      case Tok::kNumber:
        ++pos_;
        return Value(t.number);
      case Tok::kString:
        ++pos_;
        return Value(t.text);
      case Tok::kBool:
        ++pos_;
        return Value(t.boolean);
      case Tok::kEnd:
        return InvalidArgument("unexpected end of expression");
      default:
        return InvalidArgument("unexpected '" + t.text + "'");
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool evaluate_;
};

Result<Value> RunWhen(std::string_view expression, bool evaluate) {
  auto tokens = Lex(expression);
  if (!tokens) return tokens.error();
  if (tokens->size() == 1) return InvalidArgument("empty expression");
  return WhenParser(std::move(*tokens), evaluate).Parse();
}

}  // namespace

Result<bool> EvaluateWhen(std::string_view expression) {
  auto v = RunWhen(expression, true);
  if (!v) {
    return InvalidArgument("invalid 'when' expression '" + std::string(expression) +
                           "': " + v.error().message());
  }
  if (const bool* b = std::get_if<bool>(&*v)) return *b;
  return InvalidArgument("'when' expression '" + std::string(expression) +
                         "' is not a boolean (it is a " + Describe(*v) + ")");
}

Status CheckWhenSyntax(std::string_view expression) {
  auto v = RunWhen(expression, false);
  if (!v) {
    return InvalidArgument("invalid 'when' expression '" + std::string(expression) +
                           "': " + v.error().message());
  }
  return Status::Ok();
}

// --- `depends` ---

struct DependsExpr::Term {
  enum class Kind { kLeaf, kNot, kAnd, kOr } kind = Kind::kLeaf;
  std::string task;
  std::string result;
  std::shared_ptr<const Term> a, b;
};

namespace {

constexpr std::string_view kResults[] = {"Succeeded", "Failed",   "Errored",      "Skipped",
                                         "Omitted",   "Daemoned", "AnySucceeded", "AllFailed"};

using TermPtr = std::shared_ptr<const DependsExpr::Term>;

class DependsParser {
 public:
  explicit DependsParser(std::string_view s) : s_(s) {}

  Result<TermPtr> Parse(std::vector<std::string>& tasks) {
    tasks_ = &tasks;
    SKIFF_ASSIGN_OR_RETURN(TermPtr t, Or());
    SkipSpace();
    if (i_ != s_.size()) return Error("unexpected '" + std::string(s_.substr(i_, 1)) + "'");
    return t;
  }

 private:
  Status Error(std::string what) const {
    return InvalidArgument("invalid 'depends' expression '" + std::string(s_) + "': " + what);
  }
  void SkipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])) != 0) ++i_;
  }
  bool Accept(std::string_view op) {
    SkipSpace();
    if (s_.substr(i_, op.size()) == op) {
      i_ += op.size();
      return true;
    }
    return false;
  }
  static TermPtr Join(DependsExpr::Term::Kind kind, TermPtr a, TermPtr b) {
    auto t = std::make_shared<DependsExpr::Term>();
    t->kind = kind;
    t->a = std::move(a);
    t->b = std::move(b);
    return t;
  }

  Result<TermPtr> Or() {
    SKIFF_ASSIGN_OR_RETURN(TermPtr left, And());
    while (Accept("||")) {
      SKIFF_ASSIGN_OR_RETURN(TermPtr right, And());
      left = Join(DependsExpr::Term::Kind::kOr, left, right);
    }
    return left;
  }
  Result<TermPtr> And() {
    SKIFF_ASSIGN_OR_RETURN(TermPtr left, Unary());
    while (Accept("&&")) {
      SKIFF_ASSIGN_OR_RETURN(TermPtr right, Unary());
      left = Join(DependsExpr::Term::Kind::kAnd, left, right);
    }
    return left;
  }
  Result<TermPtr> Unary() {
    if (Accept("!")) {
      SKIFF_ASSIGN_OR_RETURN(TermPtr inner, Unary());
      return Join(DependsExpr::Term::Kind::kNot, inner, nullptr);
    }
    if (Accept("(")) {
      SKIFF_ASSIGN_OR_RETURN(TermPtr inner, Or());
      if (!Accept(")")) return Error("missing ')'");
      return inner;
    }
    SkipSpace();
    size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) != 0 ||
                              s_[i_] == '-' || s_[i_] == '_' || s_[i_] == '.')) {
      ++i_;
    }
    std::string word(s_.substr(start, i_ - start));
    if (word.empty()) {
      return Error(i_ < s_.size() ? "unexpected '" + std::string(s_.substr(i_, 1)) + "'"
                                  : "unexpected end of expression");
    }
    auto leaf = std::make_shared<DependsExpr::Term>();
    leaf->task = word;
    if (size_t dot = word.rfind('.'); dot != std::string::npos) {
      std::string_view suffix = std::string_view(word).substr(dot + 1);
      if (std::find(std::begin(kResults), std::end(kResults), suffix) == std::end(kResults)) {
        return Error("unknown task result '" + std::string(suffix) + "' (one of Succeeded, " +
                     "Failed, Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed)");
      }
      leaf->task = word.substr(0, dot);
      leaf->result = std::string(suffix);
    }
    if (leaf->task.empty()) return Error("a result without a task");
    if (std::find(tasks_->begin(), tasks_->end(), leaf->task) == tasks_->end()) {
      tasks_->push_back(leaf->task);
    }
    return TermPtr(leaf);
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<std::string>* tasks_ = nullptr;
};

bool Eval(const DependsExpr::Term& t, const DependsExpr::Query& q) {
  using K = DependsExpr::Term::Kind;
  switch (t.kind) {
    case K::kLeaf:
      return q(t.task, t.result);
    case K::kNot:
      return !Eval(*t.a, q);
    case K::kAnd:
      return Eval(*t.a, q) && Eval(*t.b, q);
    case K::kOr:
      return Eval(*t.a, q) || Eval(*t.b, q);
  }
  return false;
}

}  // namespace

Result<DependsExpr> DependsExpr::Parse(std::string_view text) {
  DependsExpr e;
  e.text_ = std::string(text);
  auto root = DependsParser(text).Parse(e.tasks_);
  if (!root) return root.error();
  e.root_ = std::move(*root);
  return e;
}

DependsExpr DependsExpr::AllOf(const std::vector<std::string>& tasks) {
  DependsExpr e;
  TermPtr root;
  for (const std::string& task : tasks) {
    if (std::find(e.tasks_.begin(), e.tasks_.end(), task) != e.tasks_.end()) continue;
    e.tasks_.push_back(task);
    auto leaf = std::make_shared<Term>();
    leaf->task = task;
    if (!e.text_.empty()) e.text_ += " && ";
    e.text_ += task;
    if (!root) {
      root = leaf;
    } else {
      auto both = std::make_shared<Term>();
      both->kind = Term::Kind::kAnd;
      both->a = root;
      both->b = leaf;
      root = both;
    }
  }
  e.root_ = root;
  return e;
}

bool DependsExpr::Evaluate(const Query& query) const {
  return root_ == nullptr || Eval(*root_, query);
}

}  // namespace skiff::pipelines::argo
