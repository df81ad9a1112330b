#pragma once
// Settings: one JSON document merged from defaults < config file (YAML) < SKIFF_* environment
// variables < command-line flags, validated against the declared specs at load. Modules
// declare their settings (SettingSpec) and read typed values; sections with free structure
// (user lists, connectors) are declared as kSection and validated by their owners. An
// immutable value once loaded; share it as std::shared_ptr<const Settings>.
//
// Text forms (defaults, environment, flags): kBool takes true/false/yes/no/on/off/1/0 in any
// case; kDuration takes Go durations ("300ms", "1h30m") or bare seconds ("30"); kBytes takes
// "512", "64KiB", "1MiB", "1Gi" (binary) or "1M", "1GB" (decimal, powers of 1000, as in
// Kubernetes quantities); kSection takes YAML or JSON. In the file, a key with an empty value
// ("dataDir:") and, in the environment, an empty variable count as not given.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"

namespace skiff {

struct SettingSpec {
  enum class Type { kString, kInt, kBool, kDuration, kBytes, kSection };
  std::string key;  // dotted path in the config file, e.g. "http.maxBodyBytes"
  Type type = Type::kString;
  std::string default_value;  // in the same text form a flag takes; empty = unset
  std::string help;
  std::string flag;  // long flag name without dashes ("addr"), empty when there is none
  // The environment variable is derived: SKIFF_ + key upper-cased with '.' and camelCase
  // boundaries turned into '_' ("http.maxBodyBytes" -> SKIFF_HTTP_MAX_BODY_BYTES,
  // "tls.clientCAFile" -> SKIFF_TLS_CLIENT_CA_FILE).
};

std::string EnvNameFor(std::string_view key);

class Settings {
 public:
  // `config_text` is the YAML file content (empty when there is none); `config_name` is used in
  // error messages; `env` looks up environment variables; `flags` maps flag names that were
  // given on the command line to their values.
  static Result<Settings> Load(
      const std::vector<SettingSpec>& specs, std::string_view config_text,
      std::string_view config_name,
      const std::function<std::optional<std::string>(const std::string&)>& env,
      const std::map<std::string, std::string>& flags);

  // REQUIRES: `key` was declared with the matching type. Values were validated at load.
  std::string GetString(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  std::chrono::milliseconds GetDuration(std::string_view key) const;
  uint64_t GetBytes(std::string_view key) const;  // "1MiB", "64KiB", "512"
  // The raw subtree of a kSection setting (null when absent).
  const json::value& GetSection(std::string_view key) const;
  bool Has(std::string_view key) const;
  // Where the effective value came from: "default", "file", "env", "flag", or "unset".
  std::string SourceOf(std::string_view key) const;

  const json::value& document() const { return doc_; }

 private:
  json::value doc_ = json::object();
  std::map<std::string, std::string, std::less<>> source_;
};

Result<uint64_t> ParseBytes(std::string_view s);
// Reads the process environment (std::getenv).
std::optional<std::string> GetEnv(const std::string& name);

}  // namespace skiff
