#pragma once
// Tensors and inference requests as the Open Inference Protocol (KServe V2) defines them; the V1
// protocol is translated to and from these. Plain values; thread-compatible.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::serving {

enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
};

// "BOOL", "UINT8", ..., "FP16", "FP32", "FP64", "BYTES" (V2 spelling).
std::string_view DataTypeName(DataType t);
Result<DataType> ParseDataType(std::string_view name);
// Bytes per element; 0 for BYTES (variable length).
size_t ElementSize(DataType t);

// A dense row-major tensor. Numeric elements live in `data` as native little-endian values of
// the element type (BOOL as one byte 0/1, FP16 as its 16-bit pattern); BYTES elements live in
// `strings`, one per element.
struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp64;
  std::vector<int64_t> shape;
  std::string data;
  std::vector<std::string> strings;
  json::object parameters;

  // Product of the shape (1 for a scalar shape []). -1 if the shape has a negative dimension.
  int64_t ElementCount() const;
  // REQUIRES: datatype matches T's size (checked in debug builds).
  template <class T>
  const T* As() const {
    return reinterpret_cast<const T*>(data.data());
  }
  template <class T>
  T* MutableAs() {
    return reinterpret_cast<T*>(data.data());
  }
  // Element i converted to double (numeric types only).
  double ValueAsDouble(int64_t i) const;

  static Tensor FromDoubles(std::string name, std::vector<int64_t> shape,
                            const std::vector<double>& values);
  static Tensor FromInt64s(std::string name, std::vector<int64_t> shape,
                           const std::vector<int64_t>& values);
  static Tensor FromStrings(std::string name, std::vector<int64_t> shape,
                            std::vector<std::string> values);
};

struct RequestedOutput {
  std::string name;
  bool binary_data = false;  // binary tensor data extension
  json::object parameters;
};

struct InferRequest {
  std::string id;
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty = the model's default outputs
  json::object parameters;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<Tensor> outputs;
  json::object parameters;
};

// Shapes in metadata use -1 for "any size".
struct TensorSpec {
  std::string name;
  DataType datatype = DataType::kFp64;
  std::vector<int64_t> shape;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;  // e.g. "sklearn", "xgboost", "python"
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

}  // namespace skiff::serving
