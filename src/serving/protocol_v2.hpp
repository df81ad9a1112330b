#pragma once
// KServe's V2 protocol, the Open Inference Protocol, over REST
// (https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol), with the
// binary tensor data extension (Triton's binary_tensor_data, as KServe documents it):
//
//   GET  /v2                                         server metadata {name, version, extensions}
//   GET  /v2/health/live, /v2/health/ready           {"live": true} / {"ready": true|false}
//   GET  /v2/models/<name>[/versions/<v>]            model metadata
//   GET  /v2/models/<name>[/versions/<v>]/ready      {"name", "ready": true} or 503
//   POST /v2/models/<name>[/versions/<v>]/infer      inference
//
// Inference request: {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype",
// "parameters"?, "data"}], "outputs"?: [{"name", "parameters"?: {"binary_data": bool}}]}.
// `data` is flat or nested in row-major order; its element count must equal the shape's and each
// element must fit the datatype (protocol_json::FillFromJson). Errors name the tensor and what
// was expected: `input "x": shape [2,4] needs 8 elements but data has 7`.
//
// Binary tensor data extension. With an `Inference-Header-Content-Length: N` header, the first N
// bytes of the body are the JSON header and the rest is tensor data: each input whose parameters
// carry "binary_data_size": S takes the next S bytes, in input order, and has no "data". Elements
// are little-endian, row-major, unpadded; BOOL is one byte 0 or 1; a BYTES element is a 4-byte
// little-endian length followed by that many bytes. The sizes must add up to exactly the bytes
// after the header. binary_data_size is removed from the tensor's parameters before the model
// sees them. For the response, an output is sent as binary when its request entry says
// "binary_data": true, or when the request's parameters say "binary_data_output": true and its
// entry does not say false; such outputs carry "binary_data_size" and no "data", their bytes
// follow the JSON in output order, and the response has Content-Type application/octet-stream
// and Inference-Header-Content-Length.
//
// Limits (ProtocolLimits) and the NaN policy: protocol.hpp. Sans-I/O and stateless; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.hpp"
#include "serving/protocol.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving {

inline constexpr std::string_view kInferenceHeaderContentLength = "Inference-Header-Content-Length";
inline constexpr std::string_view kBinaryTensorDataExtension = "binary_tensor_data";

// A V2 path taken apart. Model names and versions have no '/'.
struct V2Path {
  enum class Kind { kServerMetadata, kLive, kReady, kModelMetadata, kModelReady, kInfer };
  Kind kind = Kind::kServerMetadata;
  std::string model;    // empty for server endpoints
  std::string version;  // empty when the path names none
};
// nullopt for paths that are not V2 endpoints (404).
std::optional<V2Path> ParseV2Path(std::string_view path);

// Parses an infer body. `header_length` is the Inference-Header-Content-Length header's value
// when the request has one. Requested outputs come back in InferRequest.outputs with
// binary_data resolved (per-output flag, else the request's binary_data_output). Errors:
// InvalidArgument ("Unrecognized request format: ..." for a header that is not JSON), TooLarge.
Result<InferRequest> ParseV2InferRequest(std::string_view body,
                                         std::optional<std::string_view> header_length,
                                         const ProtocolLimits& limits = {});
// The same, reading the body and the header from `request`.
Result<InferRequest> ParseV2InferRequest(const http::Request& request,
                                         const ProtocolLimits& limits = {});

// What the response encoder needs from the request. Take it before the request is moved into
// the executor.
struct V2ResponseSpec {
  std::vector<RequestedOutput> outputs;  // empty: every output the model returned
  bool binary_data_output = false;       // default for outputs not listed
  std::string id;                        // the request's id, echoed when the model set none
};
V2ResponseSpec ResponseSpecFor(const InferRequest& request);

// Encodes an inference response: {"model_name", "model_version"?, "id"?, "parameters"?,
// "outputs": [{"name", "shape", "datatype", "parameters"?, "data"}]} (200), binary outputs as
// above. With spec.outputs set, only those outputs, in that order. Errors: InvalidArgument for
// a requested output the model did not return or BYTES that are not UTF-8 in JSON; Internal for
// outputs whose storage does not match their shape.
Result<http::Response> EncodeV2InferResponse(const InferResponse& response,
                                             const V2ResponseSpec& spec);

// GET /v2: {"name", "version", "extensions": ["binary_tensor_data"]}.
http::Response EncodeV2ServerMetadata(std::string_view name, std::string_view version);
// GET /v2/health/live: 200 {"live": true}. GET /v2/health/ready: 200 {"ready": true}, or 503
// {"ready": false} (the protocol reads the status code; KServe clients read the body).
http::Response EncodeV2Live();
http::Response EncodeV2ServerReady(bool ready);
// GET /v2/models/<name>: {"name", "versions", "platform", "inputs", "outputs"} with each tensor
// as {"name", "datatype", "shape"} (-1 for a dimension of any size).
http::Response EncodeV2ModelMetadata(const ModelMetadata& metadata);
// GET /v2/models/<name>/ready: 200 {"name", "ready": true}; 503 ModelNotReady when not ready.
http::Response EncodeV2ModelReady(std::string_view model, bool ready);

}  // namespace skiff::serving
