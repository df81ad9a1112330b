#include "serving/tensor.hpp"

#include <cmath>

namespace skiff::serving {

namespace {

struct TypeInfo {
  DataType type;
  std::string_view name;
  size_t size;
};

constexpr TypeInfo kTypes[] = {
    {DataType::kBool, "BOOL", 1},   {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2}, {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8}, {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},   {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
};

double HalfToDouble(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(frac), -24);
  } else if (exp == 31) {
    v = frac ? NAN : HUGE_VAL;
  } else {
    v = std::ldexp(static_cast<double>(frac | 0x400), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

}  // namespace

std::string_view DataTypeName(DataType t) {
  for (const auto& i : kTypes) {
    if (i.type == t) return i.name;
  }
  return "UNKNOWN";
}

Result<DataType> ParseDataType(std::string_view name) {
  for (const auto& i : kTypes) {
    if (i.name == name) return i.type;
  }
  return InvalidArgument("unsupported datatype \"" + std::string(name) +
                         "\": use BOOL, UINT8-64, INT8-64, FP16, FP32, FP64 or BYTES");
}

size_t ElementSize(DataType t) {
  for (const auto& i : kTypes) {
    if (i.type == t) return i.size;
  }
  return 0;
}

int64_t Tensor::ElementCount() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

double Tensor::ValueAsDouble(int64_t i) const {
  switch (datatype) {
    case DataType::kBool: return As<uint8_t>()[i] ? 1.0 : 0.0;
    case DataType::kUint8: return As<uint8_t>()[i];
    case DataType::kUint16: return As<uint16_t>()[i];
    case DataType::kUint32: return As<uint32_t>()[i];
    case DataType::kUint64: return static_cast<double>(As<uint64_t>()[i]);
    case DataType::kInt8: return As<int8_t>()[i];
    case DataType::kInt16: return As<int16_t>()[i];
    case DataType::kInt32: return As<int32_t>()[i];
    case DataType::kInt64: return static_cast<double>(As<int64_t>()[i]);
    case DataType::kFp16: return HalfToDouble(As<uint16_t>()[i]);
    case DataType::kFp32: return As<float>()[i];
    case DataType::kFp64: return As<double>()[i];
    case DataType::kBytes: return NAN;
  }
  return NAN;
}

Tensor Tensor::FromDoubles(std::string name, std::vector<int64_t> shape,
                           const std::vector<double>& values) {
  Tensor t;
  t.name = std::move(name);
  t.datatype = DataType::kFp64;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  return t;
}

Tensor Tensor::FromInt64s(std::string name, std::vector<int64_t> shape,
                          const std::vector<int64_t>& values) {
  Tensor t;
  t.name = std::move(name);
  t.datatype = DataType::kInt64;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::FromStrings(std::string name, std::vector<int64_t> shape,
                           std::vector<std::string> values) {
  Tensor t;
  t.name = std::move(name);
  t.datatype = DataType::kBytes;
  t.shape = std::move(shape);
  t.strings = std::move(values);
  return t;
}

}  // namespace skiff::serving
