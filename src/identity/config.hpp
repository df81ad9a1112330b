#pragma once
// The provider's configuration, parsed and validated once from the Dex-shaped JSON object
// (identity.hpp ConfigFromSettings). Immutable after parsing.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/jose.hpp"
#include "core/json.hpp"
#include "identity/connector.hpp"

namespace skiff::identity {

struct Client {
  std::string id;
  std::string secret;  // empty for public clients
  std::string name;
  std::vector<std::string> redirect_uris;  // compared exactly
  bool is_public = false;
};

struct Config {
  std::vector<Client> clients;
  std::vector<std::shared_ptr<const Connector>> connectors;
  std::chrono::seconds id_token_ttl{24 * 3600};
  std::chrono::seconds refresh_token_ttl{720 * 3600};
  std::chrono::seconds auth_code_ttl{300};
  std::chrono::seconds key_rotation{24 * 3600};
  std::chrono::seconds login_ttl{30 * 60};  // an unfinished /auth request
  auth::jose::Alg signing_alg = auth::jose::Alg::kRS256;
  int backoff_after = 5;
  std::chrono::seconds backoff_max{300};

  const Client* FindClient(std::string_view id) const;
  const Connector* FindConnector(std::string_view id) const;
};

// Field names in errors are "identity.<key>..." as in skiff.yaml.
Result<Config> ParseConfig(const json::object& config);

}  // namespace skiff::identity
