#pragma once
// The resource API's implementation object, shared by resource_api.cpp (reads, watch) and
// resource_write.cpp (create, update, patch, delete). Not part of the module's interface.

#include <string>
#include <vector>

#include "api/api.hpp"
#include "api/internal.hpp"
#include "api/table.hpp"
#include "api/watch_stream.hpp"

namespace skiff::api {

namespace internal {

// What the client asked to receive (Accept header).
enum class Shape { kObject, kTable, kPartialMetadata };
Shape AcceptedShape(const http::Request& req);
// A non-negative decimal, or -1.
int64_t ParseVersion(std::string_view s);
// Five characters from Kubernetes' generated-name alphabet.
std::string GenerateSuffix();

// A field selector: "metadata.name=x,metadata.namespace!=y".
struct FieldRequirement {
  std::string field;
  std::string value;
  bool equals = true;
};
Result<std::vector<FieldRequirement>> ParseFieldSelector(std::string_view text);
bool MatchesFields(const json::object& obj, const std::vector<FieldRequirement>& reqs);
// Reads ?labelSelector= and ?fieldSelector=; InvalidArgument naming the problem.
Status ParseSelectors(const http::Request& req, store::Selector* labels,
                      std::vector<FieldRequirement>* fields);
// The object without server-bumped metadata, to detect updates that change nothing.
json::object Comparable(json::object obj);
// Whether anything outside metadata and status differs (bumps metadata.generation).
bool SpecChanged(const json::object& a, const json::object& b);

}  // namespace internal

using internal::Shape;

struct ResourceApi::Impl {
  const KindRegistry& kinds;
  store::Store& store;
  Clock& clock;
  ApiOptions options;
  internal::WatchReaper reaper;
  std::string api_versions_json, api_groups_json, version_json, openapi_index_json;

  Impl(const KindRegistry& k, store::Store& s, Clock& c, ApiOptions o)
      : kinds(k), store(s), clock(c), options(std::move(o)) {
    api_versions_json = Serialize(internal::ApiVersions());
    api_groups_json = Serialize(internal::ApiGroupList(kinds));
    version_json = Serialize(internal::VersionInfo(options.server_version, options.git_commit));
    openapi_index_json = Serialize(internal::OpenApiIndex(kinds));
  }

  http::Response Handle(http::Request& req);
  http::Response Discovery(const http::Request& req, const RequestInfo& info);
  http::Response Get(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response List(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response Watch(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response Create(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response Update(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response Patch(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response Delete(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  // Create of a computed kind (KindInfo::review).
  http::Response Review(const http::Request& req, const KindInfo& kind, const RequestInfo& info);
  http::Response DeleteCollection(const http::Request& req, const KindInfo& kind,
                                  const RequestInfo& info);

  // Validates `obj` (the complete new state) against `old` and writes it. Shared by update and
  // patch. Returns a Status in `conflict` instead of a response when the write lost a race
  // and the caller may retry.
  http::Response WriteUpdate(const http::Request& req, const KindInfo& kind,
                             const RequestInfo& info, json::object obj, const store::Object& old,
                             int64_t expected_version, bool* retryable_conflict);

  json::object Present(const KindInfo& kind, json::object obj) const {
    obj["apiVersion"] = kind.GroupVersion();
    obj["kind"] = kind.kind;
    return obj;
  }
  http::Response Render(const http::Request& req, const KindInfo& kind, int code,
                        json::object obj) const;
  std::string EncodeEvent(const KindInfo& kind, Shape shape, IncludeObject include,
                          store::EventType type, json::object obj) const;
};

}  // namespace skiff::api
