#pragma once
// Helpers shared by the auth unit tests: raw signatures over arbitrary text (so tests can forge
// tokens that jose::Sign would never produce) and a loopback HTTPS test server's options.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <string>
#include <string_view>

#include "auth/jose.hpp"
#include "http/server.hpp"
#include "unit/http/test_certs.hpp"

namespace skiff::auth {

// Signs arbitrary header and payload *text* (so tests can craft duplicates, padding, ...) with
// a private key, RS256 or ES256 (raw R||S, or DER when `der`).
inline std::string SignRaw(const jose::Key& key, std::string_view signing_input, bool es256,
                           bool der = false) {
  const std::string pem = *key.PrivatePem();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, pkey);
  size_t len = 0;
  EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  sig.resize(len);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  if (es256 && !der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(es, &r, &s);
    std::string raw(64, '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return sig;
}

// A one-thread TLS server on 127.0.0.1, port picked by the kernel, with `cert`.
inline http::ServerOptions TlsTestServerOptions(const http::testing::Cert& cert) {
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = 1;
  o.blocking_threads = 1;
  o.cpu_threads = 1;
  o.tls_cert_file = cert.pem_path;
  o.tls_key_file = cert.key_path;
  o.shutdown_grace = std::chrono::milliseconds(1000);
  return o;
}

}  // namespace skiff::auth
