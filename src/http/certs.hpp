#pragma once
// Certificates for the listener's TLS: a private certificate authority and a server certificate
// it signs, created on first start in a directory of the data dir, so that kubectl (which sends
// bearer tokens only over TLS) can trust skiff through the CA in its kubeconfig. Keys are
// ECDSA P-256 and written 0600. Blocking (file I/O, key generation): call at start-up.

#include <chrono>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace skiff::http {

struct TlsFiles {
  std::string ca_cert;  // PEM file of the CA certificate (give to clients)
  std::string cert;     // PEM file of the server certificate
  std::string key;      // PEM file of the server key (0600)
};

struct SelfSignedOptions {
  std::string dir;                        // created 0700 when missing
  std::vector<std::string> dns_names;     // subjectAltName DNS entries ("localhost", host name)
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1", "::1")
  std::chrono::hours ca_validity{24 * 365 * 10};
  std::chrono::hours cert_validity{24 * 365};
  // The server certificate is issued again when it expires within this window or does not
  // cover the requested names.
  std::chrono::hours renew_before{24 * 30};
};

// Reuses the CA and certificate in `dir` when they are valid for the requested names; issues
// what is missing otherwise. The CA is never replaced once created (clients trust it).
Result<TlsFiles> EnsureSelfSignedTls(const SelfSignedOptions& options, Clock& clock);

// Checks that `cert_file` and `key_file` hold a certificate and its matching private key.
Status CheckCertificatePair(const std::string& cert_file, const std::string& key_file);

}  // namespace skiff::http
