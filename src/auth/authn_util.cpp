#include "auth/authn_util.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace skiff::auth {

namespace {

// "127.0.0.1:80" -> "127.0.0.1"; "[::1]:80" -> "::1"; bare addresses unchanged.
std::string HostOf(std::string_view addr) {
  if (!addr.empty() && addr.front() == '[') {
    size_t close = addr.find(']');
    return std::string(addr.substr(1, close == addr.npos ? addr.npos : close - 1));
  }
  size_t first = addr.find(':');
  if (first != addr.npos && addr.find(':', first + 1) == addr.npos) {
    return std::string(addr.substr(0, first));
  }
  return std::string(addr);
}

bool ParseAddress(const std::string& host, bool* v6, std::array<unsigned char, 16>* bytes) {
  bytes->fill(0);
  if (inet_pton(AF_INET, host.c_str(), bytes->data()) == 1) {
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), bytes->data()) == 1) {
    *v6 = true;
    // IPv4-mapped addresses (::ffff:a.b.c.d) compare as IPv4.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes->data(), kMapped, 12) == 0) {
      std::memmove(bytes->data(), bytes->data() + 12, 4);
      std::memset(bytes->data() + 4, 0, 12);
      *v6 = false;
    }
    return true;
  }
  return false;
}

bool Ieq(std::string_view a, std::string_view b) { return http::EqualsIgnoreCase(a, b); }

}  // namespace

std::optional<std::string> CookieValue(const http::HeaderMap& headers, std::string_view name) {
  for (std::string_view line : headers.GetAll("Cookie")) {
    while (!line.empty()) {
      size_t semi = line.find(';');
      std::string_view pair = http::TrimOws(line.substr(0, semi));
      line = semi == line.npos ? std::string_view() : line.substr(semi + 1);
      size_t eq = pair.find('=');
      if (eq == pair.npos) continue;
      if (http::TrimOws(pair.substr(0, eq)) != name) continue;
      std::string_view value = http::TrimOws(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return std::nullopt;
}

std::string SetCookie(std::string_view name, std::string_view value, const CookieAttributes& a) {
  std::string out;
  out.append(name).append("=").append(value);
  out.append("; Path=").append(a.path);
  if (a.max_age) {
    out.append("; Max-Age=").append(std::to_string(a.max_age->count()));
    if (a.max_age->count() == 0) out.append("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  }
  if (a.http_only) out.append("; HttpOnly");
  if (a.secure) out.append("; Secure");
  if (!a.same_site.empty()) out.append("; SameSite=").append(a.same_site);
  return out;
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  text = http::TrimOws(text);
  Cidr c;
  std::string host(text.substr(0, text.find('/')));
  if (!ParseAddress(host, &c.v6_, &c.bytes_)) {
    return InvalidArgument("\"" + std::string(text) + "\" is not an IP address or CIDR range");
  }
  int max = c.v6_ ? 128 : 32;
  c.bits_ = max;
  if (size_t slash = text.find('/'); slash != text.npos) {
    std::string_view bits = text.substr(slash + 1);
    int b = -1;
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), b);
    if (ec != std::errc() || p != bits.data() + bits.size() || b < 0 || b > max) {
      return InvalidArgument("\"" + std::string(text) + "\" has an invalid prefix length");
    }
    c.bits_ = b;
  }
  return c;
}

bool Cidr::Contains(std::string_view addr) const {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
  if (!ParseAddress(HostOf(addr), &v6, &bytes) || v6 != v6_) return false;
  int full = bits_ / 8;
  if (std::memcmp(bytes.data(), bytes_.data(), full) != 0) return false;
  int rest = bits_ % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (bytes[full] & mask) == (bytes_[full] & mask);
}

Result<std::vector<Cidr>> ParseCidrs(const std::vector<std::string>& entries) {
  std::vector<Cidr> out;
  for (const auto& e : entries) {
    SKIFF_ASSIGN_OR_RETURN(Cidr c, Cidr::Parse(e));
    out.push_back(c);
  }
  return out;
}

bool AnyContains(const std::vector<Cidr>& cidrs, std::string_view addr) {
  for (const auto& c : cidrs) {
    if (c.Contains(addr)) return true;
  }
  return false;
}

bool IsSecureRequest(const http::Request& req, const std::vector<Cidr>& trusted_proxies) {
  if (req.tls) return true;
  auto proto = req.headers.Get("X-Forwarded-Proto");
  if (!proto || !AnyContains(trusted_proxies, req.remote_addr)) return false;
  std::string_view p = *proto;
  p = http::TrimOws(p.substr(0, p.find(',')));  // the first (client-facing) hop
  return Ieq(p, "https");
}

std::string RequestOrigin(const http::Request& req, const std::vector<Cidr>& trusted_proxies) {
  auto host = req.headers.Get("Host");
  if (!host || host->empty()) return {};
  return std::string(IsSecureRequest(req, trusted_proxies) ? "https://" : "http://") +
         std::string(http::TrimOws(*host));
}

std::optional<std::string> SafeLocalTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  if (target.size() > 1 && (target[1] == '/' || target[1] == '\\')) return std::nullopt;
  for (unsigned char c : target) {
    if (c < 0x20 || c == 0x7f || c == '\\') return std::nullopt;
  }
  if (target.size() > 4096) return std::nullopt;
  return std::string(target);
}

bool IsBrowserNavigation(const http::Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  auto accept = req.headers.Get("Accept");
  if (!accept || accept->find("text/html") == std::string_view::npos) return false;
  if (auto xrw = req.headers.Get("X-Requested-With"); xrw && Ieq(*xrw, "XMLHttpRequest")) {
    return false;
  }
  return true;
}

std::string UrlEncode(std::string_view s) { return http::PercentEncode(s); }

std::vector<std::string> SplitCommaList(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace skiff::auth
