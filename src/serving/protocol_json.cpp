#include "serving/protocol_json.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace skiff::serving::protocol_json {

namespace {

// Go's encoding/json thresholds, as core's FormatJsonNumber: plain notation for
// 1e-6 <= |v| < 1e21, exponent notation outside, "1e-07" shortened to "1e-7".
template <class F>
void AppendNumber(std::string& out, F v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[64];
  const F a = std::fabs(v);
  const bool exp = a != 0 && (a < F(1e-6) || a >= F(1e21));
  auto r = std::to_chars(buf, buf + sizeof buf, v,
                         exp ? std::chars_format::scientific : std::chars_format::fixed);
  char* end = r.ptr;
  if (exp) {
    char* e = static_cast<char*>(std::memchr(buf, 'e', end - buf));
    if (e != nullptr && e + 3 < end && e[1] == '-' && e[2] == '0') {
      std::memmove(e + 2, e + 3, end - (e + 3));
      --end;
    }
  }
  out.append(buf, end);
}

template <class T>
void AppendInt(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

template <class T>
T Load(const Tensor& t, int64_t i) {
  T v;
  std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

std::string Describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
    default:
      return Serialize(v);
  }
}

Status ElementError(std::string_view what, int64_t i, std::string detail) {
  return InvalidArgument(std::string(what) + ": element " + std::to_string(i) + " " +
                         std::move(detail));
}

template <class T>
Status StoreInt(Tensor& t, const json::value& v, int64_t i, std::string_view what) {
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  auto range = [&] {
    return std::string(DataTypeName(t.datatype)) + " expects integers in [" + std::to_string(lo) +
           ", " + std::to_string(hi) + "]";
  };
  T out;
  if (v.is_int64()) {
    const int64_t x = v.get_int64();
    if constexpr (std::is_signed_v<T>) {
      if (x < static_cast<int64_t>(lo) || x > static_cast<int64_t>(hi)) {
        return ElementError(what, i, "is " + std::to_string(x) + ": out of range; " + range());
      }
    } else {
      if (x < 0 || static_cast<uint64_t>(x) > static_cast<uint64_t>(hi)) {
        return ElementError(what, i, "is " + std::to_string(x) + ": out of range; " + range());
      }
    }
    out = static_cast<T>(x);
  } else if (v.is_uint64()) {
    const uint64_t x = v.get_uint64();
    if (x > static_cast<uint64_t>(hi)) {
      return ElementError(what, i, "is " + std::to_string(x) + ": out of range; " + range());
    }
    out = static_cast<T>(x);
  } else {
    return ElementError(what, i, "is " + Describe(v) + "; " + range());
  }
  std::memcpy(t.data.data() + i * sizeof(T), &out, sizeof(T));
  return Status::Ok();
}

// A JSON number (or null = NaN) as a double; false for other kinds.
bool NumberOf(const json::value& v, double& d) {
  switch (v.kind()) {
    case json::kind::double_:
      d = v.get_double();
      return true;
    case json::kind::int64:
      d = static_cast<double>(v.get_int64());
      return true;
    case json::kind::uint64:
      d = static_cast<double>(v.get_uint64());
      return true;
    case json::kind::null:
      d = std::numeric_limits<double>::quiet_NaN();
      return true;
    default:
      return false;
  }
}

Status StoreFloat(Tensor& t, const json::value& v, int64_t i, std::string_view what) {
  double d;
  if (!NumberOf(v, d)) {
    return ElementError(
        what, i,
        "is " + Describe(v) + "; " + std::string(DataTypeName(t.datatype)) + " expects numbers");
  }
  switch (t.datatype) {
    case DataType::kFp64:
      std::memcpy(t.data.data() + i * 8, &d, 8);
      break;
    case DataType::kFp32: {
      if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) {
        return ElementError(
            what, i,
            "is " + FormatJsonNumber(d) +
                ": out of range for FP32 (largest magnitude 3.4028234663852886e+38)");
      }
      const float f = static_cast<float>(d);
      std::memcpy(t.data.data() + i * 4, &f, 4);
      break;
    }
    case DataType::kFp16: {
      const uint16_t h = DoubleToHalf(d);
      if (std::isfinite(d) && (h & 0x7fff) == 0x7c00) {
        return ElementError(
            what, i,
            "is " + FormatJsonNumber(d) + ": out of range for FP16 (largest magnitude 65504)");
      }
      std::memcpy(t.data.data() + i * 2, &h, 2);
      break;
    }
    default:
      break;
  }
  return Status::Ok();
}

template <class F>
Status ForEachLeaf(const json::value& v, int64_t& index, F& f) {
  if (const auto* arr = v.if_array()) {
    for (const json::value& item : *arr) SKIFF_RETURN_IF_ERROR(ForEachLeaf(item, index, f));
    return Status::Ok();
  }
  SKIFF_RETURN_IF_ERROR(f(v, index));
  ++index;
  return Status::Ok();
}

Status AppendNestedDim(std::string& out, const Tensor& t, size_t dim, int64_t& next,
                       std::string_view what) {
  out += '[';
  if (dim + 1 == t.shape.size()) {
    SKIFF_RETURN_IF_ERROR(AppendElements(out, t, next, next + t.shape[dim], what));
    next += t.shape[dim];
  } else {
    for (int64_t i = 0; i < t.shape[dim]; ++i) {
      if (i > 0) out += ',';
      SKIFF_RETURN_IF_ERROR(AppendNestedDim(out, t, dim + 1, next, what));
    }
  }
  out += ']';
  return Status::Ok();
}

}  // namespace

uint16_t DoubleToHalf(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  const uint16_t sign = static_cast<uint16_t>((bits >> 48) & 0x8000);
  const int exp = static_cast<int>((bits >> 52) & 0x7ff);
  uint64_t mant = bits & ((uint64_t{1} << 52) - 1);
  if (exp == 0x7ff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);  // inf, NaN (quiet)
  if (exp == 0) return sign;        // zero or a double subnormal: far below half's range
  mant |= uint64_t{1} << 52;        // value = mant * 2^(exp - 1075)
  const int half_exp = exp - 1008;  // exp - 1023 + 15
  uint32_t shift;
  uint32_t base;
  if (half_exp >= 1) {
    shift = 42;  // keep 10 of the 52 fraction bits
    base = static_cast<uint32_t>(half_exp) << 10;
    mant &= (uint64_t{1} << 52) - 1;
    if (half_exp >= 31) return sign | 0x7c00;
  } else {
    shift = static_cast<uint32_t>(1051 - exp);  // units of the half subnormal step 2^-24
    base = 0;
    if (shift >= 64) return sign;
  }
  uint32_t r = base + static_cast<uint32_t>(mant >> shift);
  const uint64_t rem = mant & ((uint64_t{1} << shift) - 1);
  const uint64_t halfway = uint64_t{1} << (shift - 1);
  if (rem > halfway || (rem == halfway && (r & 1))) ++r;  // may carry into the exponent: fine
  if (r >= 0x7c00) r = 0x7c00;
  return static_cast<uint16_t>(sign | r);
}

double HalfToDouble(uint16_t h) {
  const uint32_t exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(frac), -24);
  } else if (exp == 31) {
    v = frac ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(static_cast<double>(frac | 0x400), static_cast<int>(exp) - 25);
  }
  return (h & 0x8000) ? -v : v;
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, surrogates and code points beyond U+10FFFF are not UTF-8 (RFC 3629).
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

void AppendString(std::string& out, std::string_view s) { AppendJsonString(out, s); }

void AppendDouble(std::string& out, double d) { AppendNumber(out, d); }
void AppendFloat(std::string& out, float f) { AppendNumber(out, f); }

void AppendShape(std::string& out, const std::vector<int64_t>& shape) {
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ',';
    AppendInt(out, shape[i]);
  }
  out += ']';
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s;
  AppendShape(s, shape);
  return s;
}

Status CheckTensorStorage(const Tensor& t, std::string_view what) {
  const int64_t n = t.ElementCount();
  if (n < 0) return Internal(std::string(what) + " has an invalid shape " + ShapeString(t.shape));
  if (t.datatype == DataType::kBytes) {
    if (static_cast<int64_t>(t.strings.size()) != n) {
      return Internal(std::string(what) + " has shape " + ShapeString(t.shape) + " but " +
                      std::to_string(t.strings.size()) + " BYTES elements");
    }
  } else if (t.data.size() != static_cast<size_t>(n) * ElementSize(t.datatype)) {
    return Internal(std::string(what) + " has shape " + ShapeString(t.shape) + " of " +
                    std::string(DataTypeName(t.datatype)) + " but " +
                    std::to_string(t.data.size()) + " bytes of data");
  }
  return Status::Ok();
}

Status AppendElements(std::string& out, const Tensor& t, int64_t begin, int64_t end,
                      std::string_view what) {
  for (int64_t i = begin; i < end; ++i) {
    if (i > begin) out += ',';
    switch (t.datatype) {
      case DataType::kBool:
        out += Load<uint8_t>(t, i) ? "true" : "false";
        break;
      case DataType::kUint8:
        AppendInt(out, Load<uint8_t>(t, i));
        break;
      case DataType::kUint16:
        AppendInt(out, Load<uint16_t>(t, i));
        break;
      case DataType::kUint32:
        AppendInt(out, Load<uint32_t>(t, i));
        break;
      case DataType::kUint64:
        AppendInt(out, Load<uint64_t>(t, i));
        break;
      case DataType::kInt8:
        AppendInt(out, Load<int8_t>(t, i));
        break;
      case DataType::kInt16:
        AppendInt(out, Load<int16_t>(t, i));
        break;
      case DataType::kInt32:
        AppendInt(out, Load<int32_t>(t, i));
        break;
      case DataType::kInt64:
        AppendInt(out, Load<int64_t>(t, i));
        break;
      case DataType::kFp16:
        AppendNumber(out, HalfToDouble(Load<uint16_t>(t, i)));
        break;
      case DataType::kFp32:
        AppendNumber(out, Load<float>(t, i));
        break;
      case DataType::kFp64:
        AppendNumber(out, Load<double>(t, i));
        break;
      case DataType::kBytes: {
        const std::string& s = t.strings[static_cast<size_t>(i)];
        if (!IsValidUtf8(s)) {
          return InvalidArgument(std::string(what) + ": BYTES element " + std::to_string(i) +
                                 " is not valid UTF-8, which JSON cannot carry");
        }
        AppendString(out, s);
        break;
      }
    }
  }
  return Status::Ok();
}

Status AppendNested(std::string& out, const Tensor& t, std::string_view what) {
  if (t.shape.empty()) {
    out += '[';
    SKIFF_RETURN_IF_ERROR(AppendElements(out, t, 0, 1, what));
    out += ']';
    return Status::Ok();
  }
  int64_t next = 0;
  return AppendNestedDim(out, t, 0, next, what);
}

Result<int64_t> CountLeaves(const json::value& v, std::string_view what) {
  int64_t count = 0;
  auto check = [&](const json::value& leaf, int64_t) -> Status {
    if (leaf.is_object()) {
      return InvalidArgument(std::string(what) +
                             ": data holds an object; expected numbers, booleans or strings "
                             "(flat or nested arrays in row-major order)");
    }
    return Status::Ok();
  };
  SKIFF_RETURN_IF_ERROR(ForEachLeaf(v, count, check));
  return count;
}

Status FillFromJson(Tensor& t, const json::value& v, int64_t count, std::string_view what) {
  const DataType dt = t.datatype;
  if (dt == DataType::kBytes) {
    t.strings.clear();
    t.strings.reserve(static_cast<size_t>(count));
  } else {
    t.data.assign(static_cast<size_t>(count) * ElementSize(dt), '\0');
  }
  auto store = [&](const json::value& leaf, int64_t i) -> Status {
    switch (dt) {
      case DataType::kBool:
        if (!leaf.is_bool())
          return ElementError(what, i, "is " + Describe(leaf) + "; BOOL expects true or false");
        t.data[static_cast<size_t>(i)] = leaf.get_bool() ? 1 : 0;
        return Status::Ok();
      case DataType::kUint8:
        return StoreInt<uint8_t>(t, leaf, i, what);
      case DataType::kUint16:
        return StoreInt<uint16_t>(t, leaf, i, what);
      case DataType::kUint32:
        return StoreInt<uint32_t>(t, leaf, i, what);
      case DataType::kUint64:
        return StoreInt<uint64_t>(t, leaf, i, what);
      case DataType::kInt8:
        return StoreInt<int8_t>(t, leaf, i, what);
      case DataType::kInt16:
        return StoreInt<int16_t>(t, leaf, i, what);
      case DataType::kInt32:
        return StoreInt<int32_t>(t, leaf, i, what);
      case DataType::kInt64:
        return StoreInt<int64_t>(t, leaf, i, what);
      case DataType::kFp16:
      case DataType::kFp32:
      case DataType::kFp64:
        return StoreFloat(t, leaf, i, what);
      case DataType::kBytes:
        if (!leaf.is_string())
          return ElementError(what, i, "is " + Describe(leaf) + "; BYTES expects strings");
        t.strings.emplace_back(leaf.get_string());
        return Status::Ok();
    }
    return Status::Ok();
  };
  int64_t index = 0;
  return ForEachLeaf(v, index, store);
}

}  // namespace skiff::serving::protocol_json
