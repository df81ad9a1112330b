#pragma once
// Principal: who is making a request, as established by authentication and read by
// authorization and handlers. A plain value.

#include <string>
#include <vector>

namespace skiff {

struct Principal {
  std::string name;                 // user name or e-mail ("admin", "alice@example.com")
  std::vector<std::string> groups;  // group names from the identity provider
  std::string method;               // how it was authenticated: "token", "jwt", "session", ...
  bool cluster_admin = false;       // the bootstrap admin token and configured admins
};

}  // namespace skiff
