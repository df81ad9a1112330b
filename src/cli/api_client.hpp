#pragma once
// ApiClient: what `skiff get/apply/delete` use to talk to a running server: the server URL and
// token (flags, env, config, or DATA_DIR/admin.token), discovery to resolve the names users
// type ("ns", "namespace", "namespaces", "Namespace", "isvc"), and Kubernetes-style error
// messages ("Error from server (NotFound): ..."). Blocking; one per command.

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "http/client.hpp"

namespace skiff::cli {

struct ResourceRef {
  std::string group, version, kind, plural, singular;
  std::vector<std::string> short_names;
  bool namespaced = true;

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // Collection path (name empty) or item path.
  std::string Path(const std::string& ns, const std::string& name) const;
  // "namespace", "inferenceservice.serving.kserve.io": how kubectl names objects in output.
  std::string DisplayKind() const;
};

class ApiClient {
 public:
  static Result<ApiClient> FromSettings(const Settings& settings);

  // Sends a request; `body` empty for none; `extra_headers` are added as given. Transport errors
  // say where skiff was expected.
  Result<http::ClientResponse> Do(const std::string& method, const std::string& path,
                                  const std::string& body = {},
                                  const std::string& content_type = "application/json",
                                  const std::string& accept = "application/json",
                                  const http::HeaderMap& extra_headers = {});

  // Resolves a user-typed resource name (plural, singular, short name, kind, or with a
  // ".group" suffix) through discovery.
  Result<ResourceRef> Resolve(std::string_view name);
  // Resolves apiVersion + kind from a manifest.
  Result<ResourceRef> ResolveKind(std::string_view api_version, std::string_view kind);

  const std::string& server() const { return server_; }
  const std::string& token() const { return token_; }
  const std::string& ca_file() const { return ca_file_; }

 private:
  Status LoadDiscovery();

  std::string server_;
  std::string token_;
  std::string ca_file_;  // extra trust anchor for https (the server's private CA)
  std::optional<std::vector<ResourceRef>> resources_;
};

// "Error from server (NotFound): namespaces \"x\" not found" from a non-2xx response.
Status ServerError(const http::ClientResponse& response);

// Prints a client command's failure on stderr, "error: ..." (a server's "Error from server ..."
// as it is), and returns the exit code 1.
int Fail(const Status& s);

// Prints rows as kubectl does: columns padded, three spaces apart, no trailing blanks (the first
// row is the header, upper-case by the caller).
void PrintColumns(const std::vector<std::vector<std::string>>& rows);

// Where client commands find the server: --server / SKIFF_SERVER, else the local `addr` (https
// when the server's private CA is at hand), and the CA file to trust for https.
struct ServerEndpoint {
  std::string url;      // no trailing slash
  std::string ca_file;  // empty: the system store
};
Result<ServerEndpoint> ResolveServer(const Settings& settings);

// The bootstrap token file of a data directory.
std::string AdminTokenPath(const std::string& data_dir);
// Where `skiff up` keeps its private CA certificate.
std::string DefaultCaPath(const std::string& data_dir);

}  // namespace skiff::cli
