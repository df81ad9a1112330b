#include "cli/tls_setup.hpp"

#include <unistd.h>

#include <algorithm>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/certs.hpp"

namespace skiff::cli {

// Sets up the listener's TLS from the tls.* settings. Returns the CA certificate file clients
// should trust ("" when TLS is off or the certificate comes from the user's files).
Result<std::string> ConfigureTls(const Settings& settings, const std::string& data_dir,
                                 const std::string& listen_host, http::ServerOptions& options) {
  std::string mode = settings.GetString("tls.mode");
  options.tls_only = settings.GetBool("tls.only");
  if (mode == "off") {
    if (options.tls_only) return InvalidArgument("tls.only needs tls.mode auto or files");
    spdlog::warn("TLS is off: kubectl will not send its token over plain HTTP");
    return std::string();
  }
  if (mode == "files") {
    options.tls_cert_file = settings.GetString("tls.certFile");
    options.tls_key_file = settings.GetString("tls.keyFile");
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      return InvalidArgument("tls.mode files needs tls.certFile and tls.keyFile");
    }
    SKIFF_RETURN_IF_ERROR(http::CheckCertificatePair(options.tls_cert_file, options.tls_key_file));
    return std::string();
  }
  if (mode != "auto") {
    return InvalidArgument("tls.mode must be auto, files or off, got \"" + mode + "\"");
  }
  http::SelfSignedOptions o;
  o.dir = data_dir + "/tls";
  o.dns_names = {"localhost"};
  o.ip_addresses = {"127.0.0.1", "::1"};
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0' &&
      std::string_view(name) != "localhost") {
    o.dns_names.emplace_back(name);
  }
  auto add = [&](std::string h) {
    while (!h.empty() && h.front() == ' ') h.erase(h.begin());
    while (!h.empty() && h.back() == ' ') h.pop_back();
    if (h.empty() || h == "0.0.0.0" || h == "::") return;
    bool ip =
        h.find_first_not_of("0123456789.") == std::string::npos || h.find(':') != std::string::npos;
    auto& list = ip ? o.ip_addresses : o.dns_names;
    if (std::find(list.begin(), list.end(), h) == list.end()) list.push_back(h);
  };
  add(listen_host);
  std::string extra = settings.GetString("tls.hosts");
  for (size_t start = 0; start <= extra.size() && !extra.empty();) {
    size_t comma = extra.find(',', start);
    add(extra.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  SKIFF_ASSIGN_OR_RETURN(http::TlsFiles files, http::EnsureSelfSignedTls(o, SystemClock()));
  options.tls_cert_file = files.cert;
  options.tls_key_file = files.key;
  return files.ca_cert;
}

}  // namespace skiff::cli
