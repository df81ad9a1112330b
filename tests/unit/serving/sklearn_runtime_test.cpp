// SklearnRuntime: loading (the importer, its cache, and every way a load fails), the request
// and response shapes KServe's sklearnserver has, and the non-finite input policy.

#include "serving/runtimes/sklearn_runtime.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "serving/protocol_v1.hpp"
#include "sklearn_test_util.hpp"

namespace skiff::serving {
namespace {

namespace stdfs = std::filesystem;
using sklearn_test::Case;
using sklearn_test::Output;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const sklearn_test::Fixture& Data() {
  const auto& fx = sklearn_test::SharedFixture();
  if (!fx) ADD_FAILURE() << "test data: " << fx.error();
  static const sklearn_test::Fixture empty;
  return fx ? *fx : empty;
}

const Case& GetCase(const std::string& name) {
  const Case* c = Data().Find(name);
  if (c == nullptr) {
    ADD_FAILURE() << "no test case " << name;
    static const Case empty;
    return empty;
  }
  return *c;
}

LoadRequest Request(const std::string& name, const std::string& path, const std::string& work) {
  LoadRequest req;
  req.model_name = name;
  req.format = "sklearn";
  req.path = path;
  req.work_dir = work;
  req.timeout = 120s;
  return req;
}

// Loads a case from the shared pre-converted cache (no Python).
std::shared_ptr<Model> LoadCase(const std::string& name,
                                std::map<std::string, std::string> env = {}) {
  const Case& c = GetCase(name);
  SklearnRuntime runtime(SklearnOptions{.python = "/nonexistent/python3"});
  LoadRequest req = Request(name, c.dir, Data().work_dir);
  req.env = std::move(env);
  auto m = runtime.Load(req);
  EXPECT_TRUE(m) << m.error();
  return m ? *m : nullptr;
}

InferRequest Rows(std::vector<double> x, int64_t rows, int64_t f) {
  InferRequest req;
  req.inputs.push_back(sklearn_test::Input(x, rows, f));
  return req;
}

std::vector<int64_t> Int64s(const Tensor& t) {
  return std::vector<int64_t>(t.As<int64_t>(), t.As<int64_t>() + t.ElementCount());
}

// The demo: KServe's sklearn-iris sample model is svm.SVC(gamma='scale') fitted on all of iris;
// this request must answer {"predictions": [1, 1]}. Loaded through the real importer.
TEST(SklearnRuntime, KServeIrisSampleThroughTheImporter) {
  const Case& c = GetCase("kserve_iris_svc");
  const std::string work = sklearn_test::TempDir("iris");
  SklearnRuntime runtime;
  auto model = runtime.Load(Request("sklearn-iris", c.dir, work));
  ASSERT_TRUE(model) << model.error();
  auto resp = (*model)->Infer(Rows({6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6}, 2, 4));
  ASSERT_TRUE(resp) << resp.error();
  EXPECT_EQ(resp->model_name, "sklearn-iris");
  ASSERT_EQ(resp->outputs.size(), 1u);
  const Tensor& out = resp->outputs[0];
  EXPECT_EQ(out.name, "output-0");
  EXPECT_EQ(out.datatype, DataType::kInt64);
  EXPECT_EQ(out.shape, std::vector<int64_t>({2}));
  EXPECT_EQ(Int64s(out), std::vector<int64_t>({1, 1}));
  EXPECT_EQ(Int64s(out), c.int_labels);  // and scikit-learn says the same
  EXPECT_TRUE((*model)->Cheap());

  // The same through KServe's V1 protocol, as the README's curl shows it.
  auto v1 = ParseV1PredictRequest(R"({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]})");
  ASSERT_TRUE(v1) << v1.error();
  auto v1_resp = (*model)->Infer(*v1);
  ASSERT_TRUE(v1_resp) << v1_resp.error();
  auto body = EncodeV1Predictions(*v1_resp);
  ASSERT_TRUE(body) << body.error();
  EXPECT_EQ(*body, R"({"predictions":[1,1]})");
  EXPECT_GE((*model)->MaxConcurrency(), 64);

  // The converted file is cached by the pickle's SHA-256: a second load (a restart) needs no
  // Python at all.
  auto bytes = ReadFile(c.dir + "/model.joblib");
  ASSERT_TRUE(bytes);
  EXPECT_TRUE(FileExists(SklearnCachePath(work, HexEncode(Sha256(*bytes)))));
  SklearnRuntime no_python(SklearnOptions{.python = "/nonexistent/python3"});
  auto again = no_python.Load(Request("sklearn-iris", c.dir + "/model.joblib", work));
  ASSERT_TRUE(again) << again.error();
  auto resp2 = (*again)->Infer(Rows({6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6}, 2, 4));
  ASSERT_TRUE(resp2);
  EXPECT_EQ(Int64s(resp2->outputs[0]), std::vector<int64_t>({1, 1}));
  stdfs::remove_all(work);
}

TEST(SklearnRuntime, UnsupportedEstimatorIsFailedPreconditionNamingIt) {
  const std::string work = sklearn_test::TempDir("unsupported");
  SklearnRuntime runtime;
  auto m = runtime.Load(Request("ls", Data().root + "/unsupported_label_spreading", work));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(m.error().message(), HasSubstr("LabelSpreading is not supported natively"));
  EXPECT_THAT(m.error().message(), HasSubstr("it will be served by the Python worker runtime"));
  stdfs::remove_all(work);
}

TEST(SklearnRuntime, MissingModelFileNamesWhatWasLookedForAndWhere) {
  const std::string dir = sklearn_test::TempDir("empty");
  ASSERT_TRUE(WriteFileAtomic(dir + "/README.txt", "not a model", 0644).ok());
  SklearnRuntime runtime;
  auto m = runtime.Load(Request("m", dir, dir + "/work"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kNotFound);
  EXPECT_THAT(m.error().message(), HasSubstr(dir));
  EXPECT_THAT(m.error().message(), HasSubstr("model.joblib"));
  EXPECT_THAT(m.error().message(), HasSubstr("model.pkl"));

  auto gone = runtime.Load(Request("m", dir + "/no/such/dir", dir + "/work"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_THAT(gone.error().message(), HasSubstr(dir + "/no/such/dir"));
  stdfs::remove_all(dir);
}

TEST(SklearnRuntime, FindsPklAndSingleFilesAndRefusesAmbiguity) {
  const std::string dir = sklearn_test::TempDir("find");
  ASSERT_TRUE(WriteFileAtomic(dir + "/classifier.pickle", "x", 0644).ok());
  auto one = FindSklearnModelFile(dir);
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(*one, dir + "/classifier.pickle");
  ASSERT_TRUE(WriteFileAtomic(dir + "/other.pkl", "x", 0644).ok());
  auto two = FindSklearnModelFile(dir);
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(two.error().message(), HasSubstr("more than one model file"));
  ASSERT_TRUE(WriteFileAtomic(dir + "/model.pkl", "x", 0644).ok());
  auto canonical = FindSklearnModelFile(dir);
  ASSERT_TRUE(canonical);
  EXPECT_EQ(*canonical, dir + "/model.pkl");
  stdfs::remove_all(dir);
}

TEST(SklearnRuntime, CorruptAndTruncatedFilesAreClearErrors) {
  const std::string dir = sklearn_test::TempDir("corrupt");
  stdfs::create_directories(dir + "/garbage");
  stdfs::create_directories(dir + "/truncated");
  ASSERT_TRUE(WriteFileAtomic(dir + "/garbage/model.joblib", "this is not a pickle\n", 0644).ok());
  auto real = ReadFile(GetCase("random_forest_classifier").dir + "/model.joblib");
  ASSERT_TRUE(real);
  ASSERT_TRUE(
      WriteFileAtomic(dir + "/truncated/model.joblib", real->substr(0, real->size() / 2), 0644)
          .ok());
  SklearnRuntime runtime;
  for (const char* which : {"garbage", "truncated"}) {
    SCOPED_TRACE(which);
    auto m = runtime.Load(Request("m", dir + "/" + which, dir + "/work"));
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(m.error().message(),
                HasSubstr("model.joblib is not a valid joblib or pickle file"));
    EXPECT_THAT(m.error().message(), HasSubstr("joblib.dump"));
  }
  stdfs::remove_all(dir);
}

TEST(SklearnRuntime, DamagedCacheIsConvertedAgain) {
  const Case& c = GetCase("decision_tree_classifier");
  const std::string work = sklearn_test::TempDir("damaged");
  auto bytes = ReadFile(c.dir + "/model.joblib");
  ASSERT_TRUE(bytes);
  const std::string cached = SklearnCachePath(work, HexEncode(Sha256(*bytes)));
  ASSERT_TRUE(WriteFileAtomic(cached, "{\"format\": \"skiff-sklearn\", \"vers", 0600).ok());
  // A file converted by an older importer version is removed once this one has converted.
  const std::string old_version = work + "/sklearn-" + HexEncode(Sha256(*bytes)) + "-000000.json";
  ASSERT_TRUE(WriteFileAtomic(old_version, "{}", 0600).ok());
  SklearnRuntime runtime;
  auto m = runtime.Load(Request("m", c.dir, work));
  ASSERT_TRUE(m) << m.error();
  auto text = ReadFile(cached);
  ASSERT_TRUE(text);
  EXPECT_THAT(*text, HasSubstr("\"DecisionTreeClassifier\""));
  EXPECT_FALSE(FileExists(old_version));
  stdfs::remove_all(work);
}

TEST(SklearnRuntime, ImporterTimeOutIsDeadlineExceeded) {
  const std::string dir = sklearn_test::TempDir("slow");
  // A "python" that never finishes: the load must give up at its time-out, not hang.
  ASSERT_TRUE(WriteFileAtomic(dir + "/python3", "#!/bin/sh\nexec sleep 60\n", 0755).ok());
  SklearnRuntime runtime(SklearnOptions{.python = dir + "/python3"});
  LoadRequest req = Request("m", GetCase("svc_iris").dir, dir + "/work");
  req.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto m = runtime.Load(req);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kDeadlineExceeded);
  EXPECT_THAT(m.error().message(), HasSubstr("did not finish within the load time-out"));
  EXPECT_LT(took, 5s);
  stdfs::remove_all(dir);
}

TEST(SklearnRuntime, ImporterCrashAndMissingPythonAreReported) {
  const std::string dir = sklearn_test::TempDir("crash");
  ASSERT_TRUE(
      WriteFileAtomic(dir + "/python3", "#!/bin/sh\necho 'Traceback: boom' >&2\nexit 1\n", 0755)
          .ok());
  SklearnRuntime crashing(SklearnOptions{.python = dir + "/python3"});
  auto m = crashing.Load(Request("m", GetCase("svc_iris").dir, dir + "/work"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kInternal);
  EXPECT_THAT(m.error().message(), HasSubstr("exited with code 1"));
  EXPECT_THAT(m.error().message(), HasSubstr("Traceback: boom"));

  SklearnRuntime missing(SklearnOptions{.python = dir + "/no-python"});
  auto n = missing.Load(Request("m", GetCase("svc_iris").dir, dir + "/work"));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(n.error().message(), HasSubstr("cannot run " + dir + "/no-python"));
  stdfs::remove_all(dir);
}

TEST(SklearnRuntime, WrongFeatureCountNamesTheExpectedShape) {
  auto model = LoadCase("svc_iris");
  ASSERT_TRUE(model);
  auto resp = model->Infer(Rows({1, 2, 3, 4, 5, 6}, 2, 3));
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(resp.error().message(),
            "expected 4 features per instance (shape [N, 4]), got shape [2, 3]");

  InferRequest three_d;
  three_d.inputs.push_back(Tensor::FromDoubles("input-0", {1, 1, 4}, {1, 2, 3, 4}));
  EXPECT_FALSE(model->Infer(three_d));
  InferRequest strings;
  strings.inputs.push_back(Tensor::FromStrings("input-0", {1, 4}, {"a", "b", "c", "d"}));
  auto s = model->Infer(strings);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("BYTES"));
  InferRequest none;
  EXPECT_FALSE(model->Infer(none));
  InferRequest short_data = Rows({1, 2, 3, 4}, 1, 4);
  short_data.inputs[0].shape = {2, 4};
  auto sd = model->Infer(short_data);
  ASSERT_FALSE(sd);
  EXPECT_THAT(sd.error().message(), HasSubstr("needs 64"));
  short_data.inputs[0].shape = {int64_t{1} << 60, 4};
  auto huge = model->Infer(short_data);
  ASSERT_FALSE(huge);
  EXPECT_THAT(huge.error().message(), HasSubstr("holds only 32 bytes"));
}

TEST(SklearnRuntime, AnyNumericDatatypeAndOneDimensionalInput) {
  auto model = LoadCase("decision_tree_classifier");
  ASSERT_TRUE(model);
  const Case& c = GetCase("decision_tree_classifier");
  // Row 0 as FP64 [4], as FP32 [1, 4] and as INT32 (values truncated) must all work.
  std::vector<double> row(c.x.begin(), c.x.begin() + 4);
  InferRequest one_d;
  one_d.inputs.push_back(Tensor::FromDoubles("input-0", {4}, row));
  auto r1 = model->Infer(one_d);
  ASSERT_TRUE(r1) << r1.error();
  EXPECT_EQ(Int64s(r1->outputs[0]), std::vector<int64_t>({c.int_labels[0]}));

  Tensor f32;
  f32.name = "input-0";
  f32.datatype = DataType::kFp32;
  f32.shape = {1, 4};
  std::vector<float> fv(row.begin(), row.end());
  f32.data.assign(reinterpret_cast<const char*>(fv.data()), fv.size() * sizeof(float));
  InferRequest r32;
  r32.inputs.push_back(f32);
  auto r2 = model->Infer(r32);
  ASSERT_TRUE(r2) << r2.error();
  EXPECT_EQ(Int64s(r2->outputs[0]), std::vector<int64_t>({c.int_labels[0]}));

  Tensor i32;
  i32.name = "input-0";
  i32.datatype = DataType::kInt32;
  i32.shape = {1, 4};
  std::vector<int32_t> iv = {6, 3, 5, 2};
  i32.data.assign(reinterpret_cast<const char*>(iv.data()), iv.size() * sizeof(int32_t));
  InferRequest ri;
  ri.inputs.push_back(i32);
  auto r3 = model->Infer(ri);
  ASSERT_TRUE(r3) << r3.error();
  auto r4 = model->Infer(Rows({6, 3, 5, 2}, 1, 4));
  ASSERT_TRUE(r4);
  EXPECT_EQ(Int64s(r3->outputs[0]), Int64s(r4->outputs[0]));
}

TEST(SklearnRuntime, PredictProbaFromEnvironmentOrRequestedOutputs) {
  const Case& c = GetCase("logreg_multinomial");
  const std::vector<double> x(c.x.begin(), c.x.begin() + 2 * 4);

  // PREDICT_PROBA=true (KServe's switch): output-0 holds predict_proba.
  auto proba_model = LoadCase("logreg_multinomial", {{"PREDICT_PROBA", "True"}});
  ASSERT_TRUE(proba_model);
  auto p = proba_model->Infer(Rows(x, 2, 4));
  ASSERT_TRUE(p) << p.error();
  ASSERT_EQ(p->outputs.size(), 1u);
  EXPECT_EQ(p->outputs[0].name, "output-0");
  EXPECT_EQ(p->outputs[0].datatype, DataType::kFp64);
  EXPECT_EQ(p->outputs[0].shape, std::vector<int64_t>({2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(p->outputs[0].As<double>()[i], c.proba[i], 1e-12);

  // MLServer-style names, in the order asked for.
  auto model = LoadCase("logreg_multinomial");
  InferRequest both = Rows(x, 2, 4);
  both.outputs = {Output("predict_proba"), Output("predict")};
  auto b = model->Infer(both);
  ASSERT_TRUE(b) << b.error();
  ASSERT_EQ(b->outputs.size(), 2u);
  EXPECT_EQ(b->outputs[0].name, "predict_proba");
  EXPECT_EQ(b->outputs[1].name, "predict");
  EXPECT_EQ(Int64s(b->outputs[1]),
            std::vector<int64_t>(c.int_labels.begin(), c.int_labels.begin() + 2));
  InferRequest unknown = Rows(x, 2, 4);
  unknown.outputs = {Output("scores")};
  auto u = model->Infer(unknown);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(u.error().message(), HasSubstr("unknown output \"scores\""));

  // SVC without probability=True has no predict_proba: asking is an error, and PREDICT_PROBA
  // falls back to predict as KServe does (hasattr(model, "predict_proba") is false).
  auto svc = LoadCase("svc_iris", {{"PREDICT_PROBA", "true"}});
  ASSERT_TRUE(svc);
  InferRequest ask = Rows(x, 2, 4);
  ask.outputs = {Output("predict_proba")};
  auto a = svc->Infer(ask);
  ASSERT_FALSE(a);
  EXPECT_THAT(a.error().message(), HasSubstr("has no predict_proba"));
  auto d = svc->Infer(Rows(x, 2, 4));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->outputs[0].datatype, DataType::kInt64);
}

TEST(SklearnRuntime, NonFiniteInputsFollowScikitLearn) {
  auto lr = LoadCase("logreg_multinomial");
  ASSERT_TRUE(lr);
  auto nan = lr->Infer(Rows({5.0, NAN, 1.0, 0.2}, 1, 4));
  ASSERT_FALSE(nan);
  EXPECT_EQ(nan.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(nan.error().message(), HasSubstr("NaN (row 0, feature 1)"));
  EXPECT_THAT(nan.error().message(), HasSubstr("LogisticRegression"));
  auto inf = lr->Infer(Rows({5.0, 1.0, INFINITY, 0.2}, 1, 4));
  ASSERT_FALSE(inf);
  EXPECT_THAT(inf.error().message(), HasSubstr("infinity (row 0, feature 2)"));

  // Trees work on float32: 1e39 does not fit, as scikit-learn also reports.
  auto tree = LoadCase("decision_tree_classifier");
  ASSERT_TRUE(tree);
  auto big = tree->Infer(Rows({5.0, 1.0, 1e39, 0.2}, 1, 4));
  ASSERT_FALSE(big);
  EXPECT_THAT(big.error().message(), HasSubstr("too large for float32"));

  // A scaler passes NaN through, and the estimator behind it decides: the SVC refuses it.
  auto piped = LoadCase("svc_proba");
  ASSERT_TRUE(piped);
  std::vector<double> row(13, 1.0);
  row[3] = NAN;
  auto pn = piped->Infer(Rows(row, 1, 13));
  ASSERT_FALSE(pn);
  EXPECT_THAT(pn.error().message(), HasSubstr("which SVC does not accept"));

  // HistGradientBoosting takes NaN and infinities, as scikit-learn does (the parity test
  // compares such rows with scikit-learn's answers).
  auto hgb = LoadCase("hist_gradient_boosting_regressor");
  ASSERT_TRUE(hgb);
  std::vector<double> h(10, NAN);
  h[0] = INFINITY;
  auto hr = hgb->Infer(Rows(h, 1, 10));
  ASSERT_TRUE(hr) << hr.error();
  EXPECT_TRUE(std::isfinite(hr->outputs[0].As<double>()[0]));
}

TEST(SklearnRuntime, MetadataDescribesInputsAndOutputs) {
  auto svc = LoadCase("svc_proba");
  ASSERT_TRUE(svc);
  ModelMetadata md = svc->Metadata();
  EXPECT_EQ(md.name, "svc_proba");
  EXPECT_EQ(md.platform, "sklearn");
  ASSERT_EQ(md.inputs.size(), 1u);
  EXPECT_EQ(md.inputs[0].name, "input-0");
  EXPECT_EQ(md.inputs[0].datatype, DataType::kFp64);
  EXPECT_EQ(md.inputs[0].shape, std::vector<int64_t>({-1, 13}));
  ASSERT_EQ(md.outputs.size(), 3u);
  EXPECT_EQ(md.outputs[0].name, "output-0");
  EXPECT_EQ(md.outputs[0].datatype, DataType::kInt64);
  EXPECT_EQ(md.outputs[2].name, "predict_proba");
  EXPECT_EQ(md.outputs[2].shape, std::vector<int64_t>({-1, 3}));

  auto labels = LoadCase("labels_str");
  ASSERT_TRUE(labels);
  EXPECT_EQ(labels->Metadata().outputs[0].datatype, DataType::kBytes);
  auto ridge = LoadCase("ridge_3_targets");
  ASSERT_TRUE(ridge);
  EXPECT_EQ(ridge->Metadata().outputs[0].shape, std::vector<int64_t>({-1, 3}));
  EXPECT_EQ(ridge->Metadata().outputs.size(), 2u);  // no predict_proba
}

TEST(SklearnRuntime, CheapnessFollowsModelSize) {
  const Case& c = GetCase("random_forest_classifier");
  SklearnRuntime small(SklearnOptions{.python = "/nonexistent/python3", .cheap_complexity = 10});
  auto m = small.Load(Request("rf", c.dir, Data().work_dir));
  ASSERT_TRUE(m) << m.error();
  EXPECT_FALSE((*m)->Cheap());
  auto lr = LoadCase("logreg_binary");
  ASSERT_TRUE(lr);
  EXPECT_TRUE(lr->Cheap());
}

TEST(SklearnRuntime, ConcurrentInferenceIsConsistent) {
  auto model = LoadCase("gradient_boosting_multiclass");
  ASSERT_TRUE(model);
  const Case& c = GetCase("gradient_boosting_multiclass");
  InferRequest req = Rows(c.x, c.rows, c.n_features);
  req.outputs = {Output("predict"), Output("predict_proba")};
  auto first = model->Infer(req);
  ASSERT_TRUE(first);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto r = model->Infer(req);
        if (!r || r->outputs[0].data != first->outputs[0].data ||
            r->outputs[1].data != first->outputs[1].data) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace skiff::serving
