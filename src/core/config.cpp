#include "core/config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>

#include "core/clock.hpp"
#include "core/yaml.hpp"

namespace skiff {

namespace {

using Type = SettingSpec::Type;

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = key.find('.', start);
    out.emplace_back(key.substr(start, end == key.npos ? key.npos : end - start));
    if (end == key.npos) break;
    start = end + 1;
  }
  return out;
}

void SetPath(json::value& doc, std::string_view key, json::value v) {
  auto parts = SplitKey(key);
  json::object* obj = &doc.as_object();
  for (size_t i = 0; i + 1 < parts.size(); ++i) obj = &EnsureObject(*obj, parts[i]);
  (*obj)[parts.back()] = std::move(v);
}

// Converts a text value (flag, env var, default) to JSON of the declared type.
Result<json::value> FromText(const SettingSpec& spec, const std::string& text) {
  switch (spec.type) {
    case Type::kString:
      return json::value(json::string(text));
    case Type::kInt: {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || p != text.data() + text.size()) {
        return InvalidArgument("expected an integer, got \"" + text + "\"");
      }
      return json::value(n);
    }
    case Type::kBool: {
      std::string lower;
      for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        return json::value(true);
      }
      if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        return json::value(false);
      }
      return InvalidArgument("expected true or false, got \"" + text + "\"");
    }
    case Type::kDuration: {
      SKIFF_RETURN_IF_ERROR(ParseDuration(text));
      return json::value(json::string(text));
    }
    case Type::kBytes: {
      SKIFF_RETURN_IF_ERROR(ParseBytes(text));
      return json::value(json::string(text));
    }
    case Type::kSection:
      return ParseYaml(text);
  }
  return Internal("unknown setting type");
}

// Checks a value read from the config file against its declared type, normalizing numbers
// given for durations (seconds) and bytes.
Result<json::value> CheckFileValue(const SettingSpec& spec, const json::value& v) {
  switch (spec.type) {
    case Type::kString:
      if (v.is_string()) return v;
      if (v.is_double()) return json::value(json::string(FormatJsonNumber(v.get_double())));
      if (v.is_int64() || v.is_uint64() || v.is_bool()) {
        return json::value(json::string(Serialize(v)));
      }
      return InvalidArgument("expected a string");
    case Type::kInt:
      if (v.is_int64()) return v;
      if (v.is_uint64()) return InvalidArgument("integer out of range");
      return InvalidArgument("expected an integer");
    case Type::kBool:
      if (v.is_bool()) return v;
      return InvalidArgument("expected true or false");
    case Type::kDuration:
    case Type::kBytes:
      // Numbers (seconds, bytes) are validated in their text form like everything else.
      if (v.is_int64()) return FromText(spec, std::to_string(v.get_int64()));
      if (v.is_uint64()) return FromText(spec, std::to_string(v.get_uint64()));
      if (v.is_string()) return FromText(spec, std::string(v.get_string()));
      return InvalidArgument(spec.type == Type::kDuration
                                 ? "expected a duration such as 30s or 5m"
                                 : "expected a size such as 1MiB or 65536");
    case Type::kSection:
      return v;
  }
  return Internal("unknown setting type");
}

std::string PointerSegment(std::string_view key) {
  std::string out;
  for (char c : key) {
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

// Walks the file's document; every key must be declared, be a parent of declared keys (and then
// hold a mapping), or lie inside a declared key (a kSection's free structure).
Status CheckKnownKeys(const json::value& v, const std::string& prefix, const std::string& pointer,
                      const std::map<std::string, const SettingSpec*>& by_key,
                      const std::set<std::string>& parents, const YamlDocument& doc,
                      std::string_view config_name) {
  const auto* obj = v.if_object();
  if (obj == nullptr) return Status::Ok();
  for (const auto& kv : *obj) {
    const std::string name(kv.key());
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const std::string ptr = pointer + "/" + PointerSegment(name);
    const std::string where = std::string(config_name) + " line " + std::to_string(doc.LineOf(ptr));
    // "http.addr: x" at the top level would otherwise look declared but never be read.
    if (name.empty() || name.find('.') != std::string::npos) {
      return InvalidArgument(where + ": unknown setting \"" + key +
                             "\" (write nested keys as nested mappings)");
    }
    if (by_key.count(key)) continue;
    if (parents.count(key)) {
      if (kv.value().is_null()) continue;  // "http:" with nothing under it
      if (!kv.value().is_object()) {
        return InvalidArgument(where + ": setting \"" + key + "\" must be a mapping");
      }
      SKIFF_RETURN_IF_ERROR(
          CheckKnownKeys(kv.value(), key, ptr, by_key, parents, doc, config_name));
      continue;
    }
    return InvalidArgument(where + ": unknown setting \"" + key + "\"");
  }
  return Status::Ok();
}

}  // namespace

std::string EnvNameFor(std::string_view key) {
  auto upper = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  auto lower_or_digit = [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c));
  };
  std::string out = "SKIFF_";
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (c == '.' || c == '-') {
      out += '_';
      continue;
    }
    // A word starts at an upper-case letter after a lower-case letter or digit ("maxBody"), or
    // at the last capital of an acronym followed by a lower-case letter ("tlsCAFile" ->
    // TLS_CA_FILE).
    if (upper(c) && i > 0 && out.back() != '_' &&
        (lower_or_digit(key[i - 1]) || (upper(key[i - 1]) && i + 1 < key.size() &&
                                        std::islower(static_cast<unsigned char>(key[i + 1]))))) {
      out += '_';
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

Result<uint64_t> ParseBytes(std::string_view s) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid size \"" + std::string(s) + "\": " + std::string(why));
  };
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0) return invalid("use a number of bytes with an optional unit such as KiB or MiB");
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, n);
  if (ec != std::errc()) return invalid("too large");
  std::string_view unit = s.substr(i);
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  // Binary units as Kubernetes quantities spell them (Ki, Mi, Gi, Ti, with or without the B);
  // decimal units (k/K, M, G, T, with or without the B) are powers of 1000 as in Kubernetes.
  struct UnitMultiplier {
    std::string_view name;
    uint64_t mult;
  };
  static constexpr UnitMultiplier kUnits[] = {
      {"", 1},
      {"B", 1},
      {"Ki", 1ull << 10},
      {"KiB", 1ull << 10},
      {"Mi", 1ull << 20},
      {"MiB", 1ull << 20},
      {"Gi", 1ull << 30},
      {"GiB", 1ull << 30},
      {"Ti", 1ull << 40},
      {"TiB", 1ull << 40},
      {"k", 1000},
      {"K", 1000},
      {"kB", 1000},
      {"KB", 1000},
      {"M", 1000 * 1000},
      {"MB", 1000 * 1000},
      {"G", 1000ull * 1000 * 1000},
      {"GB", 1000ull * 1000 * 1000},
      {"T", 1000ull * 1000 * 1000 * 1000},
      {"TB", 1000ull * 1000 * 1000 * 1000},
  };
  for (const auto& u : kUnits) {
    if (unit != u.name) continue;
    if (n > UINT64_MAX / u.mult) return invalid("too large");
    return n * u.mult;
  }
  return invalid("unknown unit \"" + std::string(unit) + "\" (use KiB, MiB or GiB)");
}

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

Result<Settings> Settings::Load(
    const std::vector<SettingSpec>& specs, std::string_view config_text,
    std::string_view config_name,
    const std::function<std::optional<std::string>(const std::string&)>& env,
    const std::map<std::string, std::string>& flags) {
  Settings s;
  std::map<std::string, const SettingSpec*> by_key;
  std::set<std::string> parents;
  for (const auto& spec : specs) {
    by_key[spec.key] = &spec;
    auto parts = SplitKey(spec.key);
    std::string p;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      p += (i ? "." : "") + parts[i];
      parents.insert(p);
    }
  }
  // Defaults.
  for (const auto& spec : specs) {
    if (spec.default_value.empty()) continue;
    auto v = FromText(spec, spec.default_value);
    SKIFF_CHECK(v.has_value());
    SetPath(s.doc_, spec.key, std::move(*v));
    s.source_[spec.key] = "default";
  }
  // File.
  if (!config_text.empty()) {
    SKIFF_ASSIGN_OR_RETURN(auto docs, ParseYamlDocuments(config_text));
    if (docs.size() > 1) {
      return InvalidArgument(std::string(config_name) + ": expected one YAML document");
    }
    if (!docs.empty()) {
      const YamlDocument& doc = docs.front();
      if (!doc.value.is_object()) {
        return InvalidArgument(std::string(config_name) + ": expected a mapping of settings");
      }
      SKIFF_RETURN_IF_ERROR(CheckKnownKeys(doc.value, "", "", by_key, parents, doc, config_name));
      for (const auto& spec : specs) {
        const json::value* v = Find(doc.value, spec.key);
        // "key:" with no value (null) leaves the setting as if the file did not mention it.
        if (v == nullptr || v->is_null()) continue;
        auto checked = CheckFileValue(spec, *v);
        if (!checked) {
          return InvalidArgument(std::string(config_name) + " line " +
                                 std::to_string(doc.LineOf(spec.key)) + ": setting \"" + spec.key +
                                 "\": " + checked.error().message());
        }
        SetPath(s.doc_, spec.key, std::move(*checked));
        s.source_[spec.key] = "file";
      }
    }
  }
  // Environment, then flags.
  for (const auto& spec : specs) {
    std::string name = EnvNameFor(spec.key);
    // An empty variable counts as unset (as viper and most shells' users expect).
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (value && !value->empty()) {
      auto v = FromText(spec, *value);
      if (!v) {
        return InvalidArgument("environment variable " + name + ": " + v.error().message());
      }
      SetPath(s.doc_, spec.key, std::move(*v));
      s.source_[spec.key] = "env";
    }
    if (!spec.flag.empty()) {
      auto it = flags.find(spec.flag);
      if (it != flags.end()) {
        auto v = FromText(spec, it->second);
        if (!v) return InvalidArgument("flag --" + spec.flag + ": " + v.error().message());
        SetPath(s.doc_, spec.key, std::move(*v));
        s.source_[spec.key] = "flag";
      }
    }
  }
  return s;
}

std::string Settings::GetString(std::string_view key) const { return skiff::GetString(doc_, key); }

int64_t Settings::GetInt(std::string_view key) const {
  const json::value* v = Find(doc_, key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

bool Settings::GetBool(std::string_view key) const {
  const json::value* v = Find(doc_, key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

std::chrono::milliseconds Settings::GetDuration(std::string_view key) const {
  auto d = ParseDuration(GetString(key));
  return d ? *d : std::chrono::milliseconds(0);
}

uint64_t Settings::GetBytes(std::string_view key) const {
  auto b = ParseBytes(GetString(key));
  return b ? *b : 0;
}

const json::value& Settings::GetSection(std::string_view key) const {
  static const json::value kNull;
  const json::value* v = Find(doc_, key);
  return v != nullptr ? *v : kNull;
}

bool Settings::Has(std::string_view key) const { return Find(doc_, key) != nullptr; }

std::string Settings::SourceOf(std::string_view key) const {
  auto it = source_.find(key);
  return it == source_.end() ? "unset" : it->second;
}

}  // namespace skiff
