#pragma once
// The serving front end: which requests are for a model, and answering them with the KServe V1
// and V2 protocols. A request reaches a model by any of the URLs KServe users have:
//
//   Host: NAME.NAMESPACE.<domain>                        any V1/V2 path
//   Host: NAME-predictor-default.NAMESPACE.<domain>      (KFServing and KServe <= 0.7 hosts)
//   Host: NAME-predictor.NAMESPACE.<domain>              (KServe >= 0.8 predictor hosts)
//   /kfserving/NAMESPACE/NAME:predict                    V1, path-based (ALB + Cognito setups)
//   /serving/NAMESPACE/NAME/v1/... and .../v2/...        any V1/V2 path, path-based
//   /v1/models/NAME..., /v2/models/NAME...               when NAME is unique across namespaces
//
// The domain part of a Host is not checked: whatever name the user's DNS or load balancer uses
// reaches the model. A Host naming a model captures only V1/V2 paths: the API and UI on the same
// listener stay reachable under any name. A known endpoint asked with the wrong method answers
// 405 with Allow. Sans-I/O apart from the Responder; thread-safe (reads the controller's
// table snapshot).
//
// Authorization (with an Authorizer): calling a model is the verb "predict" on its
// InferenceService, reading its readiness or metadata is "get", and the model lists (V1
// /v1/models, V2 server readiness) cover only namespaces where the caller may "list"
// InferenceServices. A denial is 403 {"error": "<who> may not ... in namespace ..."}, decided
// after the model is found (so a request naming another namespace's model by Host, path or
// unique name is refused, not routed elsewhere).

#include <optional>
#include <string>

#include "authz/authz.hpp"
#include "http/http.hpp"
#include "serving/controller.hpp"
#include "serving/protocol.hpp"

namespace skiff::serving {

class Frontend {
 public:
  // `authorizer` (may be null: no authorization, for tests of the protocols) must outlive this.
  explicit Frontend(Controller& controller, ProtocolLimits limits = {},
                    const authz::Authorizer* authorizer = nullptr);

  // True when the request addresses a model (by Host, or by a serving path).
  bool Matches(const http::Request& req) const;
  // The same from the Host header (as sent) and the normalized path.
  bool Matches(std::string_view authority, std::string_view path) const;
  // The namespace a request addresses when its Host names a model there or its path is
  // /kfserving/NS/... or /serving/NS/...; empty otherwise (gateway::RouteTableOptions::
  // addressed_namespace: only that namespace's VirtualServices may route it).
  std::string AddressedNamespace(std::string_view authority, std::string_view path) const;
  // Which model (and revisions) a request would reach, for `skiff routes explain`.
  std::string Describe(std::string_view authority, std::string_view path) const;
  // What answering `method` `path` (with that Host) would authorize, for `skiff routes explain`:
  // "predict" or "get" on the model's InferenceService; nullopt for server-level endpoints and
  // lists (which filter by "list" instead) or when no model answers.
  std::optional<authz::Attributes> AttributesFor(std::string_view authority,
                                                 std::string_view path) const;
  // Answers a request for which Matches() is true. Inference runs through the revision's
  // executor (inline for cheap models, else on the CPU pool); `respond` is called once.
  void Handle(http::Request& req, http::Responder respond) const;

 private:
  struct Target {
    std::string ns;    // empty: find the model by name in any namespace
    std::string name;  // empty: taken from the path
    std::string path;  // the V1/V2 path
  };
  std::optional<Target> Resolve(std::string_view authority, std::string_view path,
                                const ServingTable& table) const;
  // The model named `model` for `target`, or an error response. A name alone (no namespace in
  // the Host or path) is looked up among the models `who` may read (all when `who` is null or
  // there is no authorizer): the answer never tells another namespace's models exist.
  const ServedModel* Find(const ServingTable& table, const Target& target, const std::string& model,
                          const Principal* who, http::Response* error) const;
  void Infer(const ServedModel& model, bool v2, http::Request& req, http::Responder respond) const;
  static authz::Attributes ModelAttributes(std::string_view verb, const ServedModel& model);
  // Empty when `req`'s principal may `verb` the model; else the 401/403 response.
  std::optional<http::Response> Refuse(const http::Request& req, std::string_view verb,
                                       const ServedModel& model) const;
  // Whether `req`'s principal may list the InferenceServices of `ns` (model lists).
  bool MayList(const http::Request& req, const std::string& ns) const;

  Controller& controller_;
  ProtocolLimits limits_;
  const authz::Authorizer* authorizer_;
};

}  // namespace skiff::serving
