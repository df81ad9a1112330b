#include "gateway/match.hpp"

#include <re2/re2.h>

#include <cmath>
#include <cstdio>

#include "core/status.hpp"

namespace skiff::gateway {

namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCaseAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCaseAscii(s.substr(0, prefix.size()), prefix);
}

StringMatch StringMatch::Exact(std::string value) {
  StringMatch m;
  m.kind_ = Kind::kExact;
  m.value_ = std::move(value);
  return m;
}

StringMatch StringMatch::Prefix(std::string value) {
  StringMatch m;
  m.kind_ = Kind::kPrefix;
  m.value_ = std::move(value);
  return m;
}

Result<StringMatch> StringMatch::Regex(std::string pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<RE2>(pattern, options);
  if (!re->ok()) return InvalidArgument(re->error());
  options.set_case_sensitive(false);
  auto re_ci = std::make_shared<RE2>(pattern, options);
  if (!re_ci->ok()) return InvalidArgument(re_ci->error());
  StringMatch m;
  m.kind_ = Kind::kRegex;
  m.value_ = std::move(pattern);
  m.re_ = std::move(re);
  m.re_ci_ = std::move(re_ci);
  return m;
}

bool StringMatch::Matches(std::string_view s, bool ignore_case) const {
  switch (kind_) {
    case Kind::kExact:
      return ignore_case ? EqualsIgnoreCaseAscii(s, value_) : s == value_;
    case Kind::kPrefix:
      return ignore_case ? StartsWithIgnoreCase(s, value_) : s.substr(0, value_.size()) == value_;
    case Kind::kRegex:
      return RE2::FullMatch(s, ignore_case ? *re_ci_ : *re_);
    case Kind::kPresent:
      return true;
  }
  return false;
}

std::string StringMatch::Describe() const {
  switch (kind_) {
    case Kind::kExact:
      return "exact " + value_;
    case Kind::kPrefix:
      return "prefix " + value_;
    case Kind::kRegex:
      return "regex " + value_;
    case Kind::kPresent:
      return "present";
  }
  return "";
}

std::string StringMatch::ReplaceAll(std::string_view input, std::string_view rewrite) const {
  SKIFF_CHECK(kind_ == Kind::kRegex);
  std::string out(input);
  RE2::GlobalReplace(&out, *re_, rewrite);
  return out;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid duration \"" + std::string(text) + "\": " + std::string(why));
  };
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative");
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string number(text.substr(start, i - start));
    if (number.empty() || number == "." || number.find('.') != number.rfind('.')) {
      return bad("expected a number");
    }
    size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else if (unit.empty()) {
      return bad("missing unit (use s, ms, m or h)");
    } else {
      return bad("unknown unit \"" + std::string(unit) + "\"");
    }
    total_ns += std::strtod(number.c_str(), nullptr) * scale;
  }
  if (total_ns > 1e9 * 3600 * 24 * 365 * 100) return bad("too large");
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(total_ns / 1e6 - 1e-9)));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld.%03llds", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  std::string s(buf);
  while (s.size() > 2 && s[s.size() - 2] == '0') s.erase(s.size() - 2, 1);
  return s;
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsValidHeaderValue(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace skiff::gateway
