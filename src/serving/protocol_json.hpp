#pragma once
// Tensor <-> JSON conversion shared by the V1 and V2 codecs: element conversion with datatype
// range checks, and a fast writer for response bodies (no json::value is built for tensor data).
// Internal to src/serving (tests use it too). Stateless; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving::protocol_json {

// IEEE 754 binary16 <-> binary64. DoubleToHalf rounds to nearest, ties to even; values beyond
// the largest half (65504, after rounding) become infinity.
uint16_t DoubleToHalf(double d);
double HalfToDouble(uint16_t h);

bool IsValidUtf8(std::string_view s);

// Appends s as a JSON string literal. REQUIRES: IsValidUtf8(s).
void AppendString(std::string& out, std::string_view s);
// Appends d as core's FormatJsonNumber writes it ("0.5", "1e+21"), null for NaN and infinities.
void AppendDouble(std::string& out, double d);
// Appends f with the shortest digits that read back as the same float (0.1f -> "0.1").
void AppendFloat(std::string& out, float f);
void AppendShape(std::string& out, const std::vector<int64_t>& shape);

// Checks that a tensor's storage matches its datatype and shape (model outputs, before they are
// written). Errors are Internal: a runtime broke its contract.
Status CheckTensorStorage(const Tensor& t, std::string_view what);

// Appends elements [begin, end) of `t` separated by commas, without brackets. BYTES elements must
// be valid UTF-8 (InvalidArgument naming `what` and the element otherwise: JSON cannot carry
// them; the binary extension can). REQUIRES: CheckTensorStorage(t).ok().
Status AppendElements(std::string& out, const Tensor& t, int64_t begin, int64_t end,
                      std::string_view what);
// Appends `t` as nested arrays following its shape ([2,2] -> [[a,b],[c,d]]; a scalar shape []
// -> [a]). REQUIRES: CheckTensorStorage(t).ok().
Status AppendNested(std::string& out, const Tensor& t, std::string_view what);

// Number of scalar leaves of `v`, descending into arrays (flat or nested, row-major). Objects
// are rejected (InvalidArgument naming `what`).
Result<int64_t> CountLeaves(const json::value& v, std::string_view what);
// Fills t.data / t.strings from the leaves of `v` in row-major order, converting each to
// t.datatype with range checks (INT8..UINT64 need JSON integers in range; BOOL needs true/false;
// FP16/FP32/FP64 take any number, null as NaN, and reject finite values beyond the type's range;
// BYTES needs strings). REQUIRES: CountLeaves(v) == count, and t.shape/datatype set.
Status FillFromJson(Tensor& t, const json::value& v, int64_t count, std::string_view what);

// "[2,4]" for messages.
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace skiff::serving::protocol_json
