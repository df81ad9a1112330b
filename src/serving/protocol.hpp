#pragma once
// What the KServe V1 (protocol_v1.hpp) and V2 / Open Inference Protocol (protocol_v2.hpp) codecs
// share: request limits, the NaN/Infinity policy, and the one mapping from a Status to KServe's
// error body and HTTP status. Sans-I/O: requests in, InferRequest or http::Response out; the
// routes that call these live elsewhere. Stateless functions; thread-safe.
//
// Errors, as KServe's model server answers them (kserve/python/kserve/kserve/errors.py):
//   InvalidArgument, FailedPrecondition, OutOfRange -> 400 {"error": message}
//   NotFound                                        -> 404 ("Model with name X does not exist.")
//   TooLarge (ResourceExhausted, reason TooLarge)   -> 413
//   Unavailable (model not ready, worker died) and
//   ResourceExhausted (per-model queue full)        -> 503 with Retry-After
//   DeadlineExceeded                                -> 504
//   Unimplemented                                   -> 501
//   Cancelled 499, PermissionDenied 403, Unauthenticated 401, AlreadyExists/Aborted 409
//   Internal, Unknown, DataLoss                     -> 500 {"error": "internal error"}: never the
//                                                      message, which may name files or peers.
// KServe's body is {"error": "..."} with no other field; so is ours.
//
// NaN and infinities (JSON has neither). Policy, chosen deliberately:
//   - Input: the bare tokens NaN, Infinity and -Infinity are accepted wherever a JSON number may
//     stand, in V1 and V2 bodies, as Python's json module (KFServing, and every Python client
//     that json.dumps a float('nan')) reads and writes them. KServe >= 0.10 parses with orjson,
//     which rejects them with 400 "Unrecognized request format: unexpected character"; we accept
//     them because refusing data the clients' own json library produced helps nobody. `null` in
//     a floating-point tensor (V2 FP16/FP32/FP64, V1 numeric rows) reads as NaN, so that what we
//     write reads back unchanged. Other spellings (nan, inf, +Infinity, "NaN" as a string) are
//     not numbers: 400. Whether a model accepts NaN features is the runtime's decision.
//   - Output: NaN and +-Infinity are written as null, as KServe's orjson-based server writes them
//     (orjson.dumps([nan, inf]) == b'[null,null]'), so every response is strict JSON. Clients
//     that need the exact values request the output with the binary tensor data extension.
//
// Limits on what one request may hold (ProtocolLimits; the HTTP body itself is limited by the
// listener, 413 above it): at most 64 input tensors and 64 requested outputs, rank at most 16,
// and 16,777,216 (2^24) elements summed over the inputs (so at most 128 MiB of FP64 data) -> 413
// beyond it. Shapes are checked against the data before anything is allocated by shape.

#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::serving {

struct ProtocolLimits {
  size_t max_inputs = 64;          // input tensors per request (InvalidArgument beyond)
  size_t max_outputs = 64;         // requested outputs per request (InvalidArgument beyond)
  size_t max_rank = 16;            // dimensions per tensor shape (InvalidArgument beyond)
  int64_t max_elements = 1 << 24;  // elements summed over all inputs (TooLarge beyond)
};

// KFServing's prefix for a body that is not JSON; KServe keeps it. The parse error follows.
inline constexpr std::string_view kUnrecognizedRequestFormat = "Unrecognized request format: ";

// Parses a request body as JSON with the NaN/Infinity extension above (kMaxJsonDepth levels).
// Values are allocated from `sp` (pass a monotonic_resource for per-request arenas). Errors:
// InvalidArgument "Unrecognized request format: invalid JSON at line L column C: <reason>".
Result<json::value> ParseRequestJson(std::string_view body, json::storage_ptr sp = {});

// The statuses the serving routes answer with, worded as KServe words them.
Status ModelNotFound(std::string_view model);  // NotFound "Model with name X does not exist."
Status ModelNotReady(std::string_view model);  // Unavailable "Model with name X is not ready."

// HTTP status for `status` under the table above (200 for OK).
int ProtocolHttpStatus(const Status& status);
// KServe's error response for a non-OK status: {"error": message}, the HTTP status above, and
// Retry-After: retry_after_seconds on a 503. REQUIRES: !status.ok().
http::Response ProtocolErrorResponse(const Status& status, int retry_after_seconds = 1);

// A JSON response (Content-Type: application/json) with `body` already serialized.
http::Response JsonResponse(int http_status, std::string body);

}  // namespace skiff::serving
