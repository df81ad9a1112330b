#pragma once
// Server-side printing: meta.k8s.io/v1 Table objects, which `kubectl get` asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io) and prints as they are. Pure; thread-safe.

#include <chrono>
#include <vector>

#include "api/kind.hpp"

namespace skiff::api {

enum class IncludeObject { kNone, kMetadata, kObject };
Result<IncludeObject> ParseIncludeObject(std::string_view value);  // "" = kMetadata

// A Table of `objects`. `list_metadata` becomes the Table's metadata (resourceVersion,
// continue). `with_headers` false omits columnDefinitions (watch events after the first).
json::object MakeTable(const KindInfo& kind, const std::vector<json::object>& objects,
                       std::chrono::system_clock::time_point now, IncludeObject include,
                       json::object list_metadata, bool with_headers = true);

// Evaluates a kubectl-style JSONPath subset used by printer columns: ".a.b", ".a[0].b",
// ".a[?(@.type==\"Ready\")].status". Returns null when absent.
json::value EvalColumnPath(const json::value& root, std::string_view path);

// {"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":...}
json::object PartialObjectMetadata(const json::object& obj);

}  // namespace skiff::api
