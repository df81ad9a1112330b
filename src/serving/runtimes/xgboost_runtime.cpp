#include "serving/runtimes/xgboost_runtime.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "core/json.hpp"
#include "core/log.hpp"

namespace skiff::serving {

namespace {

namespace fs = std::filesystem;

constexpr const char* kOutputName = "output-0";
constexpr const char* kInputName = "input-0";

// XGBGetLastError() (thread-local in libxgboost) reads "[12:00:00] src/x.cc:12: Check failed:
// ...\nStack trace: ...": keep the first line without the time and source location, which mean
// nothing to a user.
std::string LastXgbError() {
  std::string e = XGBGetLastError();
  if (auto nl = e.find('\n'); nl != std::string::npos) e.resize(nl);
  if (!e.empty() && e[0] == '[') {
    if (auto close = e.find("] "); close != std::string::npos) e.erase(0, close + 2);
    // "src/x.cc:12: message"
    if (auto colon = e.find(": "); colon != std::string::npos) {
      std::string_view loc(e.data(), colon);
      if (loc.find(".cc:") != std::string_view::npos || loc.find(".h:") != std::string_view::npos)
        e.erase(0, colon + 2);
    }
  }
  return e.empty() ? "unknown XGBoost error" : e;
}

void RouteXgboostLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    XGBRegisterLogCallback([](const char* msg) { spdlog::warn("xgboost: {}", msg); });
  });
}

struct BoosterDeleter {
  void operator()(void* h) const {
    if (h) XGBoosterFree(h);
  }
};
using BoosterPtr = std::unique_ptr<void, BoosterDeleter>;

struct DMatrixDeleter {
  void operator()(void* h) const {
    if (h) XGDMatrixFree(h);
  }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixDeleter>;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] < 0 ? std::string("n") : std::to_string(shape[i]);
  }
  return s + "]";
}

bool IsNumeric(DataType t) { return t != DataType::kBytes; }

Tensor OutputTensor(const bst_ulong* out_shape, bst_ulong out_dim, const float* out) {
  Tensor t;
  t.name = kOutputName;
  t.datatype = DataType::kFp32;
  uint64_t count = 1;
  for (bst_ulong i = 0; i < out_dim; ++i) {
    t.shape.push_back(static_cast<int64_t>(out_shape[i]));
    count *= out_shape[i];
  }
  // The output buffer belongs to the Booster (per thread) and is reused by its next call.
  t.data.assign(reinterpret_cast<const char*>(out), count * sizeof(float));
  return t;
}

// How a model predicts. Both give the same floats as Python's Booster.predict(DMatrix(X)) (the
// tests check this bit for bit); in-place prediction skips building a DMatrix, which costs
// more than the trees for small requests.
enum class PredictPath { kInplace, kDMatrix };

// Predictions from one Booster on a dense float32 matrix: normal prediction, all trees, not
// strict (Booster.predict's defaults). REQUIRES: the caller owns `booster` for the call (one
// thread per Booster).
Result<Tensor> Predict(void* booster, PredictPath path, const float* data, uint64_t rows,
                       uint64_t cols, int nthread) {
  const bst_ulong* out_shape = nullptr;
  bst_ulong out_dim = 0;
  const float* out = nullptr;
  if (path == PredictPath::kInplace) {
    // __array_interface__ of the row-major float32 matrix; NaN is missing.
    const std::string values = "{\"data\": [" + std::to_string(reinterpret_cast<uintptr_t>(data)) +
                               ", true], \"shape\": [" + std::to_string(rows) + ", " +
                               std::to_string(cols) + "], \"typestr\": \"<f4\", \"version\": 3}";
    static constexpr const char* kConfig =
        R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
        R"( "strict_shape": false, "missing": NaN, "cache_id": 0})";
    if (XGBoosterPredictFromDense(booster, values.c_str(), kConfig, nullptr, &out_shape, &out_dim,
                                  &out) != 0) {
      return Internal("XGBoost prediction failed: " + LastXgbError());
    }
    return OutputTensor(out_shape, out_dim, out);
  }
  DMatrixHandle raw = nullptr;
  if (XGDMatrixCreateFromMat_omp(data, rows, cols, std::numeric_limits<float>::quiet_NaN(), &raw,
                                 nthread) != 0) {
    return InvalidArgument("XGBoost cannot build a DMatrix from the input: " + LastXgbError());
  }
  DMatrixPtr dmat(raw);
  static constexpr const char* kConfig =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
      R"( "strict_shape": false})";
  if (XGBoosterPredictFromDMatrix(booster, dmat.get(), kConfig, &out_shape, &out_dim, &out) != 0) {
    return Internal("XGBoost prediction failed: " + LastXgbError());
  }
  return OutputTensor(out_shape, out_dim, out);
}

class XgboostModel final : public Model {
 public:
  XgboostModel(std::string name, std::vector<BoosterPtr> boosters, PredictPath path,
               uint64_t features, std::vector<int64_t> output_shape, std::string objective,
               int nthread)
      : name_(std::move(name)),
        path_(path),
        features_(features),
        output_shape_(std::move(output_shape)),
        objective_(std::move(objective)),
        nthread_(nthread),
        pool_size_(static_cast<int>(boosters.size())),
        idle_(std::move(boosters)) {}

  ModelMetadata Metadata() const override {
    ModelMetadata m;
    m.name = name_;
    m.platform = "xgboost";
    m.inputs.push_back({kInputName, DataType::kFp32, {-1, static_cast<int64_t>(features_)}});
    m.outputs.push_back({kOutputName, DataType::kFp32, output_shape_});
    return m;
  }

  int MaxConcurrency() const override { return pool_size_; }

  Result<InferResponse> Infer(const InferRequest& request) override {
    for (const auto& o : request.outputs) {
      if (o.name != kOutputName) {
        return InvalidArgument("model \"" + name_ + "\" has one output, \"" + kOutputName +
                               "\"; \"" + o.name + "\" was requested");
      }
    }
    SKIFF_ASSIGN_OR_RETURN(auto matrix, Dense(request));
    const uint64_t rows = matrix.rows;
    InferResponse response;
    response.model_name = name_;
    response.id = request.id;
    if (rows == 0) {
      Tensor t;
      t.name = kOutputName;
      t.datatype = DataType::kFp32;
      t.shape = output_shape_;
      t.shape[0] = 0;
      response.outputs.push_back(std::move(t));
      return response;
    }
    BoosterPtr booster = Acquire();
    auto result = Predict(booster.get(), path_, matrix.values.data(), rows, features_, nthread_);
    Release(std::move(booster));
    if (!result) return result.error().WithPrefix("model \"" + name_ + "\"");
    response.outputs.push_back(std::move(*result));
    return response;
  }

 private:
  struct DenseMatrix {
    std::vector<float> values;
    uint64_t rows = 0;
  };

  Status ShapeError(const std::string& detail) const {
    return InvalidArgument("model \"" + name_ + "\" expects input shape " +
                           ShapeString({-1, static_cast<int64_t>(features_)}) + " (" +
                           std::to_string(features_) + " features, objective " + objective_ +
                           "): " + detail);
  }

  // The request's inputs as a row-major float32 [rows, features_] matrix: one [n, F] tensor,
  // or several [n] / [n, m] tensors laid side by side.
  Result<DenseMatrix> Dense(const InferRequest& request) const {
    if (request.inputs.empty()) return ShapeError("the request has no input");
    int64_t rows = -1;
    uint64_t cols = 0;
    for (const Tensor& t : request.inputs) {
      if (!IsNumeric(t.datatype)) {
        return InvalidArgument("model \"" + name_ + "\" takes numeric input; input \"" + t.name +
                               "\" is " + std::string(DataTypeName(t.datatype)));
      }
      const bool single = request.inputs.size() == 1;
      if (t.shape.empty() || t.shape.size() > 2 || (single && t.shape.size() != 2)) {
        return ShapeError("input \"" + t.name + "\" has shape " + ShapeString(t.shape));
      }
      const int64_t count = t.ElementCount();
      if (count < 0 || t.data.size() != static_cast<size_t>(count) * ElementSize(t.datatype)) {
        return InvalidArgument("input \"" + t.name + "\" has " + std::to_string(t.data.size()) +
                               " bytes of data, which does not match its shape " +
                               ShapeString(t.shape) + " and datatype " +
                               std::string(DataTypeName(t.datatype)));
      }
      if (rows >= 0 && t.shape[0] != rows) {
        return ShapeError("inputs have different numbers of rows (" + std::to_string(rows) +
                          " and " + std::to_string(t.shape[0]) + ")");
      }
      rows = t.shape[0];
      cols += t.shape.size() == 2 ? static_cast<uint64_t>(t.shape[1]) : 1;
    }
    if (cols != features_) {
      std::string got = request.inputs.size() == 1 ? ShapeString(request.inputs[0].shape)
                                                   : std::to_string(cols) + " columns";
      return ShapeError("got " + got);
    }
    DenseMatrix m;
    m.rows = static_cast<uint64_t>(rows);
    m.values.resize(m.rows * cols);
    uint64_t col0 = 0;
    for (const Tensor& t : request.inputs) {
      const uint64_t w = t.shape.size() == 2 ? static_cast<uint64_t>(t.shape[1]) : 1;
      const bool fp32 = t.datatype == DataType::kFp32;
      for (uint64_t r = 0; r < m.rows; ++r) {
        float* dst = m.values.data() + r * cols + col0;
        for (uint64_t c = 0; c < w; ++c) {
          const int64_t i = static_cast<int64_t>(r * w + c);
          // As numpy's astype(float32) and XGBoost's dense adapter: round to nearest.
          const float v = fp32 ? t.As<float>()[i] : static_cast<float>(t.ValueAsDouble(i));
          if (std::isinf(v)) {
            return InvalidArgument(
                "input \"" + t.name + "\" row " + std::to_string(r) + " column " +
                std::to_string(c) +
                " is infinite (or too large for float32): XGBoost takes finite values, with NaN "
                "or null for a missing value");
          }
          dst[c] = v;
        }
      }
      col0 += w;
    }
    return m;
  }

  // MaxConcurrency() bounds the callers, so a Booster is normally free at once; the wait only
  // covers callers that ignore the bound.
  BoosterPtr Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty(); });
    BoosterPtr b = std::move(idle_.back());
    idle_.pop_back();
    return b;
  }
  void Release(BoosterPtr b) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(b));
    }
    cv_.notify_one();
  }

  const std::string name_;
  const PredictPath path_;
  const uint64_t features_;
  const std::vector<int64_t> output_shape_;
  const std::string objective_;
  const int nthread_;
  const int pool_size_;
  std::mutex mu_;  // guards idle_
  std::condition_variable cv_;
  std::vector<BoosterPtr> idle_;
};

Result<std::string> ReadModelBytes(const std::string& file, size_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return NotFound("cannot read XGBoost model " + file + ": " + ec.message());
  if (size == 0) {
    return FailedPrecondition("XGBoost model " + file +
                              " is empty: save the booster with Booster.save_model");
  }
  if (size > max_bytes) {
    return FailedPrecondition("XGBoost model " + file + " is " + std::to_string(size) +
                              " bytes, over the limit of " + std::to_string(max_bytes));
  }
  std::ifstream in(file, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    return FailedPrecondition("cannot read XGBoost model " + file);
  }
  return bytes;
}

Result<BoosterPtr> LoadBooster(const std::string& file, const std::string& bytes, int nthread) {
  BoosterHandle raw = nullptr;
  if (XGBoosterCreate(nullptr, 0, &raw) != 0) {
    return Internal("XGBoosterCreate failed: " + LastXgbError());
  }
  BoosterPtr booster(raw);
  // From a buffer, XGBoost tells JSON, UBJSON and the legacy binary format apart by content,
  // so a file's extension need not match its format.
  if (XGBoosterLoadModelFromBuffer(raw, bytes.data(), bytes.size()) != 0) {
    return FailedPrecondition(
        "cannot load XGBoost model " + file + ": " + LastXgbError() +
        ". It must be a file written by Booster.save_model (JSON, UBJSON or the legacy binary "
        "format); pickled or joblib-dumped XGBoost objects are not supported here");
  }
  const std::string n = std::to_string(nthread);
  if (XGBoosterSetParam(raw, "nthread", n.c_str()) != 0) {
    return Internal("cannot set nthread on XGBoost model " + file + ": " + LastXgbError());
  }
  return booster;
}

}  // namespace

Result<std::string> FindXgboostModelFile(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return NotFound("XGBoost model path " + path +
                    " does not exist: check storageUri and that the model was fetched");
  }
  if (fs::is_regular_file(st)) return path;
  if (!fs::is_directory(st)) {
    return FailedPrecondition("XGBoost model path " + path + " is not a file or directory");
  }
  std::vector<std::string> preferred, any;
  for (const char* name : {"model.bst", "model.json", "model.ubj"}) {
    if (fs::is_regular_file(fs::path(path) / name, ec)) preferred.push_back(name);
  }
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string ext = entry.path().extension().string();
    if (ext == ".bst" || ext == ".json" || ext == ".ubj") {
      any.push_back(entry.path().filename().string());
    }
  }
  std::sort(any.begin(), any.end());
  const auto& candidates = preferred.empty() ? any : preferred;
  auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  if (candidates.empty()) {
    return NotFound("no XGBoost model in " + path +
                    ": looked for model.bst, model.json and model.ubj (or a single *.bst, "
                    "*.json or *.ubj file); save the booster with "
                    "booster.save_model(\"model.json\") and put it there, or fix storageUri");
  }
  if (candidates.size() > 1) {
    return FailedPrecondition("more than one XGBoost model in " + path + " (" + list(candidates) +
                              "): keep exactly one, or point storageUri at the file");
  }
  return (fs::path(path) / candidates[0]).string();
}

XgboostRuntime::XgboostRuntime(XgboostOptions options) : options_(options) {
  if (options_.boosters <= 0) {
    options_.boosters = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  }
  options_.threads_per_predict = std::max(1, options_.threads_per_predict);
  RouteXgboostLogs();
}

Result<std::shared_ptr<Model>> XgboostRuntime::Load(const LoadRequest& request) {
  SKIFF_ASSIGN_OR_RETURN(std::string file, FindXgboostModelFile(request.path));
  SKIFF_ASSIGN_OR_RETURN(std::string bytes, ReadModelBytes(file, options_.max_model_bytes));

  std::vector<BoosterPtr> boosters;
  for (int i = 0; i < options_.boosters; ++i) {
    SKIFF_ASSIGN_OR_RETURN(auto b, LoadBooster(file, bytes, options_.threads_per_predict));
    boosters.push_back(std::move(b));
  }
  void* first = boosters.front().get();

  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(first, &features) != 0) {
    return Internal("cannot read the feature count of " + file + ": " + LastXgbError());
  }
  if (features == 0) {
    return FailedPrecondition("XGBoost model " + file + " has no features");
  }
  std::string objective = "unknown", gbm = "gbtree";
  bst_ulong config_len = 0;
  const char* config = nullptr;
  if (XGBoosterSaveJsonConfig(first, &config_len, &config) == 0) {
    auto parsed = ParseJson(std::string_view(config, config_len));
    if (parsed) {
      objective = GetString(*parsed, "learner.objective.name", "unknown");
      gbm = GetString(*parsed, "learner.gradient_booster.name", "gbtree");
    }
  }

  // One prediction on an all-missing row gives the output shape (and checks the model runs).
  std::vector<float> probe(features, std::numeric_limits<float>::quiet_NaN());
  // In-place prediction only for gbtree: dart's in-place path in 1.7 does not weight trees as
  // Booster.predict(DMatrix) does (the tests caught it), and gblinear has none.
  PredictPath path = gbm == "gbtree" ? PredictPath::kInplace : PredictPath::kDMatrix;
  auto probed = Predict(first, path, probe.data(), 1, features, options_.threads_per_predict);
  if (!probed && path == PredictPath::kInplace) {
    spdlog::debug("xgboost: {}: no in-place prediction ({}); using a DMatrix", file,
                  probed.error().message());
    path = PredictPath::kDMatrix;
    probed = Predict(first, path, probe.data(), 1, features, options_.threads_per_predict);
  }
  if (!probed) {
    return FailedPrecondition("XGBoost model " + file +
                              " loads but cannot predict: " + probed.error().message());
  }
  std::vector<int64_t> output_shape = probed->shape;
  if (output_shape.empty()) output_shape.push_back(1);
  output_shape[0] = -1;

  spdlog::info("xgboost: loaded {} for model {} ({} {}, {} features, objective {}, {} boosters)",
               file, request.model_name, gbm,
               path == PredictPath::kInplace ? "in-place" : "via DMatrix", features, objective,
               boosters.size());
  return std::make_shared<XgboostModel>(request.model_name, std::move(boosters), path, features,
                                        std::move(output_shape), std::move(objective),
                                        options_.threads_per_predict);
}

}  // namespace skiff::serving
