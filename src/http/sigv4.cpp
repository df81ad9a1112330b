#include "http/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "core/crypto.hpp"
#include "core/result.hpp"

namespace skiff::http::sigv4 {

namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = Lower(c);
  return out;
}

// Trims spaces and tabs at both ends and collapses inner runs of spaces to one (AWS: "convert
// sequential spaces to a single space"), quoted or not, as the get-header-value-trim vector
// shows.
std::string TrimAll(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

const std::string* FindHeader(const Pairs& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (ToLower(name) == lower_name) return &value;
  }
  return nullptr;
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  bool trailing_slash = !path.empty() && path.back() == '/';
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = trailing_slash || next == path.size();
    } else if (seg == ".") {
      trailing_slash = trailing_slash || next == path.size();
    } else if (!seg.empty()) {
      segments.push_back(seg);
    }
    pos = next + 1;
  }
  std::string out;
  for (auto seg : segments) {
    out += '/';
    out += seg;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

std::string CanonicalUri(std::string_view path, const Options& options) {
  if (path.empty()) return "/";
  if (options.normalize_path) return UriEncode(NormalizePath(path), true);
  return UriEncode(path, true);
}

std::string CanonicalQuery(const Pairs& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());  // by encoded name, then encoded value
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::pair<std::string, std::string> CanonicalHeaders(const Pairs& headers) {
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) lowered.emplace_back(ToLower(name), TrimAll(value));
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string block;
  std::string names;
  for (size_t i = 0; i < lowered.size();) {
    const std::string& name = lowered[i].first;
    std::string value = lowered[i].second;
    size_t j = i + 1;
    for (; j < lowered.size() && lowered[j].first == name; ++j) {
      value += ',';
      value += lowered[j].second;
    }
    block += name + ":" + value + "\n";
    if (!names.empty()) names += ';';
    names += name;
    i = j;
  }
  return {block, names};
}

std::string CanonicalRequest(const Request& request, const Options& options) {
  auto [header_block, signed_names] = CanonicalHeaders(request.headers);
  return request.method + "\n" + CanonicalUri(request.path, options) + "\n" +
         CanonicalQuery(request.query) + "\n" + header_block + "\n" + signed_names + "\n" +
         request.payload_hash;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  SKIFF_CHECK(result != nullptr && len == 32);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k_date = HmacSha256("AWS4" + std::string(secret), date);
  std::string k_region = HmacSha256(k_date, region);
  std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, "aws4_request");
}

std::string AmzDate(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Signature Compute(const Request& request, const Credentials& credentials, std::string_view region,
                  std::string_view service, const Options& options) {
  const std::string* amz_date = FindHeader(request.headers, "x-amz-date");
  SKIFF_CHECK(amz_date != nullptr && amz_date->size() >= 8);
  std::string date = amz_date->substr(0, 8);
  std::string scope =
      date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";

  Signature sig;
  sig.canonical_request = CanonicalRequest(request, options);
  sig.signed_headers = CanonicalHeaders(request.headers).second;
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + *amz_date + "\n" + scope + "\n" +
                       HexEncode(Sha256(sig.canonical_request));
  std::string key = SigningKey(credentials.secret_access_key, date, region, service);
  sig.signature = HexEncode(HmacSha256(key, sig.string_to_sign));
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + sig.signed_headers + ", Signature=" + sig.signature;
  return sig;
}

Signature Sign(Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::chrono::system_clock::time_point now,
               bool content_sha256_header, const Options& options) {
  if (!FindHeader(request.headers, "x-amz-date")) {
    request.headers.emplace_back("x-amz-date", AmzDate(now));
  }
  if (!credentials.session_token.empty() && !FindHeader(request.headers, "x-amz-security-token")) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  if (content_sha256_header && !FindHeader(request.headers, "x-amz-content-sha256")) {
    request.headers.emplace_back("x-amz-content-sha256", request.payload_hash);
  }
  Signature sig = Compute(request, credentials, region, service, options);
  request.headers.emplace_back("Authorization", sig.authorization);
  return sig;
}

}  // namespace skiff::http::sigv4
