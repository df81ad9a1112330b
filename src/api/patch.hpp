#pragma once
// Patches as the Kubernetes API accepts them: JSON merge patch (RFC 7386), strategic merge
// patch (Kubernetes' extension: directives $patch, $retainKeys, $setElementOrder,
// $deleteFromPrimitiveList and list merging by x-kubernetes-patch-merge-key from the kind's
// schema), and JSON patch (RFC 6902). Also the three-way merge patch `kubectl apply`
// computes, used by `skiff apply`. Pure functions; thread-safe.

#include "core/json.hpp"

namespace skiff::api {

// RFC 7386: null deletes, objects merge recursively, anything else replaces.
json::value ApplyMergePatch(const json::value& target, const json::value& patch);

// `schema` is the kind's OpenAPI schema (may be null: then lists are replaced, as JSON merge
// patch does). InvalidArgument on malformed directives.
Result<json::value> ApplyStrategicMergePatch(const json::value& target, const json::value& patch,
                                             const json::value& schema);

// RFC 6902. InvalidArgument (with the failing operation's index) when an operation does not
// apply, including a failed "test".
Result<json::value> ApplyJsonPatch(const json::value& target, const json::value& patch);

// The merge patch that turns `from` into `to` (RFC 7386 diff).
json::value CreateMergePatch(const json::value& from, const json::value& to);

// kubectl apply's three-way patch: fields of `modified` that differ from `current`, plus
// deletions (null) of fields present in `original` (the last applied configuration) but absent
// from `modified`. Fields only in `current` (set by the server or others) are kept.
json::value CreateThreeWayMergePatch(const json::value& original, const json::value& modified,
                                     const json::value& current);

}  // namespace skiff::api
