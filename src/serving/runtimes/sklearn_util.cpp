// The skiff-sklearn file's decoders, numpy-compatible math and input checks shared by the
// native scikit-learn evaluators.

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/crypto.hpp"
#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

size_t Labels::size() const {
  switch (type) {
    case Type::kInt:
    case Type::kBool:
      return ints.size();
    case Type::kFloat:
      return floats.size();
    case Type::kString:
      return strings.size();
  }
  return 0;
}

void Estimator::PredictClasses(const double*, int64_t, int64_t*) const { SKIFF_CHECK(false); }
void Estimator::PredictProba(const double*, int64_t, double*) const { SKIFF_CHECK(false); }
void Estimator::PredictValues(const double*, int64_t, double*) const { SKIFF_CHECK(false); }

// ---------------------------------------------------------------------------------------------
// Decoding

Result<double> ParseF64Text(std::string_view text) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return InvalidArgument("\"" + std::string(text.substr(0, 40)) + "\" is not a float");
  }
  return v;
}

Result<std::vector<double>> DecodeF64s(std::string_view base64) {
  SKIFF_ASSIGN_OR_RETURN(std::string bytes, Base64Decode(base64));
  if (bytes.size() % sizeof(double) != 0) {
    return InvalidArgument("float64 array of " + std::to_string(bytes.size()) +
                           " bytes (not a multiple of 8)");
  }
  static_assert(std::endian::native == std::endian::little, "the file stores little-endian");
  std::vector<double> out(bytes.size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

const json::value* Reader::Get(std::string_view key) const {
  auto it = obj_->find(key);
  return it == obj_->end() ? nullptr : &it->value();
}

bool Reader::Has(std::string_view key) const { return Get(key) != nullptr; }

bool Reader::IsNull(std::string_view key) const {
  const json::value* v = Get(key);
  return v == nullptr || v->is_null();
}

Status Reader::Error(std::string_view key, std::string_view what) const {
  std::string where = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  return InvalidArgument("invalid skiff-sklearn model file: " + where + ": " + std::string(what));
}

Result<int64_t> Reader::Int(std::string_view key, int64_t min, int64_t max) const {
  const json::value* v = Get(key);
  if (v == nullptr) return Error(key, "missing");
  int64_t i;
  if (v->is_int64()) {
    i = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= uint64_t(INT64_MAX)) {
    i = static_cast<int64_t>(v->get_uint64());
  } else {
    return Error(key, "expected an integer");
  }
  if (i < min || i > max) {
    return Error(key, std::to_string(i) + " is outside [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
  }
  return i;
}

Result<bool> Reader::Bool(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_bool()) return Error(key, "expected true or false");
  return v->get_bool();
}

Result<std::string> Reader::String(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_string()) return Error(key, "expected a string");
  return std::string(v->get_string());
}

Result<double> Reader::F64(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr) return Error(key, "missing");
  if (v->is_string()) {
    auto d = ParseF64Text(v->get_string());
    if (!d) return Error(key, d.error().message());
    return *d;
  }
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  return Error(key, "expected a float written as a string");
}

Result<std::vector<double>> Reader::F64s(std::string_view key, int64_t expected) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_string()) return Error(key, "expected a base64 float64 array");
  auto d = DecodeF64s(v->get_string());
  if (!d) return Error(key, d.error().message());
  if (expected >= 0 && static_cast<int64_t>(d->size()) != expected) {
    return Error(
        key, "expected " + std::to_string(expected) + " values, got " + std::to_string(d->size()));
  }
  return std::move(*d);
}

Result<std::vector<double>> Reader::F64List(std::string_view key, int64_t expected) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_array()) return Error(key, "expected an array of floats");
  const json::array& a = v->get_array();
  if (expected >= 0 && static_cast<int64_t>(a.size()) != expected) {
    return Error(
        key, "expected " + std::to_string(expected) + " values, got " + std::to_string(a.size()));
  }
  std::vector<double> out;
  out.reserve(a.size());
  for (const json::value& e : a) {
    Result<double> d = InvalidArgument("expected a float written as a string");
    if (e.is_string()) d = ParseF64Text(e.get_string());
    if (!d) return Error(key, d.error().message());
    out.push_back(*d);
  }
  return out;
}

Result<std::vector<int64_t>> Reader::Ints(std::string_view key, int64_t expected, int64_t min,
                                          int64_t max) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_array()) return Error(key, "expected an array of integers");
  const json::array& a = v->get_array();
  if (expected >= 0 && static_cast<int64_t>(a.size()) != expected) {
    return Error(
        key, "expected " + std::to_string(expected) + " values, got " + std::to_string(a.size()));
  }
  std::vector<int64_t> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t x;
    if (a[i].is_int64()) {
      x = a[i].get_int64();
    } else if (a[i].is_uint64() && a[i].get_uint64() <= uint64_t(INT64_MAX)) {
      x = static_cast<int64_t>(a[i].get_uint64());
    } else {
      return Error(key, "element " + std::to_string(i) + " is not an integer");
    }
    if (x < min || x > max) {
      return Error(key, "element " + std::to_string(i) + " = " + std::to_string(x) +
                            " is outside [" + std::to_string(min) + ", " + std::to_string(max) +
                            "]");
    }
    out.push_back(x);
  }
  return out;
}

Result<std::vector<uint32_t>> Reader::Bitsets(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_array()) return Error(key, "expected an array of bitsets");
  std::vector<uint32_t> out;
  out.reserve(v->get_array().size() * 8);
  for (const json::value& row : v->get_array()) {
    if (!row.is_array() || row.get_array().size() != 8) {
      return Error(key, "a bitset is not 8 words");
    }
    for (const json::value& w : row.get_array()) {
      if (w.is_int64() && w.get_int64() >= 0 && w.get_int64() <= UINT32_MAX) {
        out.push_back(static_cast<uint32_t>(w.get_int64()));
      } else if (w.is_uint64() && w.get_uint64() <= UINT32_MAX) {
        out.push_back(static_cast<uint32_t>(w.get_uint64()));
      } else {
        return Error(key, "a bitset word is not a uint32");
      }
    }
  }
  return out;
}

Result<const json::array*> Reader::Array(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_array()) return Error(key, "expected an array");
  return &v->get_array();
}

Result<Reader> Reader::Object(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_object()) return Error(key, "expected an object");
  return Reader(v->get_object(), path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

Result<std::vector<Reader>> Reader::Objects(std::string_view key) const {
  const json::value* v = Get(key);
  if (v == nullptr || !v->is_array()) return Error(key, "expected an array of objects");
  std::vector<Reader> out;
  out.reserve(v->get_array().size());
  const std::string base = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  size_t i = 0;
  for (const json::value& e : v->get_array()) {
    if (!e.is_object()) return Error(key, "element " + std::to_string(i) + " is not an object");
    out.emplace_back(e.get_object(), base + "[" + std::to_string(i) + "]");
    ++i;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Math

double PairwiseSum(const double* a, int64_t n) {
  // numpy/core/src/umath/loops_utils.h.src, pairwise_sum_DOUBLE.
  if (n < 8) {
    double res = 0.;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

int64_t Argmax(const double* a, int64_t n) {
  // numpy's DOUBLE_argmax: `!(v <= max)` takes a larger value or a NaN, and a NaN ends it.
  if (n <= 0) return 0;
  double m = a[0];
  int64_t idx = 0;
  if (std::isnan(m)) return 0;
  for (int64_t i = 1; i < n; ++i) {
    if (!(a[i] <= m)) {
      m = a[i];
      idx = i;
      if (std::isnan(m)) break;
    }
  }
  return idx;
}

double RowMax(const double* a, int64_t n) {
  double m = a[0];
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(a[i])) return a[i];
    if (a[i] > m) m = a[i];
  }
  return m;
}

void SoftmaxInPlace(double* a, int64_t n) {
  const double m = RowMax(a, n);
  for (int64_t i = 0; i < n; ++i) a[i] = std::exp(a[i] - m);
  const double s = PairwiseSum(a, n);
  for (int64_t i = 0; i < n; ++i) a[i] /= s;
}

Status CheckFinite(const double* x, int64_t n, int64_t f, FinitePolicy policy,
                   std::string_view who) {
  if (policy == FinitePolicy::kAllowAll) return Status::Ok();
  const int64_t total = n * f;
  for (int64_t i = 0; i < total; ++i) {
    double v = x[i];
    if (policy == FinitePolicy::kFiniteFloat32) v = static_cast<float>(v);
    if (std::isfinite(v)) continue;
    if (std::isnan(v) && policy == FinitePolicy::kAllowNan) continue;
    const std::string at = "row " + std::to_string(i / f) + ", feature " + std::to_string(i % f);
    if (std::isnan(v)) {
      return InvalidArgument("input contains NaN (" + at + "), which " + std::string(who) +
                             " does not accept (scikit-learn refuses it too): impute missing "
                             "values before the request, or use a model that handles them");
    }
    std::string what = std::isinf(x[i]) ? "infinity" : "a value too large for float32";
    return InvalidArgument("input contains " + what + " (" + at + "), which " + std::string(who) +
                           " does not accept (scikit-learn refuses it too)");
  }
  return Status::Ok();
}

}  // namespace skiff::serving::sklearn
