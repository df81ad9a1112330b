#pragma once
// The framed protocol between skiff and its Python model workers (python_worker.py), sans I/O.
//
// The channel is a Unix stream socket on the worker's file descriptor 3 (a socketpair rather
// than two pipes: one descriptor, and skiff writes with MSG_NOSIGNAL so a dead worker is an
// EPIPE, never a SIGPIPE). Each message, either way, is one frame:
//
//   offset 0   4 bytes   magic "SKW1"
//   offset 4   u32 LE    H, the length of the JSON header
//   offset 8   u64 LE    P, the length of the payload
//   offset 16  H bytes   UTF-8 JSON header
//   then       P bytes   payload: tensor bytes
//
// Tensors are described in the header as {"name", "datatype" (V2 spelling), "shape", "offset",
// "length", ["parameters"]}; their bytes sit in the payload at `offset` (8-byte aligned),
// little-endian and row-major as in the V2 binary tensor extension; a BYTES tensor is its
// elements in order, each a u32 LE length and that many bytes.
//
// Worker -> skiff, once after start: {"type": "ready", "pid", "python", "inputs": [specs],
// "outputs": [specs], ...} or {"type": "error", "code", "error"} (then the worker exits).
// skiff -> worker: {"type": "infer", "id", "inputs": [tensors], "outputs": [names],
// "parameters"}; the worker answers each with {"type": "result", "outputs": [tensors],
// ["parameters"]} or {"type": "error", "code": "INVALID_ARGUMENT" | "INTERNAL" | ...,
// "error": "ValueError: ..."}. A worker serves one request at a time and exits when the channel
// closes. Codes are the CodeName() spellings of skiff::Code.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving::python_protocol {

inline constexpr std::string_view kMagic = "SKW1";
inline constexpr size_t kPrefixBytes = 16;
inline constexpr size_t kMaxHeaderBytes = 64 << 20;

struct Prefix {
  uint32_t header_bytes = 0;
  uint64_t payload_bytes = 0;
};

// The 16 prefix bytes of a frame header of H bytes and a payload of P bytes.
std::string EncodePrefix(uint32_t header_bytes, uint64_t payload_bytes);
// Checks the magic and the limits. REQUIRES: bytes.size() == kPrefixBytes.
Result<Prefix> DecodePrefix(std::string_view bytes, uint64_t max_payload_bytes);

// A whole frame.
std::string EncodeFrame(const json::object& header, std::string_view payload = {});

// The infer request frame for `request`.
std::string EncodeInferRequest(const InferRequest& request);

// Tensors described in `descriptors` (a JSON array) over `payload`. InvalidArgument when a
// descriptor is malformed or points outside the payload.
Result<std::vector<Tensor>> DecodeTensors(const json::value& descriptors, std::string_view payload);
// Appends `tensor` to a descriptor array and a payload (for tests and symmetry).
void AppendTensor(const Tensor& tensor, json::array& descriptors, std::string& payload);

// The worker's error reply as a Status (code from its "code", message from its "error").
Status ErrorFromReply(const json::object& header);

}  // namespace skiff::serving::python_protocol
