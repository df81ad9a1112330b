#include "http/certs.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "core/fs.hpp"

namespace skiff::http {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;
using BnPtr = std::unique_ptr<BIGNUM, Free>;

Status OpenSslError(std::string_view what) {
  return Internal(std::string(what) + " failed (OpenSSL)");
}

Result<KeyPtr> NewKey() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpenSslError("generating a P-256 key");
  return key;
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return OpenSslError("encoding a key");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return OpenSslError("encoding a certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<KeyPtr> LoadKey(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, 1 << 20));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgument(path + " does not hold a PEM private key");
  return key;
}

Result<CertPtr> LoadCert(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, 1 << 20));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument(path + " does not hold a PEM certificate");
  return cert;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError("building extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? Status::Ok() : OpenSslError("adding extension");
}

Result<CertPtr> Issue(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer,
                      EVP_PKEY* issuer_key, bool is_ca, const std::string& san,
                      std::chrono::system_clock::time_point now, std::chrono::hours validity) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  BnPtr serial(BN_new());
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  std::time_t start = std::chrono::system_clock::to_time_t(now - std::chrono::hours(1));
  std::time_t end = std::chrono::system_clock::to_time_t(now + validity);
  X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &start);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, 0, &end);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("skiff"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (is_ca) {
    SKIFF_RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    SKIFF_RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    SKIFF_RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    SKIFF_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_key_usage,
                                       "critical,digitalSignature,keyEncipherment"));
    SKIFF_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth"));
    SKIFF_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_alt_name, san));
  }
  SKIFF_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    SKIFF_RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  if (!X509_sign(cert.get(), issuer_key, EVP_sha256()))
    return OpenSslError("signing a certificate");
  return cert;
}

std::string SubjectAltNames(const SelfSignedOptions& o) {
  std::string san;
  for (const auto& d : o.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : o.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  return san;
}

// Whether `cert` is signed by `ca`, covers every requested name and stays valid long enough.
bool StillGood(X509* cert, X509* ca, const SelfSignedOptions& o,
               std::chrono::system_clock::time_point now) {
  EVP_PKEY* ca_key = X509_get0_pubkey(ca);
  if (ca_key == nullptr || X509_verify(cert, ca_key) != 1) return false;
  std::time_t renew_at = std::chrono::system_clock::to_time_t(now + o.renew_before);
  if (X509_cmp_time(X509_get0_notAfter(cert), &renew_at) <= 0) return false;
  for (const auto& d : o.dns_names) {
    if (X509_check_host(cert, d.c_str(), d.size(), 0, nullptr) != 1) return false;
  }
  for (const auto& ip : o.ip_addresses) {
    if (X509_check_ip_asc(cert, ip.c_str(), 0) != 1) return false;
  }
  return true;
}

}  // namespace

Result<TlsFiles> EnsureSelfSignedTls(const SelfSignedOptions& o, Clock& clock) {
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(o.dir, 0700));
  TlsFiles files{o.dir + "/ca.crt", o.dir + "/server.crt", o.dir + "/server.key"};
  const std::string ca_key_path = o.dir + "/ca.key";
  auto now = clock.Now();

  KeyPtr ca_key;
  CertPtr ca;
  if (FileExists(files.ca_cert) && FileExists(ca_key_path)) {
    SKIFF_ASSIGN_OR_RETURN(ca_key, LoadKey(ca_key_path));
    SKIFF_ASSIGN_OR_RETURN(ca, LoadCert(files.ca_cert));
    if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
      return FailedPrecondition(files.ca_cert + " and " + ca_key_path +
                                " do not belong together: remove both to create a new CA (clients "
                                "must then be given the new ca.crt)");
    }
  } else {
    SKIFF_ASSIGN_OR_RETURN(ca_key, NewKey());
    SKIFF_ASSIGN_OR_RETURN(ca, Issue(ca_key.get(), "skiff local CA", nullptr, ca_key.get(), true,
                                     "", now, o.ca_validity));
    SKIFF_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(ca_key.get()));
    SKIFF_RETURN_IF_ERROR(WriteFileAtomic(ca_key_path, key_pem, 0600));
    SKIFF_ASSIGN_OR_RETURN(std::string ca_pem, CertPem(ca.get()));
    SKIFF_RETURN_IF_ERROR(WriteFileAtomic(files.ca_cert, ca_pem, 0644));
  }

  if (FileExists(files.cert) && FileExists(files.key)) {
    auto cert = LoadCert(files.cert);
    auto key = LoadKey(files.key);
    if (cert && key && X509_check_private_key(cert->get(), key->get()) == 1 &&
        StillGood(cert->get(), ca.get(), o, now)) {
      return files;
    }
  }
  SKIFF_ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  SKIFF_ASSIGN_OR_RETURN(CertPtr cert, Issue(key.get(), "skiff", ca.get(), ca_key.get(), false,
                                             SubjectAltNames(o), now, o.cert_validity));
  SKIFF_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key.get()));
  SKIFF_RETURN_IF_ERROR(WriteFileAtomic(files.key, key_pem, 0600));
  SKIFF_ASSIGN_OR_RETURN(std::string cert_pem, CertPem(cert.get()));
  SKIFF_RETURN_IF_ERROR(WriteFileAtomic(files.cert, cert_pem, 0644));
  return files;
}

Status CheckCertificatePair(const std::string& cert_file, const std::string& key_file) {
  SKIFF_ASSIGN_OR_RETURN(CertPtr cert, LoadCert(cert_file));
  SKIFF_ASSIGN_OR_RETURN(KeyPtr key, LoadKey(key_file));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return InvalidArgument(key_file + " is not the private key of " + cert_file);
  }
  return Status::Ok();
}

}  // namespace skiff::http
