#pragma once
// Shared pieces of the resource API's implementation (not part of the module's interface).

#include <string>
#include <string_view>

#include "api/kind.hpp"
#include "api/request_info.hpp"
#include "http/http.hpp"

namespace skiff::api::internal {

http::Response JsonResponse(int code, const json::value& body);

// Status::reason of a Conflict (Code::kAborted) raised by a failed precondition (uid or
// resourceVersion in DeleteOptions or in the object): its message is kept in the 409.
inline constexpr std::string_view kPreconditionReason = "Precondition";
inline Status PreconditionFailed(std::string msg) {
  return {Code::kAborted, "Precondition failed: " + std::move(msg),
          std::string(kPreconditionReason)};
}

// metav1.Status for an error, worded as the Kubernetes API server words it. `kind` may be null
// (then `resource` names the resource), `name` may be empty.
json::object StatusObject(const Status& status, const KindInfo* kind, std::string_view resource,
                          std::string_view name);
http::Response StatusResponse(const Status& status, const KindInfo* kind = nullptr,
                              std::string_view resource = {}, std::string_view name = {});
// 403 Forbidden worded as the API server's authorization filter words it:
// `RESOURCE[.GROUP] ["NAME"] is forbidden: User "U" cannot VERB resource "R[/SUB]" in API group
// "G" (in the namespace "NS" | at the cluster scope)[: REASON]`.
http::Response ForbiddenResponse(const RequestInfo& info, std::string_view user,
                                 std::string_view reason);
// 422 Invalid with one cause per field error.
http::Response InvalidResponse(const KindInfo& kind, std::string_view name,
                               const FieldErrors& errors);
// metav1.Status{status: Success} (deletecollection, some deletes).
json::object SuccessStatus(const KindInfo& kind, std::string_view name);

// Discovery documents.
json::object ApiVersions();
json::object ApiGroupList(const KindRegistry& kinds);
Result<json::object> ApiGroup(const KindRegistry& kinds, std::string_view group);
Result<json::object> ApiResourceList(const KindRegistry& kinds, std::string_view group,
                                     std::string_view version);
json::object VersionInfo(std::string_view git_version, std::string_view git_commit);
// OpenAPI v3: the index (/openapi/v3) and one document per group-version.
json::object OpenApiIndex(const KindRegistry& kinds);
Result<json::object> OpenApiGroupVersion(const KindRegistry& kinds, std::string_view group,
                                         std::string_view version);

std::string QualifiedResource(const KindInfo& kind);  // "namespaces", "foos.example.com"

}  // namespace skiff::api::internal
