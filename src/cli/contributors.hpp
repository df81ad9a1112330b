#pragma once
// `skiff contributors list|add|remove`: sharing a namespace from the command line, through the
// Kubeflow access-management API (kfam, /kfam/v1/bindings) of a running server, so the rules are
// the server's: adding or removing a contributor needs the namespace's kubeflow-admin role (its
// owner) or a cluster admin, and takes effect on the next request.
//
//   skiff contributors list NAMESPACE [-o json]
//   skiff contributors add NAMESPACE USER [--role view|edit|admin]     (default: edit)
//   skiff contributors remove NAMESPACE USER [--role view|edit|admin]  (default: every role)

#include <string>

#include "core/config.hpp"

namespace skiff::cli {

struct ContributorsOptions {
  std::string ns;
  std::string user;
  std::string role;    // view, edit or admin ("" = edit for add, every role for remove)
  std::string output;  // "" (table) or "json" (list)
};

int RunContributorsList(const Settings& settings, const ContributorsOptions& options);
int RunContributorsAdd(const Settings& settings, const ContributorsOptions& options);
int RunContributorsRemove(const Settings& settings, const ContributorsOptions& options);

}  // namespace skiff::cli
