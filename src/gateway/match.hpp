#pragma once
// Matching primitives of the routing table: Istio's StringMatch (exact, prefix, RE2 regex, or
// presence), Go/protobuf-style durations ("300s", "0.5s", "100ms", "1m30s") and header-name
// syntax. Sans-I/O; immutable after construction, so one object may be shared by any number of
// threads.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace re2 {
class RE2;
}

namespace skiff::gateway {

// Istio's StringMatch (networking.istio.io HTTPMatchRequest): exactly one of exact, prefix or
// regex. kPresent is the empty StringMatch `{}` Istio allows under `headers` and
// `withoutHeaders`: the header is present, whatever its value.
class StringMatch {
 public:
  enum class Kind { kExact, kPrefix, kRegex, kPresent };

  StringMatch() = default;  // kPresent
  static StringMatch Exact(std::string value);
  static StringMatch Prefix(std::string value);
  // RE2 syntax, matched against the whole input (RE2::FullMatch, as Envoy's safe_regex). An
  // invalid pattern is InvalidArgument with RE2's message.
  static Result<StringMatch> Regex(std::string pattern);

  Kind kind() const { return kind_; }
  const std::string& value() const { return value_; }

  // Whether `s` matches. `ignore_case` compares exact/prefix ASCII case-insensitively and runs
  // the regex with RE2's case-insensitive option (Istio's ignoreUriCase).
  bool Matches(std::string_view s, bool ignore_case = false) const;
  // "exact GET", "prefix /kfserving/team-a", "regex /v1/.*", "present".
  std::string Describe() const;
  // Replaces every match of the regex in `input` with `rewrite` (RE2 syntax, \1 for groups):
  // Envoy's regex_rewrite. REQUIRES: kind() == kRegex.
  std::string ReplaceAll(std::string_view input, std::string_view rewrite) const;

 private:
  Kind kind_ = Kind::kPresent;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;     // kRegex
  std::shared_ptr<const re2::RE2> re_ci_;  // kRegex, case-insensitive
};

// A duration as Istio accepts it: protobuf JSON seconds ("300s", "0.5s") and Go's
// time.ParseDuration units ("100ms", "1m", "1h30m", "250us"). Sub-millisecond remainders round
// up to the next millisecond. Refuses negative values, empty strings and unknown units.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
// "300s", "1.5s", "100ms": the shortest exact form of `d`.
std::string FormatDuration(std::chrono::milliseconds d);

// RFC 9110 token (header field name); pseudo-headers such as ":authority" are refused.
bool IsValidHeaderName(std::string_view name);
// No CR, LF or NUL (header injection).
bool IsValidHeaderValue(std::string_view value);

// ASCII lower-case copy.
std::string ToLower(std::string_view s);
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);

}  // namespace skiff::gateway
