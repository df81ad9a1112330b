// Helpers shared by the provider's translation units (provider_impl.hpp).

#include <algorithm>

#include "core/crypto.hpp"
#include "identity/provider_impl.hpp"

namespace skiff::identity::internal {

namespace {

void AppendVarint(std::string& out, size_t n) {
  while (n >= 0x80) {
    out += static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out += static_cast<char>(n);
}

}  // namespace

int64_t Unix(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string HashHex(std::string_view secret) { return HexEncode(Sha256(secret)); }

Result<Form> ParseForm(std::string_view text) {
  Form out;
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == text.npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto name = http::PercentDecode(pair.substr(0, eq), true);
    auto value = http::PercentDecode(eq == pair.npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) return InvalidArgument("malformed percent-encoding");
    if (out.contains(*name)) return InvalidArgument("parameter " + *name + " given more than once");
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

std::string Param(const Form& form, std::string_view name) {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == s.npos) j = s.size();
    if (j > i) {
      std::string w(s.substr(i, j - i));
      if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(std::move(w));
    }
    i = j + 1;
  }
  return out;
}

std::string JoinSpaces(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

namespace {

// "http://127.0.0.1/callback" -> host "127.0.0.1", rest "/callback"; "http://[::1]:8000/x" ->
// "[::1]", "/x" and *port "8000". Empty host when `uri` is not an http:// loopback IP URI.
std::pair<std::string_view, std::string_view> LoopbackParts(std::string_view uri,
                                                            std::string_view* port) {
  constexpr std::string_view kScheme = "http://";
  *port = {};
  if (uri.substr(0, kScheme.size()) != kScheme) return {};
  uri.remove_prefix(kScheme.size());
  size_t slash = uri.find('/');
  std::string_view authority = uri.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? "/" : uri.substr(slash);
  for (std::string_view h : {std::string_view("127.0.0.1"), std::string_view("[::1]")}) {
    if (authority.substr(0, h.size()) == h &&
        (authority.size() == h.size() || authority[h.size()] == ':')) {
      if (authority.size() > h.size()) *port = authority.substr(h.size() + 1);
      return {h, rest};
    }
  }
  return {};
}

}  // namespace

bool RedirectUriRegistered(const std::vector<std::string>& registered, std::string_view uri) {
  if (Contains(registered, uri)) return true;
  // RFC 8252 7.3: a native app's loopback redirect (http://127.0.0.1 or http://[::1],
  // registered without a port) may use any port the app could bind; host, path and query must
  // still match exactly. "localhost" is not treated so (RFC 8252 8.3).
  std::string_view port;
  auto [host, rest] = LoopbackParts(uri, &port);
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  for (const auto& r : registered) {
    std::string_view registered_port;
    auto [rhost, rrest] = LoopbackParts(r, &registered_port);
    if (!rhost.empty() && registered_port.empty() && rhost == host && rrest == rest) return true;
  }
  return false;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

http::Response OAuthError(int status, std::string_view error, std::string_view description) {
  json::object o;
  o["error"] = error;
  if (!description.empty()) o["error_description"] = description;
  auto r = http::Response::Json(status, Serialize(o));
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("Pragma", "no-cache");
  return r;
}

http::Response Html(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("X-Frame-Options", "DENY");
  // No form-action: browsers apply it to the redirect that follows the login post, which goes
  // to the application's (other) origin.
  r.headers.Set("Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  r.headers.Set("Referrer-Policy", "no-referrer");
  r.body = std::move(body);
  return r;
}

http::Response Redirect(int status, const std::string& location) {
  http::Response r;
  r.status = status;
  r.headers.Set("Location", location);
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

std::string AddParams(std::string uri, const std::vector<std::pair<std::string, std::string>>& ps) {
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : ps) {
    uri += sep;
    uri += http::PercentEncode(k) + "=" + http::PercentEncode(v);
    sep = '&';
  }
  return uri;
}

std::optional<std::string> Cookie(const http::Request& req, std::string_view name) {
  for (auto header : req.headers.GetAll("Cookie")) {
    while (!header.empty()) {
      size_t semi = header.find(';');
      std::string_view part = header.substr(0, semi);
      header = semi == header.npos ? std::string_view() : header.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      size_t eq = part.find('=');
      if (eq != part.npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::string AddressOf(const std::string& remote) {
  if (!remote.empty() && remote.front() == '[') return remote.substr(0, remote.find(']') + 1);
  size_t colon = remote.rfind(':');
  return colon == remote.npos ? remote : remote.substr(0, colon);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Subject(const Identity& id) {
  std::string pb;
  pb += '\x0a';
  AppendVarint(pb, id.user_id.size());
  pb += id.user_id;
  pb += '\x12';
  AppendVarint(pb, id.connector_id.size());
  pb += id.connector_id;
  return Base64UrlEncode(pb);
}

bool ValidPkceValue(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
           c == '~';
  });
}

}  // namespace skiff::identity::internal
