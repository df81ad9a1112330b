#pragma once
// InferenceService: the resource users apply to serve a model, in KServe's
// serving.kserve.io/v1beta1 form and the older KFServing serving.kubeflow.org/v1alpha2 form.
// This file registers both kinds and reads either spec into one DesiredState. Pure; thread-safe.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/kind.hpp"

namespace skiff::serving {

inline constexpr std::string_view kKServeGroup = "serving.kserve.io";
inline constexpr std::string_view kKfservingGroup = "serving.kubeflow.org";

// Storage names of the two kinds (see api::KindInfo::StorageResource).
std::string KServeResource();      // "inferenceservices.serving.kserve.io"
std::string KfservingResource();   // "inferenceservices.serving.kubeflow.org"

Status RegisterInferenceServiceKinds(api::KindRegistry& registry);

// What makes a revision: a change here loads a new revision, while traffic settings
// (canaryTrafficPercent) only move traffic between revisions, as in KServe.
struct PredictorTemplate {
  std::string format;   // "sklearn", "xgboost", "tensorflow", ... or "custom"
  std::string runtime;  // spec.predictor.model.runtime, or ""
  std::string storage_uri;
  std::string protocol = "v1";  // "v1", "v2" or "grpc-v2"
  std::map<std::string, std::string> env;
  int64_t container_concurrency = 0;  // 0 = no limit
  std::chrono::seconds timeout{0};    // 0 = the server's default
  json::object framework;             // the framework block as written, for runtimes

  // A stable digest of everything above (hex, 16 chars).
  std::string Hash() const;
  json::object ToJson() const;
  static Result<PredictorTemplate> FromJson(const json::object& obj);
};

struct DesiredState {
  PredictorTemplate latest;
  // v1alpha2 names its stable predictor explicitly (spec.default) next to spec.canary; v1beta1
  // leaves it implicit (the previously rolled-out revision).
  std::optional<PredictorTemplate> stable;
  std::optional<int64_t> canary_percent;  // canaryTrafficPercent
  int64_t min_replicas = 1;
  int64_t max_replicas = 0;
};

// Reads and checks the spec of an InferenceService of either group. On failure returns the
// field errors (field paths as users wrote them, e.g. "spec.predictor.sklearn.storageUri").
struct SpecResult {
  std::optional<DesiredState> state;
  api::FieldErrors errors;
};
SpecResult ReadSpec(std::string_view group, const json::object& obj);

}  // namespace skiff::serving
