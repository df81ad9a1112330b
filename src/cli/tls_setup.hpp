#pragma once
// The listener's TLS for `skiff up`, from the tls.* settings: a private CA and server
// certificate in DATA_DIR/tls (auto), the user's files (files), or none (off).

#include <string>

#include "core/config.hpp"
#include "http/server.hpp"

namespace skiff::cli {

// Fills options.tls_*; returns the CA certificate file clients should trust ("" when TLS is off
// or the certificate is the user's).
Result<std::string> ConfigureTls(const Settings& settings, const std::string& data_dir,
                                 const std::string& listen_host, http::ServerOptions& options);

}  // namespace skiff::cli
