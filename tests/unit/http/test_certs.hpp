#pragma once
// Self-signed certificates made at test time with OpenSSL (no files checked in).

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace skiff::http::testing {

struct Cert {
  EVP_PKEY* key = nullptr;
  X509* x509 = nullptr;
  std::string pem_path;  // the certificate
  std::string key_path;  // its private key
  ~Cert() {
    X509_free(x509);
    EVP_PKEY_free(key);
    if (!pem_path.empty()) std::remove(pem_path.c_str());
    if (!key_path.empty()) std::remove(key_path.c_str());
  }
};

// A self-signed P-256 certificate for `cn` with the given subjectAltName ("DNS:a,IP:b").
inline std::unique_ptr<Cert> MakeCert(const std::string& cn, const std::string& san) {
  auto c = std::make_unique<Cert>();
  c->key = EVP_EC_gen("P-256");
  c->x509 = X509_new();
  X509_set_version(c->x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c->x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(c->x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(c->x509), 3600);
  X509_set_pubkey(c->x509, c->key);
  X509_NAME* name = X509_get_subject_name(c->x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c->x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, c->x509, c->x509, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(c->x509, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(c->x509, c->key, EVP_sha256());
  static int counter = 0;  // unique per call: tests in one process must not share files
  const std::string base =
      (std::filesystem::temp_directory_path() / ("skiff-http-test-" + std::to_string(::getpid()) +
                                                 "-" + std::to_string(++counter) + "-" + cn))
          .string();
  c->pem_path = base + ".crt.pem";
  c->key_path = base + ".key.pem";
  FILE* f = std::fopen(c->pem_path.c_str(), "w");
  PEM_write_X509(f, c->x509);
  std::fclose(f);
  f = std::fopen(c->key_path.c_str(), "w");
  PEM_write_PrivateKey(f, c->key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return c;
}

}  // namespace skiff::http::testing
