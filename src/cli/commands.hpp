#pragma once
// The client commands of `skiff`: get, apply, delete, auth can-i, kubeconfig, version. Each returns
// the process exit code and writes results to stdout and errors (in words that say what to do) to
// stderr.

#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/json.hpp"

namespace skiff::cli {

struct GetOptions {
  std::string resource;
  std::vector<std::string> names;
  std::string ns;
  bool all_namespaces = false;
  std::string output;  // "", "wide", "yaml", "json", "name"
  std::string selector;
};
int RunGet(const Settings& settings, const GetOptions& options);

struct ApplyOptions {
  std::vector<std::string> files;  // "-" = stdin
  std::string ns;
};
int RunApply(const Settings& settings, const ApplyOptions& options);

struct DeleteOptions {
  std::string resource;
  std::vector<std::string> names;
  std::vector<std::string> files;
  std::string ns;
  bool ignore_not_found = false;
};
int RunDelete(const Settings& settings, const DeleteOptions& options);

// skiff auth can-i VERB RESOURCE [NAME] [-n NS | -A] [--as USER [--as-group G]...] [-v]:
// prints "yes" (exit 0) or "no" (exit 1), as kubectl auth can-i; -v adds the reason. Errors
// exit 2. RESOURCE may be "plural/subresource" and takes the names `skiff get` takes; --as asks
// a SubjectAccessReview (cluster admins only).
struct CanIOptions {
  std::string verb;
  std::string resource;
  std::string name;
  std::string ns;
  bool all_namespaces = false;
  std::string as;
  std::vector<std::string> as_groups;
  bool verbose = false;
};
int RunAuthCanI(const Settings& settings, const CanIOptions& options);

int RunKubeconfig(const Settings& settings);
// The kubeconfig "cluster" entry for a server: https with the CA's certificate-authority-data
// when a CA file is given (kubectl sends tokens only over TLS).
Result<json::object> KubeconfigCluster(const std::string& server_url, const std::string& ca_file);
int RunVersion(const Settings& settings);

}  // namespace skiff::cli
