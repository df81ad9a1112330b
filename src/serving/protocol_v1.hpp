#pragma once
// KServe's V1 protocol (the TensorFlow Serving REST API as KServe serves it,
// https://kserve.github.io/website/docs/concepts/architecture/data-plane/v1-protocol):
//
//   GET  /v1/models                   -> {"models": [names]}
//   GET  /v1/models/<name>            -> {"name": <name>, "ready": true}, or 503
//                                        {"error": "Model with name <name> is not ready."}
//   POST /v1/models/<name>:predict    {"instances": [...]} or {"inputs": [...]}
//                                     -> {"predictions": [...]}
//   POST /v1/models/<name>:explain    (path recognized; not served by this build)
//
// Request mapping. `instances` (or `inputs`, which KServe reads the same way; `instances` wins
// when both are present) must be a non-empty array, rectangular at every depth as numpy.array
// would need it. Its shape becomes the tensor's shape ([[a,b,c,d],[e,f,g,h]] -> [2,4], a flat
// list [a,b] -> [2]). Numbers (and true/false as 1/0, null/NaN/Infinity per protocol.hpp) become
// one FP64 tensor "input-0"; strings become a BYTES tensor. Ragged rows, empty rows, objects
// (TF Serving's named or {"b64": ...} instances) and strings mixed with numbers are 400s whose
// message names the offending instance. Other top-level fields go to InferRequest.parameters.
//
// Response mapping. `predictions` is the output tensor named "predictions" if the model returned
// one, else its first output, written as nested lists by its shape ([n] -> [a,b], [n,k] ->
// [[..],[..]]; a scalar -> [a]): integers as integers, FP64 with round-trip precision, FP32 with
// the shortest float digits, BOOL as true/false, BYTES as strings.
//
// Sans-I/O and stateless; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.hpp"
#include "serving/protocol.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving {

inline constexpr std::string_view kV1InputName = "input-0";

// A V1 path taken apart. Model names are Kubernetes names (no ':' or '/').
struct V1Path {
  enum class Kind { kList, kModel, kPredict, kExplain };
  Kind kind = Kind::kList;
  std::string model;  // empty for kList
};
// nullopt for paths that are not V1 endpoints (404), including unknown ":verb"s.
std::optional<V1Path> ParseV1Path(std::string_view path);

// Parses a :predict body. Errors: InvalidArgument ("Unrecognized request format: ..." for bodies
// that are not JSON; otherwise naming what is wrong), TooLarge past limits.max_elements.
Result<InferRequest> ParseV1PredictRequest(std::string_view body,
                                           const ProtocolLimits& limits = {});

// {"predictions": [...]} (200). Errors: Internal when the response has no output or an output
// whose storage does not match its shape; InvalidArgument for BYTES that are not UTF-8.
Result<http::Response> EncodeV1PredictResponse(const InferResponse& response);
// The body alone, for callers that frame it themselves.
Result<std::string> EncodeV1Predictions(const InferResponse& response);

// GET /v1/models.
http::Response EncodeV1ModelList(const std::vector<std::string>& models);
// GET /v1/models/<name>: 200 {"name", "ready": true}; 503 ModelNotReady when not ready.
http::Response EncodeV1ModelReady(std::string_view model, bool ready);

}  // namespace skiff::serving
