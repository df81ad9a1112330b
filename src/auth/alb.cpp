#include "auth/alb.hpp"

#include <cmath>

#include "auth/authn_util.hpp"
#include "core/json.hpp"

namespace skiff::auth {

namespace {

// ALB ARNs and client ids are longer than kids: show up to 128 bytes.
std::string Shown(std::string_view s) { return jose::PrintableForLog(s, 128); }

Status NeedKey(std::string message) {
  return Status(Code::kUnauthenticated, std::move(message), std::string(kKeyRefreshReason));
}

const json::string* Str(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it == o.end() ? nullptr : it->value().if_string();
}

std::vector<std::string> Groups(const json::object& claims) {
  std::vector<std::string> out;
  for (std::string_view name : {"groups", "cognito:groups"}) {
    auto it = claims.find(name);
    if (it == claims.end()) continue;
    if (const json::array* arr = it->value().if_array()) {
      for (const json::value& v : *arr) {
        if (const json::string* s = v.if_string()) out.emplace_back(*s);
      }
    } else if (const json::string* s = it->value().if_string()) {
      // Some IdPs pass a comma-separated list through userinfo.
      for (auto& g : SplitCommaList(*s)) out.push_back(std::move(g));
    }
    if (!out.empty()) break;
  }
  return out;
}

}  // namespace

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

AlbVerifier::AlbVerifier(AlbOptions options, Clock& clock, FetchFn fetch)
    : options_(std::move(options)),
      clock_(clock),
      fetch_(fetch ? std::move(fetch) : FetchFn(http::Fetch)) {}

Result<std::unique_ptr<AlbVerifier>> AlbVerifier::Create(AlbOptions options, Clock& clock,
                                                         FetchFn fetch) {
  if (options.signer_arns.empty()) {
    return InvalidArgument("ALB mode needs the load balancer's ARN (signer)");
  }
  if (options.key_base_url.empty()) {
    if (options.region.empty()) return InvalidArgument("ALB mode needs the AWS region");
    for (char c : options.region) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return InvalidArgument("ALB region " + Shown(options.region) + " is malformed");
      }
    }
    options.key_base_url = "https://public-keys.auth.elb." + options.region + ".amazonaws.com";
  }
  while (!options.key_base_url.empty() && options.key_base_url.back() == '/') {
    options.key_base_url.pop_back();
  }
  if (options.key_base_url.rfind("https://", 0) != 0 &&
      options.key_base_url.rfind("http://", 0) != 0) {
    return InvalidArgument("ALB key base URL must be http(s): " + options.key_base_url);
  }
  if (options.max_cached_keys == 0) options.max_cached_keys = 1;
  return std::make_unique<AlbVerifier>(std::move(options), clock, std::move(fetch));
}

std::string AlbVerifier::KeyUrl(std::string_view kid) const {
  return options_.key_base_url + "/" + std::string(kid);
}

size_t AlbVerifier::cached_keys() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

int AlbVerifier::fetch_count() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<jose::Jws> AlbVerifier::ParseAndCheckHeader(
    std::string_view data, std::chrono::system_clock::time_point now) const {
  jose::ParseOptions parse;
  parse.max_bytes = options_.max_token_bytes;
  parse.algorithms = {jose::Alg::kES256};
  parse.allow_padding = true;  // ALB pads its segments; the signature covers them as sent
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, jose::Parse(data, parse));
  const json::string* signer = Str(jws.header, "signer");
  if (!signer) return Unauthenticated("ALB token header has no \"signer\"");
  if (std::find(options_.signer_arns.begin(), options_.signer_arns.end(),
                std::string_view(*signer)) == options_.signer_arns.end()) {
    return Unauthenticated("ALB token signer " + Shown(*signer) + " is not the configured ALB");
  }
  if (!options_.client_id.empty()) {
    const json::string* client = Str(jws.header, "client");
    if (!client || *client != options_.client_id) {
      return Unauthenticated("ALB token client " + Shown(client ? *client : "") +
                             " is not the configured client id");
    }
  }
  if (!options_.issuer.empty()) {
    const json::string* iss = Str(jws.header, "iss");
    if (!iss || *iss != options_.issuer) {
      return Unauthenticated("ALB token iss " + Shown(iss ? *iss : "") +
                             " is not the configured issuer");
    }
  }
  auto exp_it = jws.header.find("exp");
  if (exp_it == jws.header.end()) return Unauthenticated("ALB token header has no \"exp\"");
  double exp = 0;
  if (exp_it->value().is_int64()) {
    exp = static_cast<double>(exp_it->value().get_int64());
  } else if (exp_it->value().is_uint64()) {
    exp = static_cast<double>(exp_it->value().get_uint64());
  } else if (exp_it->value().is_double() && std::isfinite(exp_it->value().get_double())) {
    exp = exp_it->value().get_double();
  } else {
    return Unauthenticated("ALB token header \"exp\" is not a number");
  }
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  if (t >= exp + static_cast<double>(options_.skew.count())) {
    return Unauthenticated("ALB token expired " + std::to_string(static_cast<int64_t>(t - exp)) +
                           " s ago");
  }
  if (!IsUuid(jws.kid)) {
    return Unauthenticated("ALB token kid " + Shown(jws.kid) + " is not a UUID");
  }
  return jws;
}

Result<AlbIdentity> AlbVerifier::Verify(std::string_view data,
                                        std::chrono::system_clock::time_point now) const {
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, ParseAndCheckHeader(data, now));
  std::shared_ptr<const jose::Key> key;
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(jws.kid);
    if (it != keys_.end()) {
      key = it->second;
    } else {
      auto f = failed_.find(jws.kid);
      if (f != failed_.end() && clock_.Steady() - f->second < options_.failed_fetch_backoff) {
        return Unauthenticated("ALB key " + Shown(jws.kid) +
                               " could not be fetched recently; not retried yet");
      }
    }
  }
  if (!key) return NeedKey("ALB key " + Shown(jws.kid) + " is not cached yet");
  SKIFF_RETURN_IF_ERROR(jose::Verify(jws, *key).WithPrefix("ALB token"));
  AlbIdentity id;
  id.kid = jws.kid;
  const json::string* sub = Str(jws.payload, "sub");
  if (!sub || sub->empty()) return Unauthenticated("ALB token has no \"sub\" claim");
  id.sub = std::string(*sub);
  if (const json::string* email = Str(jws.payload, "email")) id.email = std::string(*email);
  if (const json::string* name = Str(jws.payload, "name")) id.name = std::string(*name);
  id.groups = Groups(jws.payload);
  // A payload exp, when present, must hold too (ALB copies the session's expiry there).
  if (jws.payload.contains("exp")) {
    jose::ClaimsPolicy p;
    p.skew = options_.skew;
    SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, p, now).WithPrefix("ALB token"));
  }
  id.header = std::move(jws.header);
  id.claims = std::move(jws.payload);
  return id;
}

Status AlbVerifier::FetchKey(std::string_view kid) {
  if (!IsUuid(kid)) return Unauthenticated("ALB token kid " + Shown(kid) + " is not a UUID");
  {
    std::lock_guard lock(mu_);
    if (keys_.count(kid)) return Status::Ok();
    auto f = failed_.find(kid);
    if (f != failed_.end() && clock_.Steady() - f->second < options_.failed_fetch_backoff) {
      return Unavailable("ALB key " + Shown(kid) + " could not be fetched recently");
    }
    ++fetches_;
  }
  // Concurrent fetches of the same new kid may happen; both insert the same key (harmless).
  http::ClientRequest req;
  req.url = KeyUrl(kid);
  req.timeout = options_.timeout;
  req.max_response_bytes = options_.max_key_bytes;
  req.ca_file = options_.ca_file;
  Status error;
  std::shared_ptr<const jose::Key> key;
  auto resp = fetch_(req);
  if (!resp) {
    error = Unavailable("fetching ALB key from " + req.url + ": " + resp.error().message());
  } else if (resp->status != 200) {
    error =
        Unavailable("fetching ALB key from " + req.url + ": HTTP " + std::to_string(resp->status));
  } else {
    auto k = jose::Key::FromPem(resp->body);
    if (!k) {
      error = Unavailable("ALB key from " + req.url + ": " + k.error().message());
    } else if (!k->Allows(jose::Alg::kES256)) {
      error = Unavailable("ALB key from " + req.url + " is not an EC P-256 key");
    } else {
      k->set_alg(jose::Alg::kES256);
      k->set_kid(std::string(kid));
      key = std::make_shared<const jose::Key>(std::move(*k));
    }
  }
  std::lock_guard lock(mu_);
  if (!key) {
    failed_[std::string(kid)] = clock_.Steady();
    // Bound the negative cache like the positive one.
    while (failed_.size() > options_.max_cached_keys) failed_.erase(failed_.begin());
    return error;
  }
  failed_.erase(std::string(kid));
  if (keys_.emplace(std::string(kid), std::move(key)).second) {
    order_.emplace_back(kid);
    while (keys_.size() > options_.max_cached_keys) {
      keys_.erase(order_.front());
      order_.pop_front();
    }
  }
  return Status::Ok();
}

Result<AlbIdentity> AlbVerifier::VerifyOrFetch(std::string_view data,
                                               std::chrono::system_clock::time_point now) {
  auto r = Verify(data, now);
  if (r || !NeedsKeyRefresh(r.error())) return r;
  // The header checks passed, so the kid is a UUID from a token naming our ALB.
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, ParseAndCheckHeader(data, now));
  Status fetched = FetchKey(jws.kid);
  if (!fetched.ok()) return Unauthenticated(fetched.message());
  return Verify(data, now);
}

}  // namespace skiff::auth
