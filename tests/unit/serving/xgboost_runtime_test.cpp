// XGBoost runtime: models trained at test time with Debian's python3-xgboost (one Python run,
// cached per build, for the whole suite), saved as JSON, UBJSON and the legacy binary format, must
// predict exactly (bit for bit in float32) what Python's Booster.predict(DMatrix) returns on
// held-out rows, as KServe's xgbserver answers.

#include "serving/runtimes/xgboost_runtime.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <thread>

#include "core/json.hpp"
#include "python_test_helpers.hpp"

namespace skiff::serving {
namespace {

using testing::ReadBinary;
using testing::ReadText;
using testing::TempDir;

// Trains one model per case on a scikit-learn dataset, saves it in three formats, and writes
// the held-out rows (float64, with some NaNs as missing values) and Python's predictions.
constexpr const char* kTrainScript = R"PY(
import json, os
import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split

def case(name, data, params, rounds):
    X, y = data(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    Xte = np.array(Xte, dtype=np.float64)
    Xte[0, 0] = np.nan
    Xte[1, :2] = np.nan
    params = dict(params, seed=0)
    b = xgb.train(params, xgb.DMatrix(Xtr, label=ytr), rounds)
    for ext in ("json", "ubj", "bst"):
        os.makedirs(f"{name}/{ext}")
        b.save_model(f"{name}/{ext}/model.{ext}")
    # What KServe's xgbserver does: booster.predict(DMatrix(np.array(instances))).
    pred = b.predict(xgb.DMatrix(np.array(Xte.tolist())))
    assert pred.dtype == np.float32
    Xte.tofile(f"{name}/X.f64")
    pred.tofile(f"{name}/pred.f32")
    with open(f"{name}/meta.json", "w") as f:
        json.dump({"rows": Xte.shape[0], "cols": Xte.shape[1], "pred_shape": list(pred.shape)}, f)

case("binary", load_breast_cancer, {"objective": "binary:logistic", "max_depth": 3}, 20)
case("softprob", load_iris, {"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, 10)
case("softmax", load_iris, {"objective": "multi:softmax", "num_class": 3, "max_depth": 2}, 10)
case("regression", load_diabetes, {"objective": "reg:squarederror", "max_depth": 4}, 30)
case("linear", load_diabetes, {"objective": "reg:squarederror", "booster": "gblinear"}, 10)
case("dart", load_breast_cancer, {"objective": "binary:logitraw", "booster": "dart",
                                  "rate_drop": 0.1, "max_depth": 2}, 10)
print("ok")
)PY";

constexpr const char* kCases[] = {"binary", "softprob", "softmax", "regression", "linear", "dart"};
constexpr const char* kFormats[] = {"json", "ubj", "bst"};

struct Case {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> pred_shape;
  std::vector<double> x;
  std::vector<float> pred;
};

class XgboostRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto run = testing::RunPythonCached("xgboost", kTrainScript);
    *setup_error_ = run.error;
    dir_ = new Dir{run.dir};
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_->empty()) << *setup_error_; }

  static Case ReadCase(const std::string& name) {
    Case c;
    auto meta = ParseJson(ReadText(*dir_ / (name + "/meta.json")));
    EXPECT_TRUE(meta) << name;
    if (!meta) return c;
    c.rows = meta->at("rows").to_number<int64_t>();
    c.cols = meta->at("cols").to_number<int64_t>();
    for (const auto& d : meta->at("pred_shape").as_array()) {
      c.pred_shape.push_back(d.to_number<int64_t>());
    }
    c.x = ReadBinary<double>(*dir_ / (name + "/X.f64"));
    c.pred = ReadBinary<float>(*dir_ / (name + "/pred.f32"));
    return c;
  }

  static std::shared_ptr<Model> LoadModel(const std::string& path, XgboostOptions options = {}) {
    XgboostRuntime runtime(options);
    LoadRequest req;
    req.model_name = "m";
    req.format = "xgboost";
    req.path = path;
    auto model = runtime.Load(req);
    EXPECT_TRUE(model) << path << ": " << model.error();
    return model ? *model : nullptr;
  }

  static InferRequest Request(const Case& c) {
    InferRequest r;
    r.inputs.push_back(Tensor::FromDoubles("input-0", {c.rows, c.cols}, c.x));
    return r;
  }

  static void ExpectEqualsPython(const Case& c, const InferResponse& resp,
                                 const std::string& what) {
    ASSERT_EQ(resp.outputs.size(), 1u) << what;
    const Tensor& out = resp.outputs[0];
    EXPECT_EQ(out.name, "output-0");
    ASSERT_EQ(out.datatype, DataType::kFp32) << what;
    EXPECT_EQ(out.shape, c.pred_shape) << what;
    ASSERT_EQ(out.data.size(), c.pred.size() * sizeof(float)) << what;
    int mismatches = 0;
    for (size_t i = 0; i < c.pred.size(); ++i) {
      float got = out.As<float>()[i];
      // Bit-exact: the same libxgboost evaluates the same float32 input.
      if (std::memcmp(&got, &c.pred[i], sizeof(float)) != 0 && ++mismatches <= 5) {
        ADD_FAILURE() << what << " element " << i << ": C++ " << got << " Python " << c.pred[i];
      }
    }
    EXPECT_EQ(mismatches, 0) << what;
  }

  // The cached training output: `*dir_ / "name"` is a path in it.
  struct Dir {
    std::string path;
    std::string operator/(const std::string& name) const { return path + "/" + name; }
  };
  static Dir* dir_;
  static std::string* setup_error_;
};

XgboostRuntimeTest::Dir* XgboostRuntimeTest::dir_ = nullptr;
std::string* XgboostRuntimeTest::setup_error_ = new std::string();

TEST_F(XgboostRuntimeTest, PredictionsEqualPythonForEveryObjectiveAndFormat) {
  for (const char* name : kCases) {
    Case c = ReadCase(name);
    ASSERT_GT(c.rows, 10) << name;
    for (const char* ext : kFormats) {
      const std::string what = std::string(name) + "/" + ext;
      auto model = LoadModel(*dir_ / what);
      ASSERT_TRUE(model) << what;
      auto resp = model->Infer(Request(c));
      ASSERT_TRUE(resp) << what << ": " << resp.error();
      ExpectEqualsPython(c, *resp, what);
    }
  }
}

TEST_F(XgboostRuntimeTest, OutputShapesFollowTheObjective) {
  EXPECT_EQ(ReadCase("binary").pred_shape.size(), 1u);
  EXPECT_EQ(ReadCase("softprob").pred_shape, (std::vector<int64_t>{ReadCase("softprob").rows, 3}));
  // multi:softmax answers class indexes as floats, as Python does.
  Case softmax = ReadCase("softmax");
  auto model = LoadModel(*dir_ / "softmax/json");
  ASSERT_TRUE(model);
  auto resp = model->Infer(Request(softmax));
  ASSERT_TRUE(resp);
  for (int64_t i = 0; i < softmax.rows; ++i) {
    float v = resp->outputs[0].As<float>()[i];
    EXPECT_TRUE(v == 0.0f || v == 1.0f || v == 2.0f) << v;
  }
}

TEST_F(XgboostRuntimeTest, MetadataNamesFeaturesAndOutputs) {
  auto model = LoadModel(*dir_ / "softprob/ubj");
  ASSERT_TRUE(model);
  ModelMetadata m = model->Metadata();
  EXPECT_EQ(m.name, "m");
  EXPECT_EQ(m.platform, "xgboost");
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(m.inputs[0].datatype, DataType::kFp32);
  ASSERT_EQ(m.outputs.size(), 1u);
  EXPECT_EQ(m.outputs[0].name, "output-0");
  EXPECT_EQ(m.outputs[0].shape, (std::vector<int64_t>{-1, 3}));

  auto binary = LoadModel(*dir_ / "binary/bst");
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->Metadata().inputs[0].shape, (std::vector<int64_t>{-1, 30}));
  EXPECT_EQ(binary->Metadata().outputs[0].shape, (std::vector<int64_t>{-1}));
}

TEST_F(XgboostRuntimeTest, LoadsASingleFilePathAndFp32Input) {
  Case c = ReadCase("binary");
  auto model = LoadModel(*dir_ / "binary/json/model.json");
  ASSERT_TRUE(model);
  std::vector<float> x32(c.x.begin(), c.x.end());
  InferRequest r;
  Tensor t;
  t.name = "input-0";
  t.datatype = DataType::kFp32;
  t.shape = {c.rows, c.cols};
  t.data.assign(reinterpret_cast<const char*>(x32.data()), x32.size() * sizeof(float));
  r.inputs.push_back(std::move(t));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  ExpectEqualsPython(c, *resp, "fp32 input");
}

TEST_F(XgboostRuntimeTest, SeveralInputsAreColumnsInOrder) {
  Case c = ReadCase("softprob");  // 4 features: [n, 2] + [n] + [n, 1]
  auto model = LoadModel(*dir_ / "softprob/json");
  ASSERT_TRUE(model);
  std::vector<double> a, b, d;
  for (int64_t r = 0; r < c.rows; ++r) {
    a.push_back(c.x[r * 4 + 0]);
    a.push_back(c.x[r * 4 + 1]);
    b.push_back(c.x[r * 4 + 2]);
    d.push_back(c.x[r * 4 + 3]);
  }
  InferRequest r;
  r.inputs.push_back(Tensor::FromDoubles("a", {c.rows, 2}, a));
  r.inputs.push_back(Tensor::FromDoubles("b", {c.rows}, b));
  r.inputs.push_back(Tensor::FromDoubles("d", {c.rows, 1}, d));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  ExpectEqualsPython(c, *resp, "split inputs");
}

TEST_F(XgboostRuntimeTest, IntegerInputIsConvertedLikeNumpy) {
  auto model = LoadModel(*dir_ / "softprob/json");
  ASSERT_TRUE(model);
  InferRequest ints;
  ints.inputs.push_back(Tensor::FromInt64s("input-0", {1, 4}, {6, 3, 5, 2}));
  InferRequest doubles;
  doubles.inputs.push_back(Tensor::FromDoubles("input-0", {1, 4}, {6, 3, 5, 2}));
  auto a = model->Infer(ints);
  auto b = model->Infer(doubles);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->outputs[0].data, b->outputs[0].data);
}

TEST_F(XgboostRuntimeTest, WrongFeatureCountNamesTheExpectedShape) {
  auto model = LoadModel(*dir_ / "softprob/json");
  ASSERT_TRUE(model);
  InferRequest r;
  r.inputs.push_back(Tensor::FromDoubles("input-0", {2, 3}, {1, 2, 3, 4, 5, 6}));
  auto resp = model->Infer(r);
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code(), Code::kInvalidArgument);
  EXPECT_NE(resp.error().message().find("[n, 4]"), std::string::npos) << resp.error();
  EXPECT_NE(resp.error().message().find("[2, 3]"), std::string::npos) << resp.error();

  InferRequest flat;
  flat.inputs.push_back(Tensor::FromDoubles("input-0", {4}, {1, 2, 3, 4}));
  auto flat_resp = model->Infer(flat);
  ASSERT_FALSE(flat_resp);
  EXPECT_EQ(flat_resp.error().code(), Code::kInvalidArgument);
  EXPECT_NE(flat_resp.error().message().find("[n, 4]"), std::string::npos);

  InferRequest none;
  EXPECT_EQ(model->Infer(none).error().code(), Code::kInvalidArgument);
}

TEST_F(XgboostRuntimeTest, InfinityAndStringsAreInvalidArgument) {
  auto model = LoadModel(*dir_ / "softprob/json");
  ASSERT_TRUE(model);
  const double inf = std::numeric_limits<double>::infinity();
  for (double bad : {inf, -inf, 1e300}) {
    InferRequest r;
    r.inputs.push_back(Tensor::FromDoubles("input-0", {1, 4}, {1, 2, bad, 4}));
    auto resp = model->Infer(r);
    ASSERT_FALSE(resp) << bad;
    EXPECT_EQ(resp.error().code(), Code::kInvalidArgument);
    EXPECT_NE(resp.error().message().find("row 0 column 2"), std::string::npos) << resp.error();
  }
  InferRequest s;
  s.inputs.push_back(Tensor::FromStrings("input-0", {1, 4}, {"a", "b", "c", "d"}));
  EXPECT_EQ(model->Infer(s).error().code(), Code::kInvalidArgument);

  InferRequest unknown_output;
  unknown_output.inputs.push_back(Tensor::FromDoubles("input-0", {1, 4}, {1, 2, 3, 4}));
  RequestedOutput wanted;
  wanted.name = "probabilities";
  unknown_output.outputs.push_back(wanted);
  EXPECT_EQ(model->Infer(unknown_output).error().code(), Code::kInvalidArgument);
}

TEST_F(XgboostRuntimeTest, EmptyBatchAnswersEmptyOutput) {
  auto model = LoadModel(*dir_ / "softprob/json");
  ASSERT_TRUE(model);
  InferRequest r;
  r.inputs.push_back(Tensor::FromDoubles("input-0", {0, 4}, {}));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  EXPECT_EQ(resp->outputs[0].shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(resp->outputs[0].data.empty());
}

TEST_F(XgboostRuntimeTest, ConcurrentInferOnTheBoosterPool) {
  Case c = ReadCase("regression");
  XgboostOptions options;
  options.boosters = 3;
  auto model = LoadModel(*dir_ / "regression/json", options);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->MaxConcurrency(), 3);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        auto resp = model->Infer(Request(c));
        if (!resp ||
            resp->outputs[0].data != std::string(reinterpret_cast<const char*>(c.pred.data()),
                                                 c.pred.size() * sizeof(float))) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(XgboostRuntimeTest, MissingModelSaysWhatWasLookedFor) {
  TempDir empty;
  XgboostRuntime runtime;
  LoadRequest req;
  req.model_name = "m";
  req.path = empty.path();
  auto r = runtime.Load(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("model.bst, model.json and model.ubj"), std::string::npos)
      << r.error();
  EXPECT_NE(r.error().message().find(empty.path()), std::string::npos);

  req.path = empty / "nope";
  EXPECT_EQ(runtime.Load(req).error().code(), Code::kNotFound);
}

TEST_F(XgboostRuntimeTest, FindsASingleOddlyNamedFileButNotTwo) {
  TempDir d;
  std::filesystem::copy_file(*dir_ / "binary/json/model.json", d / "booster.json");
  auto found = FindXgboostModelFile(d.path());
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(*found, d / "booster.json");
  testing::WriteText(d / "notes.txt", "not a model");
  EXPECT_TRUE(FindXgboostModelFile(d.path()));

  std::filesystem::copy_file(*dir_ / "binary/ubj/model.ubj", d / "other.ubj");
  auto two = FindXgboostModelFile(d.path());
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(two.error().message().find("booster.json, other.ubj"), std::string::npos)
      << two.error();

  // The conventional names win over other files.
  std::filesystem::copy_file(*dir_ / "binary/bst/model.bst", d / "model.bst");
  EXPECT_EQ(*FindXgboostModelFile(d.path()), d / "model.bst");
}

TEST_F(XgboostRuntimeTest, FormatIsReadFromContentNotExtension) {
  TempDir d;
  std::filesystem::copy_file(*dir_ / "softprob/ubj/model.ubj", d / "model.json");
  auto model = LoadModel(d.path());
  ASSERT_TRUE(model);
  Case c = ReadCase("softprob");
  auto resp = model->Infer(Request(c));
  ASSERT_TRUE(resp);
  ExpectEqualsPython(c, *resp, "ubj named .json");
}

TEST_F(XgboostRuntimeTest, CorruptOrEmptyFileIsFailedPrecondition) {
  TempDir d;
  XgboostRuntime runtime;
  LoadRequest req;
  req.model_name = "m";
  req.path = d / "model.json";
  testing::WriteText(req.path, "{\"learner\": 42");
  auto r = runtime.Load(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("cannot load XGBoost model"), std::string::npos) << r.error();
  EXPECT_EQ(r.error().message().find("Stack trace"), std::string::npos) << r.error();

  testing::WriteText(req.path, "");
  auto empty = runtime.Load(req);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Code::kFailedPrecondition);

  // A truncated legacy binary model. (Arbitrary bytes can make libxgboost's legacy reader
  // allocate a garbage length; it catches the bad_alloc, but ASan aborts first.)
  std::string bst = ReadText(*dir_ / "binary/bst/model.bst");
  testing::WriteText(d / "model.bst", bst.substr(0, 100));
  req.path = d / "model.bst";
  auto truncated = runtime.Load(req);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), Code::kFailedPrecondition);
}

TEST(XgboostRuntimeBasics, NameAndFormats) {
  XgboostRuntime runtime;
  EXPECT_EQ(runtime.Name(), "skiff-xgboost");
  EXPECT_TRUE(runtime.Supports("xgboost"));
  EXPECT_FALSE(runtime.Supports("sklearn"));
}

}  // namespace
}  // namespace skiff::serving
