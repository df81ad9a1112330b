#include "gateway/virtual_service.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <set>

#include "api/validation.hpp"
#include "core/crypto.hpp"

namespace skiff::gateway {

namespace {

using api::FieldError;
using api::FieldErrors;
using Type = FieldError::Type;

constexpr size_t kMaxDirectResponseBody = 1 << 20;  // Istio's limit is 1 MiB as well

// Envoy x-envoy-retry-on and x-envoy-retry-grpc-on policies Istio passes through.
const std::set<std::string, std::less<>> kRetryOn = {
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
};

// A field's value, or nullptr when it is absent or null (Kubernetes treats an explicit null as
// unset).
const json::value* Field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string Idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string Dot(const std::string& path, std::string_view key) {
  return path + "." + std::string(key);
}

bool IsDnsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// Empty when `host` is a valid (lower-cased) DNS name, optionally "*." prefixed or "*".
std::string CheckHost(std::string_view host) {
  if (host.empty()) return "must not be empty";
  if (host == "*") return "";
  std::string_view rest = host;
  if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253) return "must be a DNS name, \"*.suffix\" or \"*\"";
  size_t start = 0;
  while (start <= rest.size()) {
    size_t dot = rest.find('.', start);
    std::string_view label =
        rest.substr(start, dot == std::string_view::npos ? rest.npos : dot - start);
    if (label.empty() || label.size() > 63) return "must be a DNS name, \"*.suffix\" or \"*\"";
    for (char c : label) {
      if (c == '*') return "a wildcard is allowed only as the whole first label (\"*.suffix\")";
      if (!IsDnsLabelChar(c)) return "must be a DNS name, \"*.suffix\" or \"*\"";
    }
    if (label.front() == '-' || label.back() == '-') {
      return "DNS labels must start and end with a letter or digit";
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

class Parser {
 public:
  explicit Parser(FieldErrors& errors) : errors_(errors) {}

  void Error(Type type, std::string field, std::string detail,
             std::optional<json::value> bad = std::nullopt) {
    errors_.push_back(FieldError{type, std::move(field), std::move(detail), std::move(bad)});
  }

  // Refuses keys outside `allowed` (Kubernetes strict field validation wording).
  void CheckKeys(const json::object& o, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    for (const auto& kv : o) {
      std::string_view key = kv.key();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string field = Dot(path, key);
        Error(Type::kForbidden, field, "unknown field \"" + field + "\"");
      }
    }
  }

  const json::object* Object(const json::value& v, const std::string& path) {
    if (v.is_object()) return &v.get_object();
    Error(Type::kInvalid, path, "must be an object", v);
    return nullptr;
  }
  const json::array* Array(const json::value& v, const std::string& path) {
    if (v.is_array()) return &v.get_array();
    Error(Type::kInvalid, path, "must be a list", v);
    return nullptr;
  }
  std::optional<std::string> String(const json::value& v, const std::string& path) {
    if (v.is_string()) return std::string(v.get_string());
    Error(Type::kInvalid, path, "must be a string", v);
    return std::nullopt;
  }
  std::optional<int64_t> Int(const json::value& v, const std::string& path) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= uint64_t{INT64_MAX}) {
      return static_cast<int64_t>(v.get_uint64());
    }
    if (v.is_double() && std::floor(v.get_double()) == v.get_double() &&
        std::fabs(v.get_double()) < 1e15) {
      return static_cast<int64_t>(v.get_double());
    }
    Error(Type::kInvalid, path, "must be an integer", v);
    return std::nullopt;
  }
  std::optional<double> Number(const json::value& v, const std::string& path) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    if (v.is_double()) return v.get_double();
    Error(Type::kInvalid, path, "must be a number", v);
    return std::nullopt;
  }
  std::optional<bool> Bool(const json::value& v, const std::string& path) {
    if (v.is_bool()) return v.get_bool();
    Error(Type::kInvalid, path, "must be a boolean", v);
    return std::nullopt;
  }
  std::vector<std::string> StringList(const json::value& v, const std::string& path) {
    std::vector<std::string> out;
    const json::array* a = Array(v, path);
    if (!a) return out;
    for (size_t i = 0; i < a->size(); ++i) {
      if (auto s = String((*a)[i], Idx(path, i))) out.push_back(std::move(*s));
    }
    return out;
  }
  std::optional<std::chrono::milliseconds> Duration(const json::value& v, const std::string& path) {
    auto s = String(v, path);
    if (!s) return std::nullopt;
    auto d = ParseDuration(*s);
    if (!d) {
      Error(Type::kInvalid, path, d.error().message(), v);
      return std::nullopt;
    }
    if (d->count() < 1) {
      Error(Type::kInvalid, path, "duration must be at least 1ms", v);
      return std::nullopt;
    }
    return *d;
  }
  std::optional<uint32_t> PortNumber(const json::value& v, const std::string& path) {
    auto n = Int(v, path);
    if (!n) return std::nullopt;
    if (*n < 1 || *n > 65535) {
      Error(Type::kInvalid, path, "port number must be in the range 1..65535", v);
      return std::nullopt;
    }
    return static_cast<uint32_t>(*n);
  }
  // Percent { value } with value in 0..100.
  std::optional<double> Percent(const json::value& v, const std::string& path) {
    const json::object* o = Object(v, path);
    if (!o) return std::nullopt;
    CheckKeys(*o, path, {"value"});
    const json::value* value = Field(*o, "value");
    if (!value) return 0.0;  // protobuf default
    auto d = Number(*value, Dot(path, "value"));
    if (!d) return std::nullopt;
    if (*d < 0 || *d > 100) {
      Error(Type::kInvalid, Dot(path, "value"), "percentage must be in the range 0..100", *value);
      return std::nullopt;
    }
    return *d;
  }

  // StringMatch: exactly one of exact, prefix, regex. `allow_empty` accepts `{}` (presence);
  // `allow_prefix` is false for queryParams.
  std::optional<StringMatch> Match(const json::value& v, const std::string& path,
                                   bool allow_empty = false, bool allow_prefix = true) {
    const json::object* o = Object(v, path);
    if (!o) return std::nullopt;
    CheckKeys(*o, path, {"exact", "prefix", "regex"});
    int count = 0;
    std::optional<StringMatch> out;
    for (std::string_view key : {"exact", "prefix", "regex"}) {
      const json::value* val = Field(*o, key);
      if (!val) continue;
      ++count;
      std::string field = Dot(path, key);
      auto s = String(*val, field);
      if (!s) return std::nullopt;
      if (key == "exact") {
        out = StringMatch::Exact(std::move(*s));
      } else if (key == "prefix") {
        if (!allow_prefix) {
          Error(Type::kNotSupported, field, "only exact and regex are supported here", *val);
          return std::nullopt;
        }
        out = StringMatch::Prefix(std::move(*s));
      } else {
        auto re = StringMatch::Regex(*s);
        if (!re) {
          Error(Type::kInvalid, field, "invalid RE2 regular expression: " + re.error().message(),
                *val);
          return std::nullopt;
        }
        out = std::move(*re);
      }
    }
    if (count > 1) {
      Error(Type::kInvalid, path, "exactly one of exact, prefix or regex may be set");
      return std::nullopt;
    }
    if (count == 0) {
      if (allow_empty) return StringMatch();
      Error(Type::kRequired, path, "one of exact, prefix or regex is required");
      return std::nullopt;
    }
    return out;
  }

  std::vector<NamedMatch> NamedMatches(const json::value& v, const std::string& path,
                                       bool header_names, bool allow_empty, bool allow_prefix) {
    std::vector<NamedMatch> out;
    const json::object* o = Object(v, path);
    if (!o) return out;
    for (const auto& kv : *o) {
      std::string name(kv.key());
      std::string field = Dot(path, name);
      if (header_names ? !IsValidHeaderName(name) : name.empty()) {
        Error(Type::kInvalid, field, header_names ? "invalid header name" : "empty name",
              json::value(name));
        continue;
      }
      auto m = Match(kv.value(), field, allow_empty, allow_prefix);
      if (!m) continue;
      out.push_back(NamedMatch{header_names ? ToLower(name) : name, std::move(*m)});
    }
    return out;
  }

  HeaderOperations HeaderOps(const json::value& v, const std::string& path) {
    HeaderOperations ops;
    const json::object* o = Object(v, path);
    if (!o) return ops;
    CheckKeys(*o, path, {"set", "add", "remove"});
    for (std::string_view key : {"set", "add"}) {
      const json::value* m = Field(*o, key);
      if (!m) continue;
      std::string mpath = Dot(path, key);
      const json::object* mo = Object(*m, mpath);
      if (!mo) continue;
      for (const auto& kv : *mo) {
        std::string name(kv.key());
        std::string field = Dot(mpath, name);
        if (!IsValidHeaderName(name)) {
          Error(Type::kInvalid, field, "invalid header name", json::value(name));
          continue;
        }
        auto value = String(kv.value(), field);
        if (!value) continue;
        if (!IsValidHeaderValue(*value)) {
          Error(Type::kInvalid, field, "header values must not contain CR, LF or NUL");
          continue;
        }
        (key == "set" ? ops.set : ops.add).emplace_back(ToLower(name), std::move(*value));
      }
    }
    if (const json::value* r = Field(*o, "remove")) {
      std::string rpath = Dot(path, "remove");
      auto names = StringList(*r, rpath);
      for (size_t i = 0; i < names.size(); ++i) {
        if (!IsValidHeaderName(names[i])) {
          Error(Type::kInvalid, Idx(rpath, i), "invalid header name", json::value(names[i]));
          continue;
        }
        ops.remove.push_back(ToLower(names[i]));
      }
    }
    return ops;
  }

  Headers HeadersField(const json::value& v, const std::string& path) {
    Headers h;
    const json::object* o = Object(v, path);
    if (!o) return h;
    CheckKeys(*o, path, {"request", "response"});
    if (const json::value* r = Field(*o, "request")) {
      h.request = HeaderOps(*r, Dot(path, "request"));
    }
    if (const json::value* r = Field(*o, "response")) {
      h.response = HeaderOps(*r, Dot(path, "response"));
    }
    return h;
  }

  std::optional<Destination> DestinationField(const json::value& v, const std::string& path) {
    const json::object* o = Object(v, path);
    if (!o) return std::nullopt;
    CheckKeys(*o, path, {"host", "subset", "port"});
    Destination d;
    const json::value* host = Field(*o, "host");
    if (!host) {
      Error(Type::kRequired, Dot(path, "host"), "destination host is required");
      return std::nullopt;
    }
    auto h = String(*host, Dot(path, "host"));
    if (!h) return std::nullopt;
    d.host = ToLower(*h);
    if (std::string why = CheckHost(d.host); !why.empty() || d.host.find('*') != d.host.npos) {
      Error(Type::kInvalid, Dot(path, "host"),
            why.empty() ? "a destination host must not contain a wildcard" : why, *host);
      return std::nullopt;
    }
    if (const json::value* s = Field(*o, "subset")) {
      if (auto sub = String(*s, Dot(path, "subset"))) d.subset = *sub;
    }
    if (const json::value* p = Field(*o, "port")) {
      std::string ppath = Dot(path, "port");
      if (const json::object* po = Object(*p, ppath)) {
        CheckKeys(*po, ppath, {"number"});
        if (const json::value* n = Field(*po, "number")) {
          d.port = PortNumber(*n, Dot(ppath, "number"));
        }
      }
    }
    return d;
  }

  std::optional<HttpMatch> MatchRequest(const json::value& v, const std::string& path) {
    const json::object* o = Object(v, path);
    if (!o) return std::nullopt;
    CheckKeys(
        *o, path,
        {"name", "uri", "scheme", "method", "authority", "headers", "queryParams", "withoutHeaders",
         "ignoreUriCase", "port", "sourceLabels", "gateways", "sourceNamespace", "statPrefix"});
    HttpMatch m;
    if (const json::value* x = Field(*o, "name")) {
      if (auto s = String(*x, Dot(path, "name"))) m.name = *s;
    }
    if (const json::value* x = Field(*o, "uri")) m.uri = Match(*x, Dot(path, "uri"));
    if (const json::value* x = Field(*o, "scheme")) {
      m.scheme = Match(*x, Dot(path, "scheme"));
    }
    if (const json::value* x = Field(*o, "method")) {
      m.method = Match(*x, Dot(path, "method"));
    }
    if (const json::value* x = Field(*o, "authority")) {
      m.authority = Match(*x, Dot(path, "authority"));
    }
    if (const json::value* x = Field(*o, "headers")) {
      m.headers = NamedMatches(*x, Dot(path, "headers"), true, true, true);
    }
    if (const json::value* x = Field(*o, "withoutHeaders")) {
      m.without_headers = NamedMatches(*x, Dot(path, "withoutHeaders"), true, true, true);
    }
    if (const json::value* x = Field(*o, "queryParams")) {
      m.query_params = NamedMatches(*x, Dot(path, "queryParams"), false, false, false);
    }
    if (const json::value* x = Field(*o, "ignoreUriCase")) {
      m.ignore_uri_case = Bool(*x, Dot(path, "ignoreUriCase")).value_or(false);
    }
    if (const json::value* x = Field(*o, "port")) m.port = PortNumber(*x, Dot(path, "port"));
    if (const json::value* x = Field(*o, "sourceLabels")) {
      std::string lpath = Dot(path, "sourceLabels");
      if (const json::object* lo = Object(*x, lpath)) {
        for (const auto& kv : *lo) {
          if (auto s = String(kv.value(), Dot(lpath, kv.key()))) {
            m.source_labels[std::string(kv.key())] = *s;
          }
        }
      }
    }
    if (const json::value* x = Field(*o, "gateways")) {
      m.gateways = StringList(*x, Dot(path, "gateways"));
    }
    if (const json::value* x = Field(*o, "sourceNamespace")) {
      String(*x, Dot(path, "sourceNamespace"));
    }
    if (const json::value* x = Field(*o, "statPrefix")) {
      String(*x, Dot(path, "statPrefix"));
    }
    return m;
  }

  std::optional<CorsPolicy> Cors(const json::value& v, const std::string& path) {
    const json::object* o = Object(v, path);
    if (!o) return std::nullopt;
    CheckKeys(*o, path,
              {"allowOrigins", "allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders",
               "maxAge", "allowCredentials"});
    CorsPolicy c;
    if (const json::value* x = Field(*o, "allowOrigins")) {
      std::string apath = Dot(path, "allowOrigins");
      if (const json::array* a = Array(*x, apath)) {
        for (size_t i = 0; i < a->size(); ++i) {
          if (auto m = Match((*a)[i], Idx(apath, i))) c.allow_origins.push_back(std::move(*m));
        }
      }
    }
    if (const json::value* x = Field(*o, "allowOrigin")) {  // deprecated: exact strings
      for (auto& s : StringList(*x, Dot(path, "allowOrigin"))) {
        c.allow_origins.push_back(s == "*" ? StringMatch::Prefix("") : StringMatch::Exact(s));
      }
    }
    if (const json::value* x = Field(*o, "allowMethods")) {
      std::string mpath = Dot(path, "allowMethods");
      c.allow_methods = StringList(*x, mpath);
      for (size_t i = 0; i < c.allow_methods.size(); ++i) {
        if (!IsValidHeaderName(c.allow_methods[i])) {  // a method is a token too
          Error(Type::kInvalid, Idx(mpath, i), "invalid method", json::value(c.allow_methods[i]));
        }
      }
    }
    for (auto [key, list] :
         {std::pair<std::string_view, std::vector<std::string>*>{"allowHeaders", &c.allow_headers},
          {"exposeHeaders", &c.expose_headers}}) {
      const json::value* x = Field(*o, key);
      if (!x) continue;
      std::string hpath = Dot(path, key);
      *list = StringList(*x, hpath);
      for (size_t i = 0; i < list->size(); ++i) {
        if ((*list)[i] != "*" && !IsValidHeaderName((*list)[i])) {
          Error(Type::kInvalid, Idx(hpath, i), "invalid header name", json::value((*list)[i]));
        }
      }
    }
    if (const json::value* x = Field(*o, "maxAge")) {
      if (auto d = Duration(*x, Dot(path, "maxAge"))) {
        c.max_age = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
    if (const json::value* x = Field(*o, "allowCredentials")) {
      c.allow_credentials = Bool(*x, Dot(path, "allowCredentials"));
    }
    return c;
  }

  void HttpRouteField(const json::value& v, const std::string& path, HttpRoute& r) {
    const json::object* o = Object(v, path);
    if (!o) return;
    for (const auto& kv : *o) {
      if (kv.key() == "delegate") {
        Error(Type::kNotSupported, Dot(path, "delegate"),
              "not supported by skiff: VirtualService delegation");
      } else if (kv.key() == "mirrors") {
        Error(Type::kNotSupported, Dot(path, "mirrors"),
              "not supported by skiff: use mirror and mirrorPercentage");
      } else if (kv.key() == "mirrorPercent") {
        Error(Type::kNotSupported, Dot(path, "mirrorPercent"),
              "deprecated in Istio and not supported by skiff: use mirrorPercentage");
      }
    }
    CheckKeys(*o, path,
              {"name", "match", "route", "redirect", "directResponse", "rewrite", "timeout",
               "retries", "fault", "mirror", "mirrorPercentage", "headers", "corsPolicy",
               "delegate", "mirrors", "mirrorPercent"});
    if (const json::value* x = Field(*o, "name")) {
      if (auto s = String(*x, Dot(path, "name"))) r.name = *s;
    }
    if (const json::value* x = Field(*o, "match")) {
      std::string mpath = Dot(path, "match");
      if (const json::array* a = Array(*x, mpath)) {
        for (size_t i = 0; i < a->size(); ++i) {
          if (auto m = MatchRequest((*a)[i], Idx(mpath, i))) r.match.push_back(std::move(*m));
        }
      }
    }
    if (const json::value* x = Field(*o, "route")) {
      std::string rpath = Dot(path, "route");
      if (const json::array* a = Array(*x, rpath)) {
        int64_t sum = 0;
        bool weights_ok = true;
        for (size_t i = 0; i < a->size(); ++i) {
          std::string dpath = Idx(rpath, i);
          const json::object* d = Object((*a)[i], dpath);
          if (!d) {
            weights_ok = false;
            continue;
          }
          CheckKeys(*d, dpath, {"destination", "weight", "headers"});
          RouteDestination rd;
          if (const json::value* dest = Field(*d, "destination")) {
            auto parsed = DestinationField(*dest, Dot(dpath, "destination"));
            if (parsed) rd.destination = std::move(*parsed);
          } else {
            Error(Type::kRequired, Dot(dpath, "destination"), "destination is required");
          }
          if (const json::value* w = Field(*d, "weight")) {
            auto n = Int(*w, Dot(dpath, "weight"));
            if (!n) {
              weights_ok = false;
            } else if (*n < 0 || *n > 100) {
              Error(Type::kInvalid, Dot(dpath, "weight"), "weight must be in the range 0..100", *w);
              weights_ok = false;
            } else {
              rd.weight = static_cast<int>(*n);
            }
          }
          if (const json::value* h = Field(*d, "headers")) {
            rd.headers = HeadersField(*h, Dot(dpath, "headers"));
          }
          sum += rd.weight;
          r.route.push_back(std::move(rd));
        }
        if (a->empty()) {
          Error(Type::kRequired, rpath, "at least one destination is required");
        } else if (weights_ok && r.route.size() == a->size()) {
          if (r.route.size() == 1) {
            if (r.route[0].weight != 0 && r.route[0].weight != 100) {
              Error(Type::kInvalid, Dot(Idx(rpath, 0), "weight"),
                    "a single destination's weight must be 100 (or omitted)",
                    json::value(r.route[0].weight));
            }
            r.route[0].weight = 100;
          } else if (sum != 100) {
            Error(Type::kInvalid, rpath,
                  "destination weights must sum to 100 (they sum to " + std::to_string(sum) + ")");
          }
        }
      }
    }
    if (const json::value* x = Field(*o, "redirect")) {
      std::string rpath = Dot(path, "redirect");
      if (const json::object* ro = Object(*x, rpath)) {
        CheckKeys(*ro, rpath, {"uri", "authority", "port", "derivePort", "scheme", "redirectCode"});
        Redirect rd;
        if (const json::value* y = Field(*ro, "uri")) {
          rd.uri = String(*y, Dot(rpath, "uri")).value_or("");
        }
        if (const json::value* y = Field(*ro, "authority")) {
          rd.authority = String(*y, Dot(rpath, "authority")).value_or("");
        }
        if (const json::value* y = Field(*ro, "scheme")) {
          rd.scheme = String(*y, Dot(rpath, "scheme")).value_or("");
          if (!rd.scheme.empty() && rd.scheme != "http" && rd.scheme != "https") {
            Error(Type::kNotSupported, Dot(rpath, "scheme"), "supported values: http, https", *y);
          }
        }
        if (const json::value* y = Field(*ro, "port")) {
          rd.port = PortNumber(*y, Dot(rpath, "port"));
        }
        if (const json::value* y = Field(*ro, "derivePort")) {
          auto s = String(*y, Dot(rpath, "derivePort"));
          if (s && *s == "FROM_PROTOCOL_DEFAULT") {
            rd.derive_port = Redirect::DerivePort::kFromProtocolDefault;
          } else if (s && *s == "FROM_REQUEST_PORT") {
            rd.derive_port = Redirect::DerivePort::kFromRequestPort;
          } else if (s) {
            Error(Type::kNotSupported, Dot(rpath, "derivePort"),
                  "supported values: FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT", *y);
          }
          if (rd.port && rd.derive_port != Redirect::DerivePort::kNone) {
            Error(Type::kInvalid, rpath, "port and derivePort are mutually exclusive");
          }
        }
        if (const json::value* y = Field(*ro, "redirectCode")) {
          auto n = Int(*y, Dot(rpath, "redirectCode"));
          if (n && (*n < 300 || *n > 399)) {
            Error(Type::kInvalid, Dot(rpath, "redirectCode"), "redirect code must be a 3xx status",
                  *y);
          } else if (n && *n != 0) {
            rd.redirect_code = static_cast<int>(*n);
          }
        }
        if (rd.uri.empty() && rd.authority.empty() && rd.scheme.empty() && !rd.port &&
            rd.derive_port == Redirect::DerivePort::kNone) {
          Error(Type::kRequired, rpath,
                "redirect must set at least one of uri, authority, scheme, port or derivePort");
        }
        r.redirect = std::move(rd);
      }
    }
    if (const json::value* x = Field(*o, "directResponse")) {
      std::string dpath = Dot(path, "directResponse");
      if (const json::object* dobj = Object(*x, dpath)) {
        CheckKeys(*dobj, dpath, {"status", "body"});
        DirectResponse dr;
        if (const json::value* s = Field(*dobj, "status")) {
          auto n = Int(*s, Dot(dpath, "status"));
          if (n && (*n < 200 || *n > 599)) {
            Error(Type::kInvalid, Dot(dpath, "status"), "status must be in the range 200..599", *s);
          } else if (n) {
            dr.status = static_cast<int>(*n);
          }
        } else {
          Error(Type::kRequired, Dot(dpath, "status"), "status is required");
        }
        if (const json::value* b = Field(*dobj, "body")) {
          std::string bpath = Dot(dpath, "body");
          if (const json::object* bo = Object(*b, bpath)) {
            CheckKeys(*bo, bpath, {"string", "bytes"});
            const json::value* str = Field(*bo, "string");
            const json::value* bytes = Field(*bo, "bytes");
            if (str && bytes) {
              Error(Type::kInvalid, bpath, "only one of string or bytes may be set");
            } else if (str) {
              dr.body = String(*str, Dot(bpath, "string")).value_or("");
            } else if (bytes) {
              if (auto s = String(*bytes, Dot(bpath, "bytes"))) {
                auto decoded = Base64Decode(*s);
                if (!decoded) {
                  Error(Type::kInvalid, Dot(bpath, "bytes"), "must be standard base64");
                } else {
                  dr.body = std::move(*decoded);
                }
              }
            }
            if (dr.body.size() > kMaxDirectResponseBody) {
              Error(Type::kTooLong, bpath, "body must be at most 1 MiB");
            }
          }
        }
        r.direct_response = std::move(dr);
      }
    }
    if (const json::value* x = Field(*o, "rewrite")) {
      std::string rpath = Dot(path, "rewrite");
      if (const json::object* ro = Object(*x, rpath)) {
        CheckKeys(*ro, rpath, {"uri", "authority", "uriRegexRewrite"});
        Rewrite rw;
        if (const json::value* y = Field(*ro, "uri")) {
          rw.uri = String(*y, Dot(rpath, "uri")).value_or("");
        }
        if (const json::value* y = Field(*ro, "authority")) {
          rw.authority = String(*y, Dot(rpath, "authority")).value_or("");
          if (!IsValidHeaderValue(rw.authority) || rw.authority.find(' ') != std::string::npos) {
            Error(Type::kInvalid, Dot(rpath, "authority"), "invalid authority", *y);
          }
        }
        if (const json::value* y = Field(*ro, "uriRegexRewrite")) {
          std::string upath = Dot(rpath, "uriRegexRewrite");
          if (const json::object* uo = Object(*y, upath)) {
            CheckKeys(*uo, upath, {"match", "rewrite"});
            const json::value* m = Field(*uo, "match");
            const json::value* rewrite = Field(*uo, "rewrite");
            std::optional<StringMatch> re;
            if (!m) {
              Error(Type::kRequired, Dot(upath, "match"), "a regular expression is required");
            } else if (auto s = String(*m, Dot(upath, "match"))) {
              auto compiled = StringMatch::Regex(*s);
              if (!compiled) {
                Error(Type::kInvalid, Dot(upath, "match"),
                      "invalid RE2 regular expression: " + compiled.error().message(), *m);
              } else {
                re = std::move(*compiled);
              }
            }
            std::optional<std::string> replacement;
            if (!rewrite) {
              Error(Type::kRequired, Dot(upath, "rewrite"), "a substitution is required");
            } else {
              replacement = String(*rewrite, Dot(upath, "rewrite"));
            }
            if (re && replacement) rw.uri_regex = RegexRewrite{std::move(*re), *replacement};
          }
          if (!rw.uri.empty()) {
            Error(Type::kInvalid, rpath, "uri and uriRegexRewrite are mutually exclusive");
          }
        }
        if (rw.uri.empty() && rw.authority.empty() && !Field(*ro, "uriRegexRewrite")) {
          Error(Type::kRequired, rpath, "rewrite must set uri, authority or uriRegexRewrite");
        }
        r.rewrite = std::move(rw);
      }
    }
    if (const json::value* x = Field(*o, "timeout")) {
      r.timeout = Duration(*x, Dot(path, "timeout"));
    }
    if (const json::value* x = Field(*o, "retries")) {
      std::string rpath = Dot(path, "retries");
      if (const json::object* ro = Object(*x, rpath)) {
        CheckKeys(*ro, rpath, {"attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities"});
        Retries rt;
        if (const json::value* y = Field(*ro, "attempts")) {
          auto n = Int(*y, Dot(rpath, "attempts"));
          if (n && (*n < 0 || *n > 100)) {
            Error(Type::kInvalid, Dot(rpath, "attempts"), "attempts must be in the range 0..100",
                  *y);
          } else if (n) {
            rt.attempts = static_cast<int>(*n);
          }
        }
        if (const json::value* y = Field(*ro, "perTryTimeout")) {
          rt.per_try_timeout = Duration(*y, Dot(rpath, "perTryTimeout"));
        }
        if (const json::value* y = Field(*ro, "retryOn")) {
          if (auto s = String(*y, Dot(rpath, "retryOn"))) {
            rt.retry_on = *s;
            size_t start = 0;
            while (start <= s->size()) {
              size_t comma = s->find(',', start);
              std::string token =
                  s->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
              bool numeric = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
                return c >= '0' && c <= '9';
              });
              if (!kRetryOn.contains(token) && !(numeric && token.size() == 3)) {
                Error(Type::kNotSupported, Dot(rpath, "retryOn"),
                      "unknown retry policy \"" + token + "\"", *y);
              }
              if (comma == std::string::npos) break;
              start = comma + 1;
            }
          }
        }
        if (const json::value* y = Field(*ro, "retryRemoteLocalities")) {
          Bool(*y, Dot(rpath, "retryRemoteLocalities"));
        }
        r.retries = std::move(rt);
      }
    }
    if (const json::value* x = Field(*o, "fault")) {
      std::string fpath = Dot(path, "fault");
      if (const json::object* fo = Object(*x, fpath)) {
        CheckKeys(*fo, fpath, {"delay", "abort"});
        Fault f;
        if (const json::value* y = Field(*fo, "delay")) {
          std::string dpath = Dot(fpath, "delay");
          if (const json::object* dobj = Object(*y, dpath)) {
            if (Field(*dobj, "exponentialDelay")) {
              Error(Type::kNotSupported, Dot(dpath, "exponentialDelay"),
                    "not supported by skiff (nor by Istio): use fixedDelay");
            }
            if (Field(*dobj, "percent")) {
              Error(Type::kNotSupported, Dot(dpath, "percent"),
                    "deprecated in Istio and not supported by skiff: use percentage.value");
            }
            CheckKeys(*dobj, dpath, {"fixedDelay", "percentage", "exponentialDelay", "percent"});
            FaultDelay d;
            if (const json::value* z = Field(*dobj, "fixedDelay")) {
              if (auto dur = Duration(*z, Dot(dpath, "fixedDelay"))) d.fixed_delay = *dur;
            } else {
              Error(Type::kRequired, Dot(dpath, "fixedDelay"), "fixedDelay is required");
            }
            if (const json::value* z = Field(*dobj, "percentage")) {
              d.percentage = Percent(*z, Dot(dpath, "percentage")).value_or(0);
            }
            f.delay = d;
          }
        }
        if (const json::value* y = Field(*fo, "abort")) {
          std::string apath = Dot(fpath, "abort");
          if (const json::object* ao = Object(*y, apath)) {
            if (Field(*ao, "grpcStatus") || Field(*ao, "http2Error")) {
              Error(Type::kNotSupported, apath,
                    "not supported by skiff: only httpStatus aborts (skiff routes HTTP/1.1)");
            }
            CheckKeys(*ao, apath, {"httpStatus", "percentage", "grpcStatus", "http2Error"});
            FaultAbort a;
            if (const json::value* z = Field(*ao, "httpStatus")) {
              auto n = Int(*z, Dot(apath, "httpStatus"));
              if (n && (*n < 200 || *n > 599)) {
                Error(Type::kInvalid, Dot(apath, "httpStatus"),
                      "httpStatus must be in the range 200..599", *z);
              } else if (n) {
                a.http_status = static_cast<int>(*n);
              }
            } else {
              Error(Type::kRequired, Dot(apath, "httpStatus"), "httpStatus is required");
            }
            if (const json::value* z = Field(*ao, "percentage")) {
              a.percentage = Percent(*z, Dot(apath, "percentage")).value_or(0);
            }
            f.abort = a;
          }
        }
        if (!f.delay && !f.abort && fo->empty()) {
          Error(Type::kRequired, fpath, "fault must set delay or abort");
        }
        r.fault = f;
      }
    }
    if (const json::value* x = Field(*o, "mirror")) {
      r.mirror = DestinationField(*x, Dot(path, "mirror"));
    }
    if (const json::value* x = Field(*o, "mirrorPercentage")) {
      r.mirror_percentage = Percent(*x, Dot(path, "mirrorPercentage")).value_or(0);
      if (!Field(*o, "mirror")) {
        Error(Type::kInvalid, Dot(path, "mirrorPercentage"), "requires mirror");
      }
    }
    if (const json::value* x = Field(*o, "headers")) {
      r.headers = HeadersField(*x, Dot(path, "headers"));
    }
    if (const json::value* x = Field(*o, "corsPolicy")) {
      r.cors_policy = Cors(*x, Dot(path, "corsPolicy"));
    }

    // Istio's cross-field rules.
    bool has_route = Field(*o, "route") != nullptr;
    bool has_redirect = Field(*o, "redirect") != nullptr;
    bool has_direct = Field(*o, "directResponse") != nullptr;
    if (has_route && has_redirect) {
      Error(Type::kInvalid, Dot(path, "redirect"), "route and redirect are mutually exclusive");
    }
    if (has_direct && (has_route || has_redirect)) {
      Error(Type::kInvalid, Dot(path, "directResponse"),
            "directResponse is mutually exclusive with route and redirect");
    }
    if (!has_route && !has_redirect && !has_direct && !Field(*o, "delegate")) {
      Error(Type::kRequired, Dot(path, "route"),
            "one of route, redirect or directResponse is required");
    }
    if (Field(*o, "rewrite") && (has_redirect || has_direct)) {
      Error(Type::kInvalid, Dot(path, "rewrite"),
            "rewrite cannot be used with redirect or directResponse");
    }
    if ((has_redirect || has_direct) &&
        (Field(*o, "mirror") || Field(*o, "retries") || Field(*o, "timeout"))) {
      Error(Type::kInvalid, path,
            "mirror, retries and timeout need route destinations (not redirect or "
            "directResponse)");
    }
  }

  void Spec(const json::value& v, const std::string& ns, std::string_view cluster_domain,
            VirtualService& vs) {
    const std::string path = "spec";
    const json::object* o = Object(v, path);
    if (!o) return;
    if (Field(*o, "tcp")) {
      Error(Type::kNotSupported, "spec.tcp", "skiff routes HTTP only");
    }
    if (Field(*o, "tls")) {
      Error(Type::kNotSupported, "spec.tls", "skiff routes HTTP only");
    }
    CheckKeys(*o, path, {"hosts", "gateways", "http", "tcp", "tls", "exportTo"});
    const json::value* hosts = Field(*o, "hosts");
    if (!hosts) {
      Error(Type::kRequired, "spec.hosts", "at least one host is required");
    } else {
      auto list = StringList(*hosts, "spec.hosts");
      if (hosts->is_array() && list.empty() && hosts->get_array().empty()) {
        Error(Type::kRequired, "spec.hosts", "at least one host is required");
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < list.size(); ++i) {
        std::string h = ToLower(list[i]);
        if (std::string why = CheckHost(h); !why.empty()) {
          Error(Type::kInvalid, Idx("spec.hosts", i), why, json::value(list[i]));
          continue;
        }
        if (h != "*" && h.find('.') == std::string::npos) {
          h += "." + ns + ".svc." + std::string(cluster_domain);
        }
        if (!seen.insert(h).second) {
          Error(Type::kDuplicate, Idx("spec.hosts", i), "", json::value(list[i]));
          continue;
        }
        vs.hosts.push_back(std::move(h));
      }
    }
    if (const json::value* x = Field(*o, "gateways")) {
      vs.gateways = StringList(*x, "spec.gateways");
    }
    if (const json::value* x = Field(*o, "exportTo")) StringList(*x, "spec.exportTo");
    const json::value* http = Field(*o, "http");
    if (!http) {
      Error(Type::kRequired, "spec.http", "skiff routes HTTP only: at least one http route");
      return;
    }
    const json::array* a = Array(*http, "spec.http");
    if (!a) return;
    if (a->empty()) {
      Error(Type::kRequired, "spec.http", "skiff routes HTTP only: at least one http route");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < a->size(); ++i) {
      HttpRoute r;
      std::string rpath = Idx("spec.http", i);
      HttpRouteField((*a)[i], rpath, r);
      if (!r.name.empty() && !names.insert(r.name).second) {
        Error(Type::kDuplicate, Dot(rpath, "name"), "http route names must be unique",
              json::value(r.name));
      }
      vs.http.push_back(std::move(r));
    }
  }

 private:
  FieldErrors& errors_;
};

void ParseInto(const json::object& obj, FieldErrors& errors, std::string_view cluster_domain,
               VirtualService& vs) {
  Parser p(errors);
  std::string api_version = GetString(obj, "apiVersion");
  if (!api_version.empty() && api_version != "networking.istio.io/v1beta1" &&
      api_version != "networking.istio.io/v1alpha3" && api_version != "networking.istio.io/v1") {
    p.Error(Type::kNotSupported, "apiVersion",
            "supported values: networking.istio.io/v1beta1, networking.istio.io/v1alpha3, "
            "networking.istio.io/v1",
            json::value(api_version));
  }
  std::string kind = GetString(obj, "kind");
  if (!kind.empty() && kind != "VirtualService") {
    p.Error(Type::kNotSupported, "kind", "supported values: VirtualService", json::value(kind));
  }
  vs.name = GetString(obj, "metadata.name");
  vs.namespace_name = GetString(obj, "metadata.namespace", "default");
  if (vs.namespace_name.empty()) vs.namespace_name = "default";
  vs.creation_timestamp = GetString(obj, "metadata.creationTimestamp");
  const json::value* spec = Field(obj, "spec");
  if (!spec) {
    p.Error(Type::kRequired, "spec", "spec is required");
    return;
  }
  p.Spec(*spec, vs.namespace_name, cluster_domain, vs);
}

}  // namespace

api::FieldErrors ValidateVirtualService(const json::object& obj) {
  api::FieldErrors errors;
  VirtualService vs;
  ParseInto(obj, errors, "cluster.local", vs);
  return errors;
}

Result<VirtualService> ParseVirtualService(const json::object& obj, api::FieldErrors* errors,
                                           std::string_view cluster_domain) {
  api::FieldErrors local;
  VirtualService vs;
  ParseInto(obj, local, cluster_domain, vs);
  if (vs.name.empty()) {
    local.push_back(FieldError{Type::kRequired, "metadata.name", "name is required", {}});
  }
  if (!local.empty()) {
    std::string message = "VirtualService " + vs.namespace_name + "/" + vs.name +
                          " is invalid: " + FormatFieldErrors(local);
    if (errors) *errors = std::move(local);
    return InvalidArgument(std::move(message));
  }
  if (errors) errors->clear();
  return vs;
}

std::string FormatFieldErrors(const api::FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += api::FormatFieldError(e);
  }
  return out;
}

}  // namespace skiff::gateway
