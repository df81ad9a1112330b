#pragma once
// `skiff routes explain`: request-flow steps 1-5 for a request that is described, not sent —
// the normalized path, the identity the authenticator chain would give it (or why none), every
// route tried and why it did or did not match, the rewrites and header changes, the destination,
// and the authorization decision with the rule that decided it. Served as
// GET /api/skiff/explain?method=M&url=U[&header=Name:%20value...][&as=USER]; the token to
// explain as travels in the X-Skiff-Explain-Token header, never in the URL.
//
// Explaining as another user (`as`) is for administrators only, like kubectl's --as. Paths the
// authenticator handles itself (login, logout, the OIDC callback) are described, not run, so
// that explaining them has no side effect. May block (a JWKS fetch): call on the blocking pool.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/authn.hpp"
#include "authz/authz.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "gateway/dispatcher.hpp"
#include "http/http.hpp"

namespace skiff::gateway {

inline constexpr std::string_view kExplainTokenHeader = "X-Skiff-Explain-Token";

struct ExplainRequest {
  std::string method = "GET";
  std::string url;  // "/path?query" or "http(s)://host[:port]/path?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> as_user;
  std::vector<std::string> as_groups;  // with as_user: its groups (asGroups=a,b)
  std::optional<std::string> token;
};

// Reads the query of GET /api/skiff/explain and the token header. InvalidArgument names the
// parameter that is wrong.
Result<ExplainRequest> ParseExplainRequest(const http::Request& req);

struct ExplainContext {
  const auth::Gateway* auth = nullptr;  // null: every request is anonymous (tests)
  const Dispatcher* dispatcher = nullptr;
  // Optional: a sentence about an in-process destination ("model team-a/iris (ready, ...)").
  std::function<std::string(const Decision&, const RouteRequest&)> describe_service;
  // Authorization (null: every authenticated user may use every route, as without RBAC).
  const authz::Authorizer* authorizer = nullptr;
  // Optional: what an in-process destination authorizes for this request (a model call is
  // "predict" on its InferenceService, the resource API its verb on the resource); nullopt when
  // it decides nothing per request (every authenticated user may use it).
  std::function<std::optional<authz::Attributes>(const Decision&, const RouteRequest&)>
      destination_attributes;
  // Optional: whether an impersonated user (as=) is a configured administrator.
  std::function<bool(const Principal&)> is_admin;
};

struct Explanation {
  json::object json;  // request, normalizedPath, identity, routing, decision, authorization
  std::string text;   // the same, readable, several lines
};

// Errors: InvalidArgument (bad URL or header), PermissionDenied (`as` by a caller who is not an
// administrator).
Result<Explanation> Explain(const ExplainRequest& what, const http::Request& caller,
                            const ExplainContext& context);

}  // namespace skiff::gateway
