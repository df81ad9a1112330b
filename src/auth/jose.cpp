#include "auth/jose.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cmath>
#include <set>

#include "core/clock.hpp"
#include "core/crypto.hpp"

namespace skiff::auth::jose {

namespace {

constexpr size_t kMaxKid = 256;
constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr size_t kMaxJwksKeys = 100;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;

enum class Family { kRsa, kEc };

struct AlgInfo {
  Alg alg;
  std::string_view name;
  Family family;
  int bits;                // digest size: 256, 384, 512
  std::string_view curve;  // JWK "crv" for ES*
  size_t coord_bytes = 0;  // ES*: size of R and S
};

constexpr AlgInfo kAlgs[] = {
    {Alg::kRS256, "RS256", Family::kRsa, 256, "", 0},
    {Alg::kRS384, "RS384", Family::kRsa, 384, "", 0},
    {Alg::kRS512, "RS512", Family::kRsa, 512, "", 0},
    {Alg::kPS256, "PS256", Family::kRsa, 256, "", 0},
    {Alg::kPS384, "PS384", Family::kRsa, 384, "", 0},
    {Alg::kPS512, "PS512", Family::kRsa, 512, "", 0},
    {Alg::kES256, "ES256", Family::kEc, 256, "P-256", 32},
    {Alg::kES384, "ES384", Family::kEc, 384, "P-384", 48},
    {Alg::kES512, "ES512", Family::kEc, 512, "P-521", 66},
};

const AlgInfo& Info(Alg alg) {
  for (const auto& a : kAlgs) {
    if (a.alg == alg) return a;
  }
  SKIFF_CHECK(false);
}

bool IsPss(Alg alg) { return alg == Alg::kPS256 || alg == Alg::kPS384 || alg == Alg::kPS512; }

const EVP_MD* Digest(Alg alg) {
  switch (Info(alg).bits) {
    case 256:
      return EVP_sha256();
    case 384:
      return EVP_sha384();
    default:
      return EVP_sha512();
  }
}

// JWK "crv" -> OpenSSL group name, and coordinate size.
struct Curve {
  std::string_view jwk;
  std::string_view ossl;
  size_t bytes;
};
constexpr Curve kCurves[] = {
    {"P-256", "prime256v1", 32}, {"P-384", "secp384r1", 48}, {"P-521", "secp521r1", 66}};

const Curve* CurveByJwk(std::string_view crv) {
  for (const auto& c : kCurves) {
    if (c.jwk == crv) return &c;
  }
  return nullptr;
}
const Curve* CurveByOpenSsl(std::string_view name) {
  for (const auto& c : kCurves) {
    if (c.ossl == name || c.jwk == name) return &c;
  }
  return nullptr;
}

// OpenSSL's error queue is per thread; failures here must not leak entries into other code.
Status CryptoError(std::string what) {
  ERR_clear_error();
  return Internal(std::move(what));
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

BnPtr BnFromBytes(std::string_view b) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(b.data()),
                         static_cast<int>(b.size()), nullptr));
}

std::string BnToBytes(const BIGNUM* bn, int pad_to = 0) {
  const int len = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(len), '\0');
  if (pad_to > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

// Base64url of a token segment. Refuses anything outside the URL alphabet (whitespace too, which
// the core decoder would skip), and '=' padding unless `allow_padding`.
Result<std::string> DecodeSegment(std::string_view seg, bool allow_padding, std::string_view what) {
  size_t data_len = seg.size();
  if (allow_padding) {
    while (data_len > 0 && seg[data_len - 1] == '=') --data_len;
    if (seg.size() - data_len > 2) return Unauthenticated(std::string(what) + ": bad padding");
  }
  for (size_t i = 0; i < data_len; ++i) {
    const char c = seg[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) {
      if (c == '=') {
        return Unauthenticated(std::string(what) + ": base64url padding is not allowed");
      }
      return Unauthenticated(std::string(what) + ": not base64url");
    }
  }
  auto r = Base64UrlDecode(seg);
  if (!r) return Unauthenticated(std::string(what) + ": not base64url");
  return std::move(*r);
}

// Finds duplicate member names anywhere in a JSON text (Boost.JSON keeps the last one
// silently; RFC 7515 4 says a JWS with duplicates must be rejected or take the last, and
// RFC 8725 prefers rejection: two parsers may read different values).
class DuplicateKeyHandler {
 public:
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);

  bool duplicate = false;
  std::string duplicate_name;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(size_t, boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(size_t, boost::system::error_code&) {
    keys_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, size_t, boost::system::error_code&) { return true; }
  bool on_string(json::string_view, size_t, boost::system::error_code&) { return true; }
  bool on_key_part(json::string_view s, size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, boost::system::error_code& ec) {
    key_.append(s.data(), s.size());
    if (!keys_.back().insert(key_).second) {
      duplicate = true;
      duplicate_name = key_;
      ec = boost::json::error::syntax;  // stop parsing
      key_.clear();
      return false;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  std::vector<std::set<std::string>> keys_;
  std::string key_;
};

// A JSON object without duplicate member names, anywhere.
Result<json::object> ParseStrictObject(std::string_view text, std::string_view what) {
  json::parse_options opts;
  opts.max_depth = 32;
  json::basic_parser<DuplicateKeyHandler> p(opts);
  boost::system::error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  if (p.handler().duplicate) {
    return Unauthenticated(std::string(what) + " has a duplicate member " +
                           PrintableForLog(p.handler().duplicate_name));
  }
  if (ec) return Unauthenticated(std::string(what) + " is not valid JSON");
  auto obj = ParseJsonObject(text);
  if (!obj) return Unauthenticated(std::string(what) + " is not a JSON object");
  return std::move(*obj);
}

const json::string* StringMember(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return nullptr;
  return it->value().if_string();
}

bool IsSigAlgFamilyHmac(std::string_view name) {
  return name.size() >= 2 && name.substr(0, 2) == "HS";
}

// Reads a JSON number as seconds since the epoch.
std::optional<double> NumericDate(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
  return std::nullopt;
}

std::string FormatDate(double seconds) {
  // Clamp to a range system_clock can hold (about +-292 years around 1970 in nanoseconds).
  const double clamped = std::clamp(seconds, -9.0e9, 9.0e9);
  return FormatRfc3339(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(static_cast<int64_t>(clamped)))));
}

}  // namespace

struct Key::Impl {
  EVP_PKEY* pkey = nullptr;
  Family family = Family::kRsa;
  const Curve* curve = nullptr;  // EC only
  bool is_private = false;
  ~Impl() { EVP_PKEY_free(pkey); }
};

namespace {

// Takes ownership of `pkey`; checks type and strength.
Result<std::shared_ptr<Key::Impl>> MakeImpl(PkeyPtr pkey, bool is_private) {
  auto impl = std::make_shared<Key::Impl>();
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    impl->family = Family::kRsa;
    const int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < kMinRsaBits) {
      return InvalidArgument("RSA key of " + std::to_string(bits) + " bits; at least " +
                             std::to_string(kMinRsaBits) + " are required");
    }
    if (bits > kMaxRsaBits) return InvalidArgument("RSA key too large");
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    impl->family = Family::kEc;
    char name[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name,
                                       &len) != 1) {
      return CryptoError("EC key without a named curve");
    }
    impl->curve = CurveByOpenSsl(std::string_view(name, len));
    if (!impl->curve) {
      ERR_clear_error();
      return InvalidArgument("EC curve " + PrintableForLog(std::string_view(name, len)) +
                             " is not supported (P-256, P-384, P-521)");
    }
  } else {
    ERR_clear_error();
    return InvalidArgument("key type is not RSA or EC");
  }
  impl->is_private = is_private;
  impl->pkey = pkey.release();
  return impl;
}

Status CheckPublic(EVP_PKEY* pkey) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  if (!ctx) return CryptoError("EVP_PKEY_CTX_new_from_pkey failed");
  const int ok = EVP_PKEY_public_check(ctx);
  EVP_PKEY_CTX_free(ctx);
  if (ok != 1) {
    ERR_clear_error();
    return InvalidArgument("public key fails validation (point not on the curve?)");
  }
  return Status::Ok();
}

Result<PkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  OSSL_PARAM_BLD_free(bld);
  if (!params) return CryptoError("OSSL_PARAM_BLD_to_param failed");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) {
    ERR_clear_error();
    return InvalidArgument(std::string("invalid ") + type + " public key");
  }
  PkeyPtr p(pkey);
  SKIFF_RETURN_IF_ERROR(CheckPublic(p.get()));
  return p;
}

Result<std::string> JwkBytes(const json::object& jwk, std::string_view name) {
  const json::string* s = StringMember(jwk, name);
  if (!s) return InvalidArgument("JWK member \"" + std::string(name) + "\" is missing");
  auto r = DecodeSegment(*s, false, "JWK member");
  if (!r || r->empty()) {
    return InvalidArgument("JWK member \"" + std::string(name) + "\" is not base64url");
  }
  return std::move(*r);
}

}  // namespace

std::optional<Alg> AlgFromName(std::string_view name) {
  for (const auto& a : kAlgs) {
    if (a.name == name) return a.alg;
  }
  return std::nullopt;
}

std::string_view AlgName(Alg alg) { return Info(alg).name; }

Result<Key> Key::FromJwk(const json::object& jwk) {
  const json::string* kty = StringMember(jwk, "kty");
  if (!kty) return InvalidArgument("JWK without a string \"kty\"");
  Key key;
  if (const json::string* alg = StringMember(jwk, "alg")) {
    auto a = AlgFromName(*alg);
    if (!a)
      return InvalidArgument("JWK alg " + PrintableForLog(*alg) + " is not a signature algorithm");
    key.alg_ = a;
  } else if (jwk.contains("alg")) {
    return InvalidArgument("JWK \"alg\" is not a string");
  }
  if (const json::string* kid = StringMember(jwk, "kid")) {
    key.kid_ = std::string(*kid);
  } else if (jwk.contains("kid")) {
    return InvalidArgument("JWK \"kid\" is not a string");
  }
  if (const json::string* use = StringMember(jwk, "use")) {
    key.use_ = std::string(*use);
  } else if (jwk.contains("use")) {
    return InvalidArgument("JWK \"use\" is not a string");
  }

  PkeyPtr pkey;
  if (*kty == "RSA") {
    SKIFF_ASSIGN_OR_RETURN(std::string n, JwkBytes(jwk, "n"));
    SKIFF_ASSIGN_OR_RETURN(std::string e, JwkBytes(jwk, "e"));
    if (n.size() > kMaxRsaBits / 8 + 1 || e.size() > 8) {
      return InvalidArgument("RSA JWK too large");
    }
    BnPtr bn_n = BnFromBytes(n);
    BnPtr bn_e = BnFromBytes(e);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    if (!bld || !bn_n || !bn_e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
      OSSL_PARAM_BLD_free(bld);
      return CryptoError("building RSA parameters failed");
    }
    SKIFF_ASSIGN_OR_RETURN(pkey, FromData("RSA", bld));
  } else if (*kty == "EC") {
    const json::string* crv = StringMember(jwk, "crv");
    if (!crv) return InvalidArgument("EC JWK without \"crv\"");
    const Curve* curve = CurveByJwk(*crv);
    if (!curve) return InvalidArgument("EC curve " + PrintableForLog(*crv) + " is not supported");
    SKIFF_ASSIGN_OR_RETURN(std::string x, JwkBytes(jwk, "x"));
    SKIFF_ASSIGN_OR_RETURN(std::string y, JwkBytes(jwk, "y"));
    // RFC 7518 6.2.1.2: the full coordinate width, leading zeros kept.
    if (x.size() != curve->bytes || y.size() != curve->bytes) {
      return InvalidArgument("EC JWK coordinates must be " + std::to_string(curve->bytes) +
                             " bytes for " + std::string(curve->jwk));
    }
    std::string point = "\x04" + x + y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve->ossl.data(), 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size())) {
      OSSL_PARAM_BLD_free(bld);
      return CryptoError("building EC parameters failed");
    }
    SKIFF_ASSIGN_OR_RETURN(pkey, FromData("EC", bld));
  } else if (*kty == "oct") {
    return InvalidArgument("symmetric (\"oct\") keys are not accepted");
  } else {
    return InvalidArgument("JWK kty " + PrintableForLog(*kty) + " is not supported");
  }
  SKIFF_ASSIGN_OR_RETURN(auto impl, MakeImpl(std::move(pkey), false));
  key.impl_ = std::move(impl);
  if (key.alg_ && !key.Allows(*key.alg_) && (key.use_.empty() || key.use_ == "sig")) {
    return InvalidArgument("JWK alg " + std::string(AlgName(*key.alg_)) +
                           " does not match its key type or curve");
  }
  return key;
}

Result<Key> Key::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return InvalidArgument("PEM too large");
  const bool is_public = pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos;
  const bool is_priv = pem.find("-----BEGIN PRIVATE KEY-----") != std::string_view::npos ||
                       pem.find("-----BEGIN RSA PRIVATE KEY-----") != std::string_view::npos ||
                       pem.find("-----BEGIN EC PRIVATE KEY-----") != std::string_view::npos;
  if (!is_public && !is_priv) {
    return InvalidArgument("PEM holds no PUBLIC KEY, PRIVATE KEY, RSA or EC PRIVATE KEY");
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return CryptoError("BIO_new_mem_buf failed");
  // A password callback that refuses: encrypted keys are not supported.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  EVP_PKEY* raw = is_priv ? PEM_read_bio_PrivateKey(bio, nullptr, no_password, nullptr)
                          : PEM_read_bio_PUBKEY(bio, nullptr, no_password, nullptr);
  BIO_free(bio);
  if (!raw) {
    ERR_clear_error();
    return InvalidArgument("PEM key cannot be read (encrypted or malformed)");
  }
  PkeyPtr pkey(raw);
  if (!is_priv) SKIFF_RETURN_IF_ERROR(CheckPublic(pkey.get()));
  SKIFF_ASSIGN_OR_RETURN(auto impl, MakeImpl(std::move(pkey), is_priv));
  Key key;
  key.impl_ = std::move(impl);
  return key;
}

Result<Key> Key::Generate(Alg alg) {
  const AlgInfo& info = Info(alg);
  EVP_PKEY* raw = nullptr;
  if (info.family == Family::kRsa) {
    raw = EVP_RSA_gen(2048);
  } else {
    raw = EVP_EC_gen(CurveByJwk(info.curve)->ossl.data());
  }
  if (!raw) return CryptoError("key generation failed");
  SKIFF_ASSIGN_OR_RETURN(auto impl, MakeImpl(PkeyPtr(raw), true));
  Key key;
  key.impl_ = std::move(impl);
  key.alg_ = alg;
  key.kid_ = key.Thumbprint();
  return key;
}

bool Key::is_private() const { return impl_ && impl_->is_private; }

bool Key::Allows(Alg alg) const {
  if (!impl_) return false;
  const AlgInfo& info = Info(alg);
  if (info.family != impl_->family) return false;
  if (info.family == Family::kEc && impl_->curve->jwk != info.curve) return false;
  if (alg_ && *alg_ != alg) return false;
  if (!use_.empty() && use_ != "sig") return false;
  return true;
}

json::object Key::PublicJwk() const {
  json::object o;
  if (!impl_) return o;
  if (impl_->family == Family::kRsa) {
    o["kty"] = "RSA";
  } else {
    o["kty"] = "EC";
  }
  if (!kid_.empty()) o["kid"] = kid_;
  o["use"] = use_.empty() ? std::string("sig") : use_;
  if (alg_) o["alg"] = AlgName(*alg_);
  if (impl_->family == Family::kRsa) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_RSA_E, &e);
    if (n && e) {
      o["n"] = Base64UrlEncode(BnToBytes(n));
      o["e"] = Base64UrlEncode(BnToBytes(e));
    }
    BN_free(n);
    BN_free(e);
  } else {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    o["crv"] = impl_->curve->jwk;
    if (x && y) {
      const int w = static_cast<int>(impl_->curve->bytes);
      o["x"] = Base64UrlEncode(BnToBytes(x, w));
      o["y"] = Base64UrlEncode(BnToBytes(y, w));
    }
    BN_free(x);
    BN_free(y);
  }
  ERR_clear_error();
  return o;
}

Result<std::string> Key::PrivatePem() const {
  if (!is_private()) return FailedPrecondition("not a private key");
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return CryptoError("BIO_new failed");
  std::string out;
  if (PEM_write_bio_PrivateKey(bio, impl_->pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  if (out.empty()) return CryptoError("writing the private key failed");
  return out;
}

std::string Key::PublicPem() const {
  if (!impl_) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  std::string out;
  if (PEM_write_bio_PUBKEY(bio, impl_->pkey) == 1) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  ERR_clear_error();
  return out;
}

std::string Key::Thumbprint() const {
  // RFC 7638 3.2: the required members only, in lexicographic order, no whitespace.
  const json::object jwk = PublicJwk();
  auto get = [&](std::string_view name) { return GetString(jwk, name); };
  std::string canonical;
  if (impl_ && impl_->family == Family::kRsa) {
    canonical = R"({"e":")" + get("e") + R"(","kty":"RSA","n":")" + get("n") + R"("})";
  } else {
    canonical = R"({"crv":")" + get("crv") + R"(","kty":"EC","x":")" + get("x") + R"(","y":")" +
                get("y") + R"("})";
  }
  return Base64UrlEncode(Sha256(canonical));
}

Result<KeySet> KeySet::FromJwks(std::string_view json_text) {
  auto doc = ParseJsonObject(json_text);
  if (!doc) return InvalidArgument("JWKS is not a JSON object");
  auto it = doc->find("keys");
  if (it == doc->end() || !it->value().is_array()) {
    return InvalidArgument("JWKS has no \"keys\" array");
  }
  const json::array& arr = it->value().get_array();
  if (arr.size() > kMaxJwksKeys) {
    return InvalidArgument("JWKS has " + std::to_string(arr.size()) + " keys; at most " +
                           std::to_string(kMaxJwksKeys) + " are accepted");
  }
  KeySet set;
  for (const json::value& v : arr) {
    const json::object* jwk = v.if_object();
    if (!jwk) continue;
    // Keys for encryption, symmetric keys and unknown types or curves cannot verify a
    // signature: skipped, so that one exotic key does not hide the others.
    if (GetString(*jwk, "use", "sig") != "sig") continue;
    auto key = Key::FromJwk(*jwk);
    if (!key) continue;
    set.Add(std::move(*key));
  }
  return set;
}

void KeySet::Add(Key key) { keys_.push_back(std::move(key)); }

std::vector<const Key*> KeySet::Find(std::string_view kid) const {
  std::vector<const Key*> out;
  for (const Key& k : keys_) {
    if (k.kid() == kid) out.push_back(&k);
  }
  return out;
}

json::object KeySet::ToJwks() const {
  json::array arr;
  for (const Key& k : keys_) arr.push_back(k.PublicJwk());
  json::object o;
  o["keys"] = std::move(arr);
  return o;
}

Result<Jws> Parse(std::string_view token, const ParseOptions& options) {
  if (token.size() > options.max_bytes) {
    return Unauthenticated("token is " + std::to_string(token.size()) +
                           " bytes, over the limit of " + std::to_string(options.max_bytes));
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("token is not a compact JWS (three dot-separated parts)");
  }
  const std::string_view h64 = token.substr(0, dot1);
  const std::string_view p64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view s64 = token.substr(dot2 + 1);
  if (h64.empty() || p64.empty()) return Unauthenticated("token has an empty header or payload");
  if (s64.empty()) return Unauthenticated("token has no signature");

  SKIFF_ASSIGN_OR_RETURN(std::string header_text,
                         DecodeSegment(h64, options.allow_padding, "token header"));
  Jws jws;
  SKIFF_ASSIGN_OR_RETURN(jws.header, ParseStrictObject(header_text, "token header"));

  const json::string* alg = StringMember(jws.header, "alg");
  if (!alg) return Unauthenticated("token header has no string \"alg\"");
  const std::string_view alg_name(alg->data(), alg->size());
  if (alg_name == "none" || alg_name == "None" || alg_name == "NONE") {
    return Unauthenticated("alg " + PrintableForLog(alg_name) + " is not allowed (unsigned token)");
  }
  if (IsSigAlgFamilyHmac(alg_name)) {
    return Unauthenticated("alg " + PrintableForLog(alg_name) +
                           " is not allowed (HMAC is never accepted)");
  }
  auto parsed_alg = AlgFromName(alg_name);
  if (!parsed_alg) return Unauthenticated("alg " + PrintableForLog(alg_name) + " is not supported");
  const std::vector<Alg> defaults = {Alg::kRS256, Alg::kES256};
  const std::vector<Alg>& allowed = options.algorithms.empty() ? defaults : options.algorithms;
  if (std::find(allowed.begin(), allowed.end(), *parsed_alg) == allowed.end()) {
    return Unauthenticated("alg " + PrintableForLog(alg_name) + " is not in the allowed list");
  }
  jws.alg = *parsed_alg;
  if (jws.header.contains("crit")) {
    return Unauthenticated("token header has \"crit\" extensions, which are not supported");
  }
  if (auto it = jws.header.find("kid"); it != jws.header.end()) {
    const json::string* kid = it->value().if_string();
    if (!kid) return Unauthenticated("token header \"kid\" is not a string");
    if (kid->empty() || kid->size() > kMaxKid) {
      return Unauthenticated("token header \"kid\" is empty or longer than " +
                             std::to_string(kMaxKid));
    }
    for (char c : *kid) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) {
        return Unauthenticated("token header \"kid\" " + PrintableForLog(*kid) +
                               " has a non-printable character");
      }
    }
    jws.kid = std::string(*kid);
  }

  SKIFF_ASSIGN_OR_RETURN(std::string payload_text,
                         DecodeSegment(p64, options.allow_padding, "token payload"));
  SKIFF_ASSIGN_OR_RETURN(jws.payload, ParseStrictObject(payload_text, "token payload"));
  SKIFF_ASSIGN_OR_RETURN(jws.signature,
                         DecodeSegment(s64, options.allow_padding, "token signature"));
  if (jws.signature.empty()) return Unauthenticated("token has no signature");
  jws.signing_input = std::string(token.substr(0, dot2));
  return jws;
}

Status Verify(const Jws& jws, const Key& key) {
  const AlgInfo& info = Info(jws.alg);
  if (!key.Allows(jws.alg)) {
    return Unauthenticated("key " + PrintableForLog(key.kid()) + " may not verify " +
                           std::string(info.name));
  }
  EVP_PKEY* pkey = key.impl()->pkey;
  std::string sig;
  if (info.family == Family::kEc) {
    // RFC 7518 3.4: R and S as fixed-width big-endian integers, concatenated. OpenSSL wants DER.
    if (jws.signature.size() != 2 * info.coord_bytes) {
      return Unauthenticated(std::string(info.name) + " signature must be " +
                             std::to_string(2 * info.coord_bytes) + " bytes (raw R||S), got " +
                             std::to_string(jws.signature.size()));
    }
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(jws.signature.data()),
                          static_cast<int>(info.coord_bytes), nullptr);
    BIGNUM* s =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(jws.signature.data() + info.coord_bytes),
                  static_cast<int>(info.coord_bytes), nullptr);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(es);
      return CryptoError("ECDSA_SIG conversion failed");
    }
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (der_len <= 0) return CryptoError("ECDSA_SIG encoding failed");
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
  } else {
    if (static_cast<int>(jws.signature.size()) != EVP_PKEY_get_size(pkey)) {
      return Unauthenticated(std::string(info.name) + " signature has the wrong length");
    }
    sig = jws.signature;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = md && EVP_DigestVerifyInit(md, &pctx, Digest(jws.alg), nullptr, pkey) == 1;
  if (ok && IsPss(jws.alg)) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  if (!ok) {
    EVP_MD_CTX_free(md);
    return CryptoError("signature verification could not start");
  }
  const int rc = EVP_DigestVerify(
      md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
      reinterpret_cast<const unsigned char*>(jws.signing_input.data()), jws.signing_input.size());
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (rc != 1) return Unauthenticated("signature does not verify");
  return Status::Ok();
}

Result<std::string> Sign(const Key& key, const json::object& payload) {
  if (!key.is_private()) return FailedPrecondition("signing needs a private key");
  if (!key.alg()) return FailedPrecondition("signing key has no algorithm");
  const Alg alg = *key.alg();
  if (!key.Allows(alg)) return FailedPrecondition("signing key does not allow its algorithm");
  const AlgInfo& info = Info(alg);
  json::object header;
  header["alg"] = info.name;
  header["typ"] = "JWT";
  if (!key.kid().empty()) header["kid"] = key.kid();
  const std::string input =
      Base64UrlEncode(Serialize(header)) + "." + Base64UrlEncode(Serialize(payload));

  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = md && EVP_DigestSignInit(md, &pctx, Digest(alg), nullptr, key.impl()->pkey) == 1;
  if (ok && IsPss(alg)) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  size_t len = 0;
  ok = ok && EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                            input.size()) == 1;
  std::string sig(len, '\0');
  ok =
      ok && EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return CryptoError("signing failed");
  sig.resize(len);
  if (info.family == Family::kEc) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    if (!es) return CryptoError("ECDSA signature decoding failed");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(es, &r, &s);
    const int w = static_cast<int>(info.coord_bytes);
    sig = BnToBytes(r, w) + BnToBytes(s, w);
    ECDSA_SIG_free(es);
  }
  return input + "." + Base64UrlEncode(sig);
}

Status ValidateClaims(const json::object& claims, const ClaimsPolicy& policy,
                      std::chrono::system_clock::time_point now) {
  if (!policy.issuers.empty()) {
    const json::string* iss = StringMember(claims, "iss");
    if (!iss) return Unauthenticated("token has no string \"iss\"");
    if (std::find(policy.issuers.begin(), policy.issuers.end(), std::string_view(*iss)) ==
        policy.issuers.end()) {
      return Unauthenticated("iss " + PrintableForLog(*iss) + " is not an accepted issuer");
    }
  }
  if (!policy.audiences.empty()) {
    auto it = claims.find("aud");
    if (it == claims.end()) return Unauthenticated("token has no \"aud\"");
    std::vector<std::string_view> auds;
    if (const json::string* s = it->value().if_string()) {
      auds.emplace_back(*s);
    } else if (const json::array* arr = it->value().if_array()) {
      for (const json::value& v : *arr) {
        const json::string* s2 = v.if_string();
        if (!s2) return Unauthenticated("token \"aud\" has a non-string member");
        auds.emplace_back(*s2);
      }
    } else {
      return Unauthenticated("token \"aud\" is neither a string nor an array");
    }
    bool found = false;
    for (std::string_view a : auds) {
      if (std::find(policy.audiences.begin(), policy.audiences.end(), a) !=
          policy.audiences.end()) {
        found = true;
        break;
      }
    }
    if (!found) {
      return Unauthenticated(
          "aud " + (auds.empty() ? std::string("[]") : PrintableForLog(auds[0])) +
          (auds.size() > 1 ? " (and others)" : "") + " is not an accepted audience");
    }
  }
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double skew = static_cast<double>(policy.skew.count());
  auto date = [&](std::string_view name) -> Result<std::optional<double>> {
    auto it = claims.find(name);
    if (it == claims.end()) return std::optional<double>();
    auto d = NumericDate(it->value());
    if (!d) return Unauthenticated("token \"" + std::string(name) + "\" is not a number");
    return d;
  };
  SKIFF_ASSIGN_OR_RETURN(std::optional<double> exp, date("exp"));
  SKIFF_ASSIGN_OR_RETURN(std::optional<double> nbf, date("nbf"));
  SKIFF_ASSIGN_OR_RETURN(std::optional<double> iat, date("iat"));
  if (!exp && policy.require_exp) return Unauthenticated("token has no \"exp\"");
  if (exp && t >= *exp + skew) {
    return Unauthenticated("token expired at " + FormatDate(*exp) + " (now " + FormatDate(t) + ")");
  }
  if (nbf && t + skew < *nbf) {
    return Unauthenticated("token is not valid before " + FormatDate(*nbf) + " (now " +
                           FormatDate(t) + ")");
  }
  if (iat && t + skew < *iat) {
    return Unauthenticated("token was issued in the future, at " + FormatDate(*iat));
  }
  return Status::Ok();
}

ClaimTimes TimesOf(const json::object& claims) {
  ClaimTimes times;
  times.known = true;
  auto date = [&](std::string_view name) -> std::optional<double> {
    auto it = claims.find(name);
    if (it == claims.end()) return std::nullopt;
    auto d = NumericDate(it->value());
    if (!d) return std::nullopt;
    return *d;
  };
  if (auto exp = date("exp")) times.exp = *exp;
  for (std::string_view name : {"nbf", "iat"}) {
    if (auto d = date(name)) times.not_before = std::max(times.not_before, *d);
  }
  return times;
}

bool WithinTimes(const ClaimTimes& times, const ClaimsPolicy& policy,
                 std::chrono::system_clock::time_point now) {
  // ValidateClaims' comparisons: t >= exp + skew fails, t + skew < nbf (or iat) fails.
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double skew = static_cast<double>(policy.skew.count());
  return times.known && !(t >= times.exp + skew) && !(t + skew < times.not_before);
}

std::string PrintableForLog(std::string_view s, size_t max) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > max) out += "...";
  out += "\"";
  return out;
}

}  // namespace skiff::auth::jose
