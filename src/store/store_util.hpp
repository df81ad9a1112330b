#pragma once
// Backend-independent pieces of the store contract: key validation, the error messages every
// backend returns, resourceVersion stamping and the opaque list continue token. Internal to
// skiff_store (backends include it; callers use store.hpp). Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace skiff::store {

// `resource "name"` or `resource "name" in namespace "ns"`, for messages.
std::string Describe(const Key& key);

// InvalidArgument when resource or name is empty.
Status ValidateKey(const Key& key);

Status AlreadyExistsError(const Key& key);
Status NotFoundError(const Key& key);
// Conflict (Code::kAborted, reason "Conflict") with Kubernetes' wording.
Status ConflictError(const Key& key);

// Sets metadata.resourceVersion to the decimal string of `version` (Kubernetes sends versions
// as strings), creating metadata when missing.
void StampVersion(json::object& object, int64_t version);
// metadata.resourceVersion parsed, or 0 when missing or malformed.
int64_t VersionOf(const json::object& object);
// metadata.labels serialized ("{}" when missing).
std::string LabelsJson(const json::object& object);

// Where a paged list continues: after (ns, name), at the first page's snapshot version.
struct ContinuePoint {
  int64_t version = 0;
  std::string ns;
  std::string name;
};
// base64url(JSON). Opaque to clients, as in Kubernetes.
std::string EncodeContinue(const ContinuePoint& point);
// InvalidArgument ("invalid continue token ...") when malformed.
Result<ContinuePoint> DecodeContinue(std::string_view token);

}  // namespace skiff::store
