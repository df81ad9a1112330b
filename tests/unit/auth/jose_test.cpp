// JOSE primitives: JWK import (RFC 7517/7515 appendix keys), the RFC 7515 example signatures,
// RFC 7638 thumbprints, sign/verify round trips for every algorithm, PEM, parsing hardening,
// claim checks, and interop both ways with the npm `jose` library.

#include "auth/jose.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "core/crypto.hpp"
#include "core/json.hpp"
#include "core/process.hpp"

namespace skiff::auth::jose {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr Alg kAllAlgs[] = {Alg::kRS256, Alg::kRS384, Alg::kRS512, Alg::kPS256, Alg::kPS384,
                            Alg::kPS512, Alg::kES256, Alg::kES384, Alg::kES512};

json::object Obj(std::string_view text) {
  auto r = ParseJsonObject(text);
  EXPECT_TRUE(r) << text;
  return r ? *r : json::object{};
}

std::string B64(std::string_view s) { return Base64UrlEncode(s); }

// RFC 7515 A.2 / A.3: the payload (with its CR LF) and the published keys and signatures.
constexpr std::string_view kRfcPayload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
    "fQ";
constexpr std::string_view kRfcRsaN =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d"
    "4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rex"
    "MdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXF"
    "vUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr std::string_view kRfcRsaSig =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1"
    "L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYE"
    "UipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
constexpr std::string_view kRfcEcX = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kRfcEcY = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr std::string_view kRfcEcSig =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
// RFC 7517 A.1 / RFC 7638 3.1.
constexpr std::string_view kRfc7517RsaN =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
    "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY3"
    "68QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4"
    "lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

Key RfcRsaKey() {
  json::object jwk;
  jwk["kty"] = "RSA";
  jwk["n"] = kRfcRsaN;
  jwk["e"] = "AQAB";
  auto k = Key::FromJwk(jwk);
  EXPECT_TRUE(k) << k.error();
  return *k;
}

Key RfcEcKey() {
  json::object jwk;
  jwk["kty"] = "EC";
  jwk["crv"] = "P-256";
  jwk["x"] = kRfcEcX;
  jwk["y"] = kRfcEcY;
  auto k = Key::FromJwk(jwk);
  EXPECT_TRUE(k) << k.error();
  return *k;
}

ParseOptions AllowAll() {
  ParseOptions o;
  o.algorithms.assign(std::begin(kAllAlgs), std::end(kAllAlgs));
  return o;
}

TEST(JoseAlg, NamesRoundTripAndRejectOthers) {
  for (Alg a : kAllAlgs) EXPECT_EQ(AlgFromName(AlgName(a)), a);
  for (std::string_view bad : {"none", "HS256", "rs256", "EdDSA", "", "RS256 "}) {
    EXPECT_FALSE(AlgFromName(bad)) << bad;
  }
}

TEST(JoseRfc, Rfc7515RsaExampleVerifies) {
  const std::string token =
      "eyJhbGciOiJSUzI1NiJ9." + std::string(kRfcPayload) + "." + std::string(kRfcRsaSig);
  auto jws = Parse(token, AllowAll());
  ASSERT_TRUE(jws) << jws.error();
  EXPECT_EQ(jws->alg, Alg::kRS256);
  EXPECT_EQ(GetString(jws->payload, "iss"), "joe");
  const Key key = RfcRsaKey();
  EXPECT_TRUE(Verify(*jws, key).ok()) << Verify(*jws, key);
  // One changed payload byte breaks it.
  Jws bad = *jws;
  bad.signing_input.back() ^= 1;
  EXPECT_EQ(Verify(bad, key).code(), Code::kUnauthenticated);
}

TEST(JoseRfc, Rfc7515EcdsaExampleVerifies) {
  const std::string token =
      "eyJhbGciOiJFUzI1NiJ9." + std::string(kRfcPayload) + "." + std::string(kRfcEcSig);
  auto jws = Parse(token);
  ASSERT_TRUE(jws) << jws.error();
  EXPECT_EQ(jws->alg, Alg::kES256);
  const Key key = RfcEcKey();
  EXPECT_TRUE(Verify(*jws, key).ok()) << Verify(*jws, key);
  // The wrong key family is refused before any cryptography.
  Status wrong = Verify(*jws, RfcRsaKey());
  EXPECT_EQ(wrong.code(), Code::kUnauthenticated);
  EXPECT_NE(wrong.message().find("may not verify ES256"), std::string::npos) << wrong;
}

TEST(JoseRfc, Rfc7517KeySetSkipsEncryptionKeys) {
  // RFC 7517 A.1: an EC key for encryption and an RSA signing key.
  const std::string jwks = R"({"keys":[{"kty":"EC","crv":"P-256",
      "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
      "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"},
      {"kty":"RSA","n":")" +
                           std::string(kRfc7517RsaN) +
                           R"(","e":"AQAB","alg":"RS256","kid":"2011-04-29"},
      {"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T","kid":"hmac"}]})";
  auto set = KeySet::FromJwks(jwks);
  ASSERT_TRUE(set) << set.error();
  ASSERT_EQ(set->keys().size(), 1u);
  EXPECT_EQ(set->keys()[0].kid(), "2011-04-29");
  EXPECT_EQ(set->keys()[0].alg(), Alg::kRS256);
  EXPECT_TRUE(set->keys()[0].Allows(Alg::kRS256));
  EXPECT_FALSE(set->keys()[0].Allows(Alg::kPS256));  // its JWK "alg" pins RS256
  EXPECT_EQ(set->Find("2011-04-29").size(), 1u);
  EXPECT_TRUE(set->Find("1").empty());
  EXPECT_TRUE(set->Find("hmac").empty());
}

TEST(JoseRfc, Rfc7638Thumbprint) {
  json::object jwk;
  jwk["kty"] = "RSA";
  jwk["n"] = kRfc7517RsaN;
  jwk["e"] = "AQAB";
  jwk["alg"] = "RS256";
  jwk["kid"] = "2011-04-29";
  auto key = Key::FromJwk(jwk);
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // The public JWK gives back the same members.
  json::object pub = key->PublicJwk();
  EXPECT_EQ(GetString(pub, "n"), kRfc7517RsaN);
  EXPECT_EQ(GetString(pub, "e"), "AQAB");
  EXPECT_EQ(GetString(pub, "kid"), "2011-04-29");
  EXPECT_EQ(GetString(pub, "alg"), "RS256");
  EXPECT_EQ(GetString(pub, "use"), "sig");
  EXPECT_FALSE(pub.contains("d"));
}

TEST(JoseKeys, RoundTripEveryAlgorithm) {
  for (Alg alg : kAllAlgs) {
    SCOPED_TRACE(std::string(AlgName(alg)));
    auto priv = Key::Generate(alg);
    ASSERT_TRUE(priv) << priv.error();
    EXPECT_TRUE(priv->is_private());
    EXPECT_EQ(priv->alg(), alg);
    EXPECT_EQ(priv->kid(), priv->Thumbprint());
    json::object claims;
    claims["sub"] = "alice";
    auto token = Sign(*priv, claims);
    ASSERT_TRUE(token) << token.error();
    ParseOptions opts;
    opts.algorithms = {alg};
    auto jws = Parse(*token, opts);
    ASSERT_TRUE(jws) << jws.error();
    EXPECT_EQ(jws->alg, alg);
    EXPECT_EQ(jws->kid, priv->kid());
    EXPECT_EQ(GetString(jws->header, "typ"), "JWT");
    EXPECT_EQ(GetString(jws->payload, "sub"), "alice");

    // Verify with the public JWK as a relying party would import it.
    auto pub = Key::FromJwk(priv->PublicJwk());
    ASSERT_TRUE(pub) << pub.error();
    EXPECT_FALSE(pub->is_private());
    EXPECT_EQ(pub->Thumbprint(), priv->Thumbprint());
    EXPECT_TRUE(Verify(*jws, *pub).ok()) << Verify(*jws, *pub);
    EXPECT_TRUE(Verify(*jws, *priv).ok());

    // And through PEM, both halves.
    auto priv_pem = priv->PrivatePem();
    ASSERT_TRUE(priv_pem);
    EXPECT_NE(priv_pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    auto priv2 = Key::FromPem(*priv_pem);
    ASSERT_TRUE(priv2) << priv2.error();
    EXPECT_TRUE(priv2->is_private());
    priv2->set_alg(alg);
    auto token2 = Sign(*priv2, claims);
    ASSERT_TRUE(token2);
    auto pub2 = Key::FromPem(priv->PublicPem());
    ASSERT_TRUE(pub2) << pub2.error();
    EXPECT_FALSE(pub2->is_private());
    auto jws2 = Parse(*token2, opts);
    ASSERT_TRUE(jws2);
    EXPECT_TRUE(Verify(*jws2, *pub2).ok());
    EXPECT_FALSE(pub2->PrivatePem());

    // Another key of the same kind does not verify it.
    auto other = Key::Generate(alg);
    ASSERT_TRUE(other);
    EXPECT_EQ(Verify(*jws, *other).message(), "signature does not verify");
  }
}

TEST(JoseKeys, FamilyAndCurveMustMatchTheAlgorithm) {
  auto rsa = Key::Generate(Alg::kRS256);
  auto p256 = Key::Generate(Alg::kES256);
  ASSERT_TRUE(rsa && p256);
  EXPECT_TRUE(rsa->Allows(Alg::kRS256));
  EXPECT_FALSE(rsa->Allows(Alg::kPS256));  // Generate pinned RS256
  EXPECT_FALSE(rsa->Allows(Alg::kES256));
  EXPECT_FALSE(p256->Allows(Alg::kES384));
  EXPECT_FALSE(p256->Allows(Alg::kRS256));
  // Without a pinned alg, an RSA key serves every RSA algorithm but no EC one.
  auto bare = Key::FromPem(rsa->PublicPem());
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->Allows(Alg::kRS512));
  EXPECT_TRUE(bare->Allows(Alg::kPS384));
  EXPECT_FALSE(bare->Allows(Alg::kES256));
}

TEST(JoseKeys, RefusesBadJwks) {
  auto err = [](std::string_view text) {
    auto k = Key::FromJwk(Obj(text));
    return k ? std::string("accepted") : k.error().message();
  };
  EXPECT_NE(err(R"({"kty":"oct","k":"c2VjcmV0"})").find("symmetric"), std::string::npos);
  EXPECT_NE(
      err(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})")
          .find("not supported"),
      std::string::npos);
  EXPECT_NE(err(R"({"n":"AQAB","e":"AQAB"})").find("kty"), std::string::npos);
  EXPECT_NE(err(R"({"kty":"RSA","e":"AQAB"})").find("\"n\""), std::string::npos);
  // A point that is not on the curve (y of another point).
  EXPECT_NE(err(R"({"kty":"EC","crv":"P-256","x":")" + std::string(kRfcEcX) +
                R"(","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"})")
                .find("invalid EC public key"),
            std::string::npos);
  // Coordinates must have the full width.
  EXPECT_NE(err(R"({"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"})").find("32 bytes"),
            std::string::npos);
  EXPECT_NE(err(R"({"kty":"EC","crv":"secp256k1","x":"AQAB","y":"AQAB"})").find("not supported"),
            std::string::npos);
  // A JWK whose alg contradicts its key.
  EXPECT_NE(err(R"({"kty":"EC","crv":"P-256","alg":"ES384","x":")" + std::string(kRfcEcX) +
                R"(","y":")" + std::string(kRfcEcY) + R"("})")
                .find("does not match"),
            std::string::npos);
  EXPECT_NE(err(R"({"kty":"RSA","alg":"HS256","n":"AQAB","e":"AQAB"})").find("not a signature"),
            std::string::npos);
  // Padding in JWK members is refused like in tokens.
  EXPECT_NE(
      err(R"({"kty":"RSA","n":")" + std::string(kRfcRsaN) + R"(","e":"AQAB="})").find("base64url"),
      std::string::npos);
}

TEST(JoseKeys, RefusesSmallRsaKeys) {
  EVP_PKEY* small = EVP_RSA_gen(1024);
  ASSERT_NE(small, nullptr);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(small, OSSL_PKEY_PARAM_RSA_N, &n), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(n);
  EVP_PKEY_free(small);
  json::object jwk;
  jwk["kty"] = "RSA";
  jwk["n"] = B64(bytes);
  jwk["e"] = "AQAB";
  auto k = Key::FromJwk(jwk);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message().find("1024 bits"), std::string::npos) << k.error();
}

TEST(JoseKeys, PemRefusals) {
  EXPECT_FALSE(Key::FromPem("not a pem"));
  EXPECT_FALSE(Key::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  EXPECT_FALSE(Key::FromPem(
      "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBATAKBggqhkjOPQQDAjAA\n-----END "
      "CERTIFICATE-----\n"));
}

TEST(JoseKeySet, JwksRoundTripAndRefusals) {
  KeySet set;
  for (Alg alg : {Alg::kRS256, Alg::kES256, Alg::kES512}) {
    auto k = Key::Generate(alg);
    ASSERT_TRUE(k);
    set.Add(*k);
  }
  const std::string text = Serialize(set.ToJwks());
  EXPECT_EQ(text.find("\"d\""), std::string::npos) << "private members leaked";
  auto back = KeySet::FromJwks(text);
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->keys().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->keys()[i].Thumbprint(), set.keys()[i].Thumbprint());
    EXPECT_EQ(back->keys()[i].kid(), set.keys()[i].kid());
  }
  EXPECT_FALSE(KeySet::FromJwks("[]"));
  EXPECT_FALSE(KeySet::FromJwks(R"({"keys":{}})"));
  EXPECT_FALSE(KeySet::FromJwks("{"));
  auto empty = KeySet::FromJwks(R"({"keys":[1,"x",{"kty":"RSA"}]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->keys().empty());
}

// --- Parse hardening -------------------------------------------------------------------------

std::string Token(std::string_view header, std::string_view payload, std::string_view sig) {
  return B64(header) + "." + B64(payload) + "." + B64(sig);
}

std::string ParseError(std::string_view token, const ParseOptions& o = {}) {
  auto r = Parse(token, o);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
  // Reasons are for logs: they never carry the token.
  EXPECT_EQ(r.error().message().find(token), std::string::npos);
  return r.error().message();
}

TEST(JoseParse, RefusesMalformedAndDangerousHeaders) {
  const std::string sig(64, 'x');
  EXPECT_EQ(ParseError(Token(R"({"alg":"none"})", "{}", sig)),
            "alg \"none\" is not allowed (unsigned token)");
  EXPECT_EQ(ParseError(B64(R"({"alg":"none"})") + "." + B64("{}") + "."), "token has no signature");
  EXPECT_EQ(ParseError(Token(R"({"alg":"HS256"})", "{}", sig)),
            "alg \"HS256\" is not allowed (HMAC is never accepted)");
  EXPECT_EQ(ParseError(Token(R"({"alg":"PS256"})", "{}", sig)),
            "alg \"PS256\" is not in the allowed list");
  EXPECT_EQ(ParseError(Token(R"({"alg":"EdDSA"})", "{}", sig)), "alg \"EdDSA\" is not supported");
  EXPECT_EQ(ParseError(Token(R"({"typ":"JWT"})", "{}", sig)), "token header has no string \"alg\"");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256","crit":["exp"]})", "{}", sig)),
            "token header has \"crit\" extensions, which are not supported");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256","alg":"none"})", "{}", sig)),
            "token header has a duplicate member \"alg\"");
  // The same name written with an escape is still a duplicate.
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256","\u0061lg":"RS256"})", "{}", sig)),
            "token header has a duplicate member \"alg\"");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256"})", R"({"sub":"a","sub":"b"})", sig)),
            "token payload has a duplicate member \"sub\"");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256"})", R"({"x":{"a":1,"a":2}})", sig)),
            "token payload has a duplicate member \"a\"");
  // Same names in different objects are fine.
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256"})", R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})", sig)),
            "accepted");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256","kid":"a\u0000b"})", "{}", sig)),
            "token header \"kid\" \"a\\x00b\" has a non-printable character");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256","kid":7})", "{}", sig)),
            "token header \"kid\" is not a string");
  EXPECT_EQ(ParseError(Token("[]", "{}", sig)), "token header is not a JSON object");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256"})", "[1]", sig)),
            "token payload is not a JSON object");
  EXPECT_EQ(ParseError(Token(R"({"alg":"RS256"})", "{", sig)), "token payload is not valid JSON");
  EXPECT_EQ(ParseError("abc"), "token is not a compact JWS (three dot-separated parts)");
  EXPECT_EQ(ParseError("a.b.c.d"), "token is not a compact JWS (three dot-separated parts)");
  EXPECT_EQ(ParseError(".." + B64(sig)), "token has an empty header or payload");
}

TEST(JoseParse, PaddingOnlyWhenAllowed) {
  // {"alg": "RS256"} is 16 bytes: its base64 has two '=' of padding.
  const std::string h = B64(R"({"alg": "RS256"})") + "==";
  const std::string token = h + "." + B64("{}") + "." + B64(std::string(256, 'x'));
  EXPECT_EQ(ParseError(token), "token header: base64url padding is not allowed");
  ParseOptions padded;
  padded.allow_padding = true;
  EXPECT_EQ(ParseError(token, padded), "accepted");
  // Wrong padding is still refused.
  EXPECT_EQ(ParseError(h + "=." + B64("{}") + "." + B64("x"), padded), "token header: bad padding");
  EXPECT_EQ(ParseError(B64(R"({"alg":"RS256"})") + "=." + B64("{}") + "." + B64("x"), padded),
            "token header: not base64url");
  // Whitespace and the standard alphabet are refused even where the core decoder skips them.
  EXPECT_EQ(ParseError(B64(R"({"alg":"RS256"})") + "\n." + B64("{}") + "." + B64("x")),
            "token header: not base64url");
  EXPECT_EQ(ParseError(B64(R"({"alg":"RS256"})") + "." + B64("{}") + ".a+b/"),
            "token signature: not base64url");
}

TEST(JoseParse, OversizeTokensAreRefusedUnread) {
  ParseOptions o;
  o.max_bytes = 100;
  const std::string big(101, 'a');
  EXPECT_EQ(ParseError(big, o), "token is 101 bytes, over the limit of 100");
}

TEST(JoseVerify, EcdsaSignatureMustBeRawNotDer) {
  auto key = Key::Generate(Alg::kES256);
  ASSERT_TRUE(key);
  json::object claims;
  claims["sub"] = "alice";
  auto token = Sign(*key, claims);
  ASSERT_TRUE(token);
  auto jws = Parse(*token);
  ASSERT_TRUE(jws);
  ASSERT_EQ(jws->signature.size(), 64u);
  // Re-encode R||S as DER (what OpenSSL and Java produce natively).
  ECDSA_SIG* es = ECDSA_SIG_new();
  ECDSA_SIG_set0(
      es, BN_bin2bn(reinterpret_cast<const unsigned char*>(jws->signature.data()), 32, nullptr),
      BN_bin2bn(reinterpret_cast<const unsigned char*>(jws->signature.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);
  Jws der_jws = *jws;
  der_jws.signature.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  Status s = Verify(der_jws, *key);
  EXPECT_EQ(s.code(), Code::kUnauthenticated);
  EXPECT_NE(s.message().find("ES256 signature must be 64 bytes (raw R||S), got 7"),
            std::string::npos)
      << s;
  // A truncated raw signature too.
  Jws cut = *jws;
  cut.signature.resize(63);
  EXPECT_NE(Verify(cut, *key).message().find("must be 64 bytes"), std::string::npos);
  EXPECT_TRUE(Verify(*jws, *key).ok());
}

TEST(JoseVerify, SigningNeedsAPrivateKeyWithAnAlgorithm) {
  auto key = Key::Generate(Alg::kRS256);
  ASSERT_TRUE(key);
  auto pub = Key::FromJwk(key->PublicJwk());
  ASSERT_TRUE(pub);
  EXPECT_EQ(Sign(*pub, {}).error().code(), Code::kFailedPrecondition);
  auto pem = Key::FromPem(*key->PrivatePem());
  ASSERT_TRUE(pem);
  EXPECT_EQ(Sign(*pem, {}).error().code(), Code::kFailedPrecondition);  // no alg yet
}

// --- Claims ----------------------------------------------------------------------------------

// WithinTimes, the cache hit's check, passes only where ValidateClaims passes, for every
// combination of exp/nbf/iat (fractional too) around `now` and the skew's edges; default-made
// times never pass.
TEST(JoseClaims, WithinTimesAgreesWithValidateClaims) {
  ClaimsPolicy p;
  p.issuers = {"https://issuer.test"};
  p.audiences = {"skiff"};
  p.skew = seconds(60);
  const double base = 1'700'000'000;
  const std::vector<double> offsets = {-61, -60.5, -60, -59.5, -1, 0, 0.25, 1, 59.5, 60, 60.5, 61};
  int passed = 0, refused = 0;
  for (std::optional<double> exp : std::vector<std::optional<double>>{
           std::nullopt, base - 61, base - 60, base - 59.5, base, base + 1, base + 600}) {
    for (std::optional<double> nbf :
         std::vector<std::optional<double>>{std::nullopt, base - 10, base + 60, base + 61}) {
      for (std::optional<double> iat :
           std::vector<std::optional<double>>{std::nullopt, base, base + 60.5, base + 120}) {
        json::object c{{"iss", "https://issuer.test"}, {"aud", "skiff"}};
        if (exp) c["exp"] = *exp;
        if (nbf) c["nbf"] = *nbf;
        if (iat) c["iat"] = *iat;
        const ClaimTimes times = TimesOf(c);
        for (double off : offsets) {
          const auto now =
              system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
                  std::chrono::duration<double>(base + off)));
          const bool valid = ValidateClaims(c, p, now).ok();
          // Without exp ValidateClaims refuses (require_exp) whatever the time: not a time
          // question, and such claims never reach the cache.
          if (exp) {
            EXPECT_EQ(WithinTimes(times, p, now), valid) << Serialize(c) << " at +" << off;
          }
          (valid ? passed : refused)++;
        }
      }
    }
  }
  EXPECT_GT(passed, 50);
  EXPECT_GT(refused, 50);
  EXPECT_FALSE(WithinTimes(ClaimTimes{}, p, system_clock::time_point(seconds(1'700'000'000))));
}

TEST(JoseClaims, Validation) {
  const auto now = system_clock::time_point(seconds(1'700'000'000));
  ClaimsPolicy p;
  p.issuers = {"https://issuer.test"};
  p.audiences = {"skiff", "other"};
  p.skew = seconds(60);
  auto check = [&](std::string_view claims) {
    Status s = ValidateClaims(Obj(claims), p, now);
    return s.ok() ? std::string("ok") : s.message();
  };
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1700000100})"), "ok");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":["x","other"],"exp":1700000100})"), "ok");
  EXPECT_EQ(check(R"({"iss":"https://evil.test","aud":"skiff","exp":1700000100})"),
            "iss \"https://evil.test\" is not an accepted issuer");
  EXPECT_EQ(check(R"({"aud":"skiff","exp":1700000100})"), "token has no string \"iss\"");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"nope","exp":1700000100})"),
            "aud \"nope\" is not an accepted audience");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","exp":1700000100})"), "token has no \"aud\"");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"skiff"})"), "token has no \"exp\"");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"skiff","exp":"1700000100"})"),
            "token \"exp\" is not a number");
  // Expired: within the skew it still passes, past it not.
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1699999950})"), "ok");
  EXPECT_EQ(check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1699999900})"),
            "token expired at 2023-11-14T22:11:40Z (now 2023-11-14T22:13:20Z)");
  EXPECT_EQ(
      check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1700000100,"nbf":1700000050})"),
      "ok");
  EXPECT_EQ(
      check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1700000900,"nbf":1700000500})"),
      "token is not valid before 2023-11-14T22:21:40Z (now 2023-11-14T22:13:20Z)");
  EXPECT_EQ(
      check(R"({"iss":"https://issuer.test","aud":"skiff","exp":1700000900,"iat":1700000500})"),
      "token was issued in the future, at 2023-11-14T22:21:40Z");
  p.require_exp = false;
  p.issuers.clear();
  p.audiences.clear();
  EXPECT_EQ(check("{}"), "ok");
}

// --- Interop with npm jose -------------------------------------------------------------------

// tests/peers (npm jose lives there): SKIFF_PEERS_DIR, which CTest sets, else found from this
// file's place in the source tree, so the interop tests always run.
std::string PeersDir() {
  if (const char* peers = std::getenv("SKIFF_PEERS_DIR"); peers != nullptr && *peers != '\0') {
    return peers;
  }
  return std::string(SKIFF_TEST_SOURCE_DIR) + "/tests/peers";
}

// tests/unit/auth/jose_interop.mjs, next to this file.
std::string InteropScript() {
  return std::string(SKIFF_TEST_SOURCE_DIR) + "/tests/unit/auth/jose_interop.mjs";
}

Result<json::object> RunNode(const std::string& cmd, const std::string& input) {
  ProcessOptions o;
  o.argv = {"node", InteropScript(), cmd};
  const char* path = std::getenv("PATH");
  o.env = std::map<std::string, std::string>{{"PATH", path ? path : "/usr/local/bin:/usr/bin:/bin"},
                                             {"SKIFF_PEERS_DIR", PeersDir()}};
  o.stdin_text = input;
  o.timeout = std::chrono::seconds(60);
  SKIFF_ASSIGN_OR_RETURN(ProcessResult r, RunProcess(o));
  if (!r.ok()) return Internal("node " + cmd + ": " + r.Describe() + ": " + r.err);
  return ParseJsonObject(r.out);
}

TEST(JoseInterop, NodeSignsSkiffVerifies) {
  auto out = RunNode("sign", "");
  ASSERT_TRUE(out) << out.error();
  auto set = KeySet::FromJwks(Serialize((*out)["jwks"]));
  ASSERT_TRUE(set) << set.error();
  ASSERT_EQ(set->keys().size(), 9u);
  const json::object& tokens = (*out)["tokens"].as_object();
  ClaimsPolicy policy;
  policy.issuers = {"https://issuer.test"};
  policy.audiences = {"skiff"};
  for (Alg alg : kAllAlgs) {
    SCOPED_TRACE(std::string(AlgName(alg)));
    const std::string token(tokens.at(AlgName(alg)).as_string());
    ParseOptions o;
    o.algorithms = {alg};
    auto jws = Parse(token, o);
    ASSERT_TRUE(jws) << jws.error();
    auto keys = set->Find(jws->kid);
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_TRUE(Verify(*jws, *keys[0]).ok()) << Verify(*jws, *keys[0]);
    EXPECT_TRUE(ValidateClaims(jws->payload, policy, system_clock::now()).ok());
    // The key of another algorithm never verifies it.
    for (const Key& other : set->keys()) {
      if (&other != keys[0]) {
        EXPECT_FALSE(Verify(*jws, other).ok());
      }
    }
  }
}

TEST(JoseInterop, SkiffSignsNodeVerifies) {
  KeySet set;
  json::object tokens;
  const int64_t now =
      std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  for (Alg alg : kAllAlgs) {
    auto key = Key::Generate(alg);
    ASSERT_TRUE(key);
    set.Add(*key);
    json::object claims;
    claims["sub"] = "alice";
    claims["iss"] = "https://issuer.test";
    claims["aud"] = "skiff";
    claims["iat"] = now;
    claims["exp"] = now + 600;
    auto token = Sign(*key, claims);
    ASSERT_TRUE(token);
    tokens[AlgName(alg)] = *token;
  }
  // One token signed by a key that is not in the set must fail there.
  auto stranger = Key::Generate(Alg::kES256);
  ASSERT_TRUE(stranger);
  stranger->set_kid(set.keys()[6].kid());  // claims the ES256 key's kid
  json::object claims;
  claims["sub"] = "alice";
  json::object input;
  input["jwks"] = set.ToJwks();
  input["tokens"] = tokens;
  auto out = RunNode("verify", Serialize(input));
  ASSERT_TRUE(out) << out.error();
  for (Alg alg : kAllAlgs) {
    EXPECT_EQ(GetString(*out, std::string(AlgName(alg))), "ok") << AlgName(alg);
  }
  json::object forged_claims;
  forged_claims["sub"] = "alice";
  forged_claims["iss"] = "https://issuer.test";
  forged_claims["aud"] = "skiff";
  forged_claims["exp"] = now + 600;
  json::object bad_tokens;
  bad_tokens["ES256"] = *Sign(*stranger, forged_claims);
  input["tokens"] = bad_tokens;
  auto bad = RunNode("verify", Serialize(input));
  ASSERT_TRUE(bad) << bad.error();
  EXPECT_NE(GetString(*bad, "ES256").find("error"), std::string::npos) << GetString(*bad, "ES256");
}

}  // namespace
}  // namespace skiff::auth::jose
