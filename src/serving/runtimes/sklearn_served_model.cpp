// A loaded native scikit-learn model behind the Model interface: request tensors to float64
// rows, the pipeline and estimator, and predict / predict_proba tensors back, as KServe's
// sklearnserver shapes them.

#include <algorithm>
#include <cctype>
#include <cstring>

#include "serving/runtimes/sklearn_runtime.hpp"

namespace skiff::serving {

namespace {

using sklearn::Labels;
using sklearn::SklearnModel;

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

bool EnvTrue(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end()) return false;
  std::string v = it->second;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "true";  // KServe: os.environ.get("PREDICT_PROBA", "false").lower() == "true"
}

// Converts the request's numeric tensor to row-major float64.
void ToDoubles(const Tensor& t, int64_t count, double* out) {
  switch (t.datatype) {
    case DataType::kFp64:
      std::memcpy(out, t.data.data(), count * sizeof(double));
      return;
    case DataType::kFp32: {
      const float* p = t.As<float>();
      for (int64_t i = 0; i < count; ++i) out[i] = p[i];
      return;
    }
    case DataType::kInt64: {
      const int64_t* p = t.As<int64_t>();
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<double>(p[i]);
      return;
    }
    case DataType::kInt32: {
      const int32_t* p = t.As<int32_t>();
      for (int64_t i = 0; i < count; ++i) out[i] = p[i];
      return;
    }
    default:
      for (int64_t i = 0; i < count; ++i) out[i] = t.ValueAsDouble(i);
  }
}

Tensor LabelTensor(std::string name, const Labels& labels, const std::vector<int64_t>& idx) {
  const int64_t n = static_cast<int64_t>(idx.size());
  switch (labels.type) {
    case Labels::Type::kInt: {
      std::vector<int64_t> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = labels.ints[idx[i]];
      return Tensor::FromInt64s(std::move(name), {n}, v);
    }
    case Labels::Type::kFloat: {
      std::vector<double> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = labels.floats[idx[i]];
      return Tensor::FromDoubles(std::move(name), {n}, v);
    }
    case Labels::Type::kString: {
      std::vector<std::string> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = labels.strings[idx[i]];
      return Tensor::FromStrings(std::move(name), {n}, std::move(v));
    }
    case Labels::Type::kBool: {
      Tensor t;
      t.name = std::move(name);
      t.datatype = DataType::kBool;
      t.shape = {n};
      t.data.resize(n);
      for (int64_t i = 0; i < n; ++i) t.data[i] = labels.ints[idx[i]] ? 1 : 0;
      return t;
    }
  }
  return Tensor{};
}

DataType LabelDataType(const Labels& labels) {
  switch (labels.type) {
    case Labels::Type::kInt:
      return DataType::kInt64;
    case Labels::Type::kFloat:
      return DataType::kFp64;
    case Labels::Type::kString:
      return DataType::kBytes;
    case Labels::Type::kBool:
      return DataType::kBool;
  }
  return DataType::kFp64;
}

class SklearnServedModel final : public Model {
 public:
  SklearnServedModel(std::string name, std::shared_ptr<const SklearnModel> model, bool proba,
                     bool cheap)
      : name_(std::move(name)),
        model_(std::move(model)),
        proba_default_(proba && model_->has_proba()),
        cheap_(cheap) {}

  ModelMetadata Metadata() const override {
    ModelMetadata md;
    md.name = name_;
    md.platform = "sklearn";
    const int64_t f = model_->n_features();
    md.inputs.push_back({"input-0", DataType::kFp64, {-1, f}});
    md.outputs.push_back(Spec("output-0", proba_default_));
    md.outputs.push_back(Spec("predict", false));
    if (model_->has_proba()) md.outputs.push_back(Spec("predict_proba", true));
    return md;
  }

  Result<InferResponse> Infer(const InferRequest& request) override {
    const int64_t f = model_->n_features();
    const std::string expected = "[N, " + std::to_string(f) + "]";
    if (request.inputs.size() != 1) {
      return InvalidArgument("expected one input tensor of shape " + expected + ", got " +
                             std::to_string(request.inputs.size()));
    }
    const Tensor& in = request.inputs[0];
    if (in.datatype == DataType::kBytes) {
      return InvalidArgument("input \"" + in.name + "\" is BYTES: expected numbers, shape " +
                             expected);
    }
    int64_t n;
    if (in.shape.size() == 2 && in.shape[1] == f && in.shape[0] >= 0) {
      n = in.shape[0];
    } else if (in.shape.size() == 1 && in.shape[0] == f) {
      n = 1;  // one instance
    } else {
      return InvalidArgument("expected " + std::to_string(f) + " features per instance (shape " +
                             expected + "), got shape " + ShapeText(in.shape));
    }
    if (n == 0) return InvalidArgument("no instances: expected shape " + expected + " with N >= 1");
    if (n > static_cast<int64_t>(in.data.size())) {  // also keeps n * f * 8 from overflowing
      return InvalidArgument("input \"" + in.name + "\" has shape " + ShapeText(in.shape) +
                             " but holds only " + std::to_string(in.data.size()) + " bytes");
    }
    const int64_t count = n * f;
    const size_t need = static_cast<size_t>(count) * ElementSize(in.datatype);
    if (in.data.size() != need) {
      return InvalidArgument("input \"" + in.name + "\" holds " + std::to_string(in.data.size()) +
                             " bytes; shape " + ShapeText(in.shape) + " of " +
                             std::string(DataTypeName(in.datatype)) + " needs " +
                             std::to_string(need));
    }

    // Which outputs, in the order asked for.
    struct Want {
      std::string name;
      bool proba;
    };
    std::vector<Want> wants;
    if (request.outputs.empty()) {
      wants.push_back({"output-0", proba_default_});
    } else {
      for (const RequestedOutput& o : request.outputs) {
        if (o.name == "predict") {
          wants.push_back({o.name, false});
        } else if (o.name == "predict_proba") {
          if (!model_->has_proba()) {
            return InvalidArgument("output \"predict_proba\": " + model_->description() +
                                   " has no predict_proba");
          }
          wants.push_back({o.name, true});
        } else if (o.name == "output-0") {
          wants.push_back({o.name, proba_default_});
        } else {
          return InvalidArgument(
              "unknown output \"" + o.name + "\": this model has output-0, " +
              (model_->has_proba() ? "predict and predict_proba" : "and predict"));
        }
      }
    }

    std::vector<double> x(count);
    ToDoubles(in, count, x.data());
    SKIFF_RETURN_IF_ERROR(model_->Transform(x.data(), n));

    InferResponse resp;
    resp.model_name = name_;
    resp.id = request.id;
    std::vector<int64_t> classes;
    std::vector<double> proba, values;
    for (Want& w : wants) {
      if (w.proba) {
        const int64_t k = model_->n_classes();
        if (proba.empty()) {
          proba.resize(n * k);
          model_->PredictProba(x.data(), n, proba.data());
        }
        resp.outputs.push_back(Tensor::FromDoubles(std::move(w.name), {n, k}, proba));
      } else if (model_->task() == SklearnModel::Task::kClassifier) {
        if (classes.empty()) {
          classes.resize(n);
          model_->PredictClasses(x.data(), n, classes.data());
        }
        resp.outputs.push_back(LabelTensor(std::move(w.name), model_->classes(), classes));
      } else {
        const int64_t t = model_->n_targets();
        if (values.empty()) {
          values.resize(n * t);
          model_->PredictValues(x.data(), n, values.data());
        }
        std::vector<int64_t> shape =
            model_->targets_2d() ? std::vector<int64_t>{n, t} : std::vector<int64_t>{n};
        resp.outputs.push_back(Tensor::FromDoubles(std::move(w.name), std::move(shape), values));
      }
    }
    return resp;
  }

  // Evaluators are immutable: no limit beyond the executor's.
  int MaxConcurrency() const override { return 1024; }
  bool Cheap() const override { return cheap_; }

 private:
  TensorSpec Spec(std::string name, bool proba) const {
    if (proba) return {std::move(name), DataType::kFp64, {-1, model_->n_classes()}};
    if (model_->task() == SklearnModel::Task::kClassifier) {
      return {std::move(name), LabelDataType(model_->classes()), {-1}};
    }
    if (model_->targets_2d()) return {std::move(name), DataType::kFp64, {-1, model_->n_targets()}};
    return {std::move(name), DataType::kFp64, {-1}};
  }

  std::string name_;
  std::shared_ptr<const SklearnModel> model_;
  bool proba_default_;
  bool cheap_;
};

}  // namespace

std::shared_ptr<Model> NewSklearnModel(const LoadRequest& request,
                                       std::shared_ptr<const SklearnModel> model,
                                       int64_t cheap_complexity) {
  const bool cheap = model->complexity() <= cheap_complexity;
  const bool proba = EnvTrue(request.env, "PREDICT_PROBA");
  return std::make_shared<SklearnServedModel>(request.model_name, std::move(model), proba, cheap);
}

}  // namespace skiff::serving
