// The "python" runtime with real /usr/bin/python3 workers: scikit-learn estimators the native
// runtime does not serve (trained at test time, one cached Python run), custom model.py
// predictors, and the failure paths: workers that crash, hang, raise or fail to start.

#include "serving/runtimes/python_runtime.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "python_test_helpers.hpp"
#include "unit/wait_until.hpp"

namespace skiff::serving {
namespace {

using ::skiff::testing::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::ReadBinary;
using testing::ReadText;
using testing::TempDir;
using testing::WriteText;

constexpr const char* kTrainScript = R"PY(
import os, pickle
import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.semi_supervised import LabelSpreading

X, y = load_iris(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
Xte = np.ascontiguousarray(Xte, dtype=np.float64)
Xte.tofile("X.f64")

os.makedirs("knn")
knn = KNeighborsClassifier(n_neighbors=5).fit(Xtr, ytr)
joblib.dump(knn, "knn/model.joblib")
np.asarray(knn.predict(Xte.tolist()), dtype=np.int64).tofile("knn_pred.i64")
np.asarray(knn.predict_proba(Xte.tolist()), dtype=np.float64).tofile("knn_proba.f64")

os.makedirs("spreading")
ls = LabelSpreading().fit(Xtr, ytr)
with open("spreading/model.pkl", "wb") as f:
    pickle.dump(ls, f)
np.asarray(ls.predict(Xte), dtype=np.int64).tofile("spreading_pred.i64")

os.makedirs("labels")
names = np.array(["setosa", "versicolor", "virginica"])
named = KNeighborsClassifier(n_neighbors=3).fit(Xtr, names[ytr])
with open("labels/model.pickle", "wb") as f:
    pickle.dump(named, f)
with open("labels_pred.txt", "w") as f:
    f.write("\n".join(named.predict(Xte)))
os.makedirs("text")
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
texts = ["good great fine", "bad awful terrible", "great movie", "terrible film", "fine acting",
         "awful plot"]
pipe = make_pipeline(CountVectorizer(), MultinomialNB()).fit(texts, [1, 0, 1, 0, 1, 0])
joblib.dump(pipe, "text/model.joblib")
queries = ["great fine film", "awful terrible acting", "movie", "caf\u00e9 ok"]
np.asarray(pipe.predict(queries), dtype=np.int64).tofile("text_pred.i64")
print("ok")
)PY";

// A KServe-style custom predictor with markers in the input that crash or hang the worker.
constexpr const char* kCustomModel = R"PY(
import os, sys, time
import kserve

class Doubler(kserve.Model):
    def __init__(self, name):
        super().__init__(name)
        self.factor = None

    def load(self):
        self.factor = 2.0
        self.ready = True

    def preprocess(self, payload, headers=None):
        payload["seen_preprocess"] = True
        return payload

    def predict(self, payload, headers=None):
        print("predicting", payload.get("instances"))  # must not disturb the protocol
        rows = payload["instances"]
        first = rows[0][0]
        if first == -9:
            # Whole or not there: the test reads it as soon as it exists.
            with open(os.environ["PID_FILE"] + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
            time.sleep(60)
        if first == -7:
            os._exit(7)
        if first == -5:
            raise ValueError("first value must not be -5")
        if first == -4:
            raise RuntimeError("the model is confused")
        if first == -3:
            return {"predictions": [{"label": "odd", "score": 0.5}, [1, 2]]}
        if first == -2:
            time.sleep(60)
        if first == -6:
            return {"predictions": [os.environ.get("AWS_SECRET_ACCESS_KEY", "absent"),
                                    os.environ.get("FROM_PREDICTOR", "absent")]}
        assert payload["seen_preprocess"]
        factor = payload.get("factor", self.factor)
        return {"predictions": [sum(r) * factor for r in rows], "pid": os.getpid()}
)PY";

class PythonRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto run = testing::RunPythonCached("sklearn", kTrainScript);
    *setup_error_ = run.error;
    data_ = new Dir{run.dir};
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_->empty()) << *setup_error_; }

  static PythonRuntimeOptions Options(int workers = 1) {
    PythonRuntimeOptions o;
    o.workers = workers;
    o.request_timeout = std::chrono::seconds(30);
    o.restart_backoff = milliseconds(20);
    o.max_restart_backoff = milliseconds(200);
    o.max_start_failures = 2;
    return o;
  }

  static LoadRequest Request(const std::string& path, const std::string& format = "sklearn") {
    LoadRequest r;
    r.model_name = "m";
    r.format = format;
    r.path = path;
    r.protocol = "v1";
    r.timeout = std::chrono::seconds(60);
    return r;
  }

  static std::shared_ptr<Model> MustLoad(const LoadRequest& request,
                                         PythonRuntimeOptions options = Options()) {
    PythonRuntime runtime(options);
    auto model = runtime.Load(request);
    EXPECT_TRUE(model) << model.error();
    return model ? *model : nullptr;
  }

  static InferRequest Rows(int64_t rows, int64_t cols, const std::vector<double>& values) {
    InferRequest r;
    r.inputs.push_back(Tensor::FromDoubles("input-0", {rows, cols}, values));
    return r;
  }

  static InferRequest HeldOut() {
    auto x = ReadBinary<double>(*data_ / "X.f64");
    return Rows(static_cast<int64_t>(x.size() / 4), 4, x);
  }

  // Custom predictor directory with kCustomModel.
  static std::string CustomDir(const TempDir& dir) {
    WriteText(dir / "model/model.py", kCustomModel);
    return dir / "model";
  }

  static PythonModelControl& Control(const std::shared_ptr<Model>& m) {
    return *dynamic_cast<PythonModelControl*>(m.get());
  }

  static bool ProcessGone(int pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    // A zombie of some other parent (a reparented grandchild) is gone for our purposes.
    std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  }

  // The cached training output: `*data_ / "name"` is a path in it.
  struct Dir {
    std::string path;
    std::string operator/(const std::string& name) const { return path + "/" + name; }
  };
  static Dir* data_;
  static std::string* setup_error_;
};

PythonRuntimeTest::Dir* PythonRuntimeTest::data_ = nullptr;
std::string* PythonRuntimeTest::setup_error_ = new std::string();

TEST_F(PythonRuntimeTest, KNeighborsPredictionsEqualScikitLearns) {
  auto model = MustLoad(Request(*data_ / "knn"));
  ASSERT_TRUE(model);
  auto resp = model->Infer(HeldOut());
  ASSERT_TRUE(resp) << resp.error();
  ASSERT_EQ(resp->outputs.size(), 1u);
  const Tensor& out = resp->outputs[0];
  EXPECT_EQ(out.name, "output-0");
  ASSERT_EQ(out.datatype, DataType::kInt64);
  auto want = ReadBinary<int64_t>(*data_ / "knn_pred.i64");
  ASSERT_EQ(out.shape, (std::vector<int64_t>{static_cast<int64_t>(want.size())}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out.As<int64_t>()[i], want[i]) << i;

  ModelMetadata meta = model->Metadata();
  EXPECT_EQ(meta.platform, "sklearn");
  ASSERT_EQ(meta.inputs.size(), 1u);
  EXPECT_EQ(meta.inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  ASSERT_EQ(meta.outputs.size(), 1u);
  EXPECT_EQ(meta.outputs[0].datatype, DataType::kInt64);
  EXPECT_EQ(model->MaxConcurrency(), 1);
}

TEST_F(PythonRuntimeTest, PredictProbaWhenTheEnvAsks) {
  LoadRequest req = Request(*data_ / "knn/model.joblib");  // a file path works too
  req.env["PREDICT_PROBA"] = "true";
  auto model = MustLoad(req);
  ASSERT_TRUE(model);
  auto resp = model->Infer(HeldOut());
  ASSERT_TRUE(resp) << resp.error();
  const Tensor& out = resp->outputs[0];
  ASSERT_EQ(out.datatype, DataType::kFp64);
  auto want = ReadBinary<double>(*data_ / "knn_proba.f64");
  ASSERT_EQ(out.shape, (std::vector<int64_t>{static_cast<int64_t>(want.size() / 3), 3}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out.As<double>()[i], want[i]) << i;
  EXPECT_EQ(model->Metadata().outputs[0].shape, (std::vector<int64_t>{-1, 3}));
}

TEST_F(PythonRuntimeTest, PickledLabelSpreadingEqualsScikitLearn) {
  auto model = MustLoad(Request(*data_ / "spreading"));
  ASSERT_TRUE(model);
  auto resp = model->Infer(HeldOut());
  ASSERT_TRUE(resp) << resp.error();
  const Tensor& out = resp->outputs[0];
  ASSERT_EQ(out.datatype, DataType::kInt64);
  auto want = ReadBinary<int64_t>(*data_ / "spreading_pred.i64");
  ASSERT_EQ(out.ElementCount(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out.As<int64_t>()[i], want[i]) << i;
}

TEST_F(PythonRuntimeTest, StringLabelsComeBackAsBytes) {
  auto model = MustLoad(Request(*data_ / "labels"));
  ASSERT_TRUE(model);
  auto resp = model->Infer(HeldOut());
  ASSERT_TRUE(resp) << resp.error();
  const Tensor& out = resp->outputs[0];
  ASSERT_EQ(out.datatype, DataType::kBytes);
  std::vector<std::string> want;
  std::stringstream ss(ReadText(*data_ / "labels_pred.txt"));
  for (std::string line; std::getline(ss, line);) want.push_back(line);
  EXPECT_EQ(out.strings, want);
  EXPECT_EQ(model->Metadata().outputs[0].datatype, DataType::kBytes);
}

TEST_F(PythonRuntimeTest, TextPipelineTakesStrings) {
  auto model = MustLoad(Request(*data_ / "text"));
  ASSERT_TRUE(model);
  InferRequest r;
  r.inputs.push_back(Tensor::FromStrings(
      "input-0", {4}, {"great fine film", "awful terrible acting", "movie", "caf\xc3\xa9 ok"}));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  auto want = ReadBinary<int64_t>(*data_ / "text_pred.i64");
  ASSERT_EQ(resp->outputs[0].ElementCount(), 4);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(resp->outputs[0].As<int64_t>()[i], want[i]);
}

TEST_F(PythonRuntimeTest, WrongFeatureCountIsInvalidArgumentWithScikitLearnsMessage) {
  auto model = MustLoad(Request(*data_ / "knn"));
  ASSERT_TRUE(model);
  auto resp = model->Infer(Rows(1, 3, {1, 2, 3}));
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code(), Code::kInvalidArgument);
  EXPECT_NE(resp.error().message().find("ValueError"), std::string::npos) << resp.error();
  EXPECT_NE(resp.error().message().find("4 features"), std::string::npos) << resp.error();
  // The worker survives a bad request.
  EXPECT_TRUE(model->Infer(Rows(1, 4, {6.8, 2.8, 4.8, 1.4})));
}

TEST_F(PythonRuntimeTest, MissingModelFileSaysWhatWasLookedFor) {
  TempDir empty;
  PythonRuntime runtime(Options());
  auto r = runtime.Load(Request(empty.path()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("model.joblib"), std::string::npos) << r.error();

  auto custom = runtime.Load(Request(empty.path(), "custom"));
  ASSERT_FALSE(custom);
  EXPECT_NE(custom.error().message().find("model.py"), std::string::npos) << custom.error();
}

TEST_F(PythonRuntimeTest, CustomPredictorServesV1Payloads) {
  TempDir dir;
  auto model = MustLoad(Request(CustomDir(dir), "custom"));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->Metadata().platform, "python");
  auto resp = model->Infer(Rows(2, 2, {1, 2, 3, 4.5}));
  ASSERT_TRUE(resp) << resp.error();
  const Tensor& out = resp->outputs[0];
  ASSERT_EQ(out.datatype, DataType::kFp64);
  ASSERT_EQ(out.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(out.As<double>()[0], 6.0);
  EXPECT_EQ(out.As<double>()[1], 15.0);

  // Other fields of the V1 body (request parameters) are part of the payload, as in KServe.
  InferRequest with_factor = Rows(1, 2, {1, 2});
  with_factor.parameters["factor"] = 10;
  auto scaled = model->Infer(with_factor);
  ASSERT_TRUE(scaled) << scaled.error();
  EXPECT_EQ(scaled->outputs[0].As<double>()[0], 30.0);
}

TEST_F(PythonRuntimeTest, WorkersSeeThePredictorEnvButNotSkiffsSecrets) {
  TempDir dir;
  ::setenv("AWS_SECRET_ACCESS_KEY", "skiff-own-secret", 1);
  LoadRequest req = Request(CustomDir(dir), "custom");
  req.env["FROM_PREDICTOR"] = "yes";
  auto model = MustLoad(req);
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(model);
  auto resp = model->Infer(Rows(1, 1, {-6}));
  ASSERT_TRUE(resp) << resp.error();
  EXPECT_EQ(resp->outputs[0].strings, (std::vector<std::string>{"absent", "yes"}));
}

TEST_F(PythonRuntimeTest, CustomPredictionsThatAreNotATensorComeBackAsJson) {
  TempDir dir;
  auto model = MustLoad(Request(CustomDir(dir), "custom"));
  ASSERT_TRUE(model);
  auto resp = model->Infer(Rows(1, 1, {-3}));
  ASSERT_TRUE(resp) << resp.error();
  const Tensor& out = resp->outputs[0];
  ASSERT_EQ(out.datatype, DataType::kBytes);
  EXPECT_EQ(out.strings, (std::vector<std::string>{R"({"label": "odd", "score": 0.5})", "[1, 2]"}));
  EXPECT_EQ(out.parameters.at("content_type").as_string(), "json");
}

TEST_F(PythonRuntimeTest, CustomPredictorServesV2Requests) {
  TempDir dir;
  WriteText(dir / "model/model.py", R"PY(
import numpy as np
from kserve import InferOutput, InferResponse, Model

class Echo(Model):
    def load(self):
        self.ready = True

    async def predict(self, request, headers=None):
        x = request.inputs[0].as_numpy()
        out = InferOutput(name="doubled", shape=list(x.shape), datatype="FP32")
        out.set_numpy((x * 2).astype(np.float32))
        return InferResponse(response_id=request.id, model_name=self.name, infer_outputs=[out])
)PY");
  LoadRequest req = Request(dir / "model", "custom");
  req.protocol = "v2";
  auto model = MustLoad(req);
  ASSERT_TRUE(model);
  InferRequest r;
  r.id = "req-1";
  r.inputs.push_back(Tensor::FromInt64s("x", {1, 3}, {1, 2, 3}));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  EXPECT_EQ(resp->id, "req-1");
  ASSERT_EQ(resp->outputs.size(), 1u);
  EXPECT_EQ(resp->outputs[0].name, "doubled");
  ASSERT_EQ(resp->outputs[0].datatype, DataType::kFp32);
  EXPECT_EQ(resp->outputs[0].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(resp->outputs[0].As<float>()[2], 6.0f);
}

TEST_F(PythonRuntimeTest, ExceptionsBecomeInvalidArgumentOrInternal) {
  TempDir dir;
  auto model = MustLoad(Request(CustomDir(dir), "custom"));
  ASSERT_TRUE(model);
  auto bad = model->Infer(Rows(1, 1, {-5}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "ValueError: first value must not be -5");
  auto broken = model->Infer(Rows(1, 1, {-4}));
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code(), Code::kInternal);
  EXPECT_EQ(broken.error().message(), "RuntimeError: the model is confused");
  EXPECT_TRUE(model->Infer(Rows(1, 1, {1})));
}

TEST_F(PythonRuntimeTest, WorkerKilledMidRequestAnswersUnavailableAndRestarts) {
  TempDir dir;
  LoadRequest req = Request(CustomDir(dir), "custom");
  req.env["PID_FILE"] = dir / "busy.pid";
  auto model = MustLoad(req);
  ASSERT_TRUE(model);
  const int first_pid = Control(model).WorkerPids().at(0);

  std::atomic<bool> done{false};
  Result<InferResponse> killed = Internal("not run");
  std::thread t([&] {
    killed = model->Infer(Rows(1, 1, {-9}));
    done = true;
  });
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(dir / "busy.pid"); }));
  const int busy_pid = std::stoi(ReadText(dir / "busy.pid"));
  EXPECT_EQ(busy_pid, first_pid);
  ASSERT_EQ(::kill(busy_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return done.load(); }, milliseconds(10'000)));
  t.join();
  ASSERT_FALSE(killed);
  EXPECT_EQ(killed.error().code(), Code::kUnavailable);
  EXPECT_NE(killed.error().message().find("exited with signal 9 (SIGKILL) while predicting; it "
                                          "is being restarted"),
            std::string::npos)
      << killed.error();
  EXPECT_EQ(HttpStatusFor(killed.error()), 503);

  // The next request waits for the restarted worker and succeeds.
  auto next = model->Infer(Rows(1, 2, {1, 2}));
  ASSERT_TRUE(next) << next.error();
  EXPECT_EQ(next->outputs[0].As<double>()[0], 6.0);
  EXPECT_NE(Control(model).WorkerPids().at(0), first_pid);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(first_pid); }));
}

TEST_F(PythonRuntimeTest, IdleWorkerThatDiesIsReplacedWithoutFailingARequest) {
  TempDir dir;
  auto model = MustLoad(Request(CustomDir(dir), "custom"));
  ASSERT_TRUE(model);
  // Noticed by the supervisor's periodic check, with no request.
  const int first = Control(model).WorkerPids().at(0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] {
    auto pids = Control(model).WorkerPids();
    return !pids.empty() && pids[0] != first;
  }));
  ASSERT_TRUE(Control(model).WaitForIdleWorkers(1, steady_clock::now() + milliseconds(20'000)));
  // Noticed by a request (or the supervisor, whichever is first): the request succeeds.
  const int second = Control(model).WorkerPids().at(0);
  ASSERT_EQ(::kill(second, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return ProcessGone(second); }));
  auto r = model->Infer(Rows(1, 1, {1}));
  ASSERT_TRUE(r) << r.error();
  EXPECT_NE(Control(model).WorkerPids().at(0), second);
}

TEST_F(PythonRuntimeTest, WorkerThatExitsMidRequestSaysHow) {
  TempDir dir;
  auto model = MustLoad(Request(CustomDir(dir), "custom"));
  ASSERT_TRUE(model);
  auto r = model->Infer(Rows(1, 1, {-7}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("exited with code 7 while predicting"), std::string::npos)
      << r.error();
  EXPECT_TRUE(model->Infer(Rows(1, 1, {1})));
}

TEST_F(PythonRuntimeTest, HangingWorkerMissesItsDeadlineAndIsReplaced) {
  TempDir dir;
  LoadRequest req = Request(CustomDir(dir), "custom");
  req.spec["timeout"] = 1;  // seconds, as KServe's predictor timeout
  auto model = MustLoad(req);
  ASSERT_TRUE(model);
  const int pid = Control(model).WorkerPids().at(0);
  const auto start = steady_clock::now();
  auto r = model->Infer(Rows(1, 1, {-2}));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded);
  EXPECT_NE(r.error().message().find("did not answer within 1s"), std::string::npos) << r.error();
  EXPECT_GE(took, milliseconds(1'000));
  EXPECT_LT(took, milliseconds(8'000));
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }));
  // Requests wait for a restarting worker only within their own (1s) deadline.
  ASSERT_TRUE(Control(model).WaitForIdleWorkers(1, steady_clock::now() + milliseconds(20'000)));
  auto next = model->Infer(Rows(1, 1, {2}));
  ASSERT_TRUE(next) << next.error();
}

TEST_F(PythonRuntimeTest, ConcurrentRequestsRunOnDifferentWorkers) {
  TempDir dir;
  // Each request waits until two requests are inside predict at once, so this passes only if
  // both workers serve at the same time.
  WriteText(dir / "model/model.py", R"PY(
import os, time

class Barrier:
    def __init__(self, name):
        self.dir = os.environ["BARRIER_DIR"]

    def load(self):
        pass

    def predict(self, payload, headers=None):
        open(os.path.join(self.dir, "in-%d" % os.getpid()), "w").close()
        deadline = time.time() + 20
        while len([f for f in os.listdir(self.dir) if f.startswith("in-")]) < 2:
            if time.time() > deadline:
                raise RuntimeError("alone in predict")
            time.sleep(0.01)
        return {"predictions": [os.getpid()]}
)PY");
  std::filesystem::create_directories(dir / "barrier");
  LoadRequest req = Request(dir / "model", "custom");
  req.env["BARRIER_DIR"] = dir / "barrier";
  auto model = MustLoad(req, Options(2));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->MaxConcurrency(), 2);
  Result<InferResponse> a = Internal(""), b = Internal("");
  std::thread ta([&] { a = model->Infer(Rows(1, 1, {1})); });
  std::thread tb([&] { b = model->Infer(Rows(1, 1, {1})); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_NE(a->outputs[0].As<int64_t>()[0], b->outputs[0].As<int64_t>()[0]);
}

TEST_F(PythonRuntimeTest, UnloadKillsWorkersAndWhatTheyStarted) {
  TempDir dir;
  WriteText(dir / "model/model.py", R"PY(
import os, subprocess

class Spawner:
    def __init__(self, name):
        pass

    def load(self):
        child = subprocess.Popen(["sleep", "300"])
        with open(os.path.join(os.environ["OUT"], "child-%d" % os.getpid()), "w") as f:
            f.write(str(child.pid))

    def predict(self, payload, headers=None):
        return {"predictions": [1]}
)PY");
  LoadRequest req = Request(dir / "model", "custom");
  req.env["OUT"] = dir.path();
  auto model = MustLoad(req, Options(2));
  ASSERT_TRUE(model);
  std::vector<int> pids = Control(model).WorkerPids();
  ASSERT_EQ(pids.size(), 2u);
  std::vector<int> children;
  for (int pid : pids) {
    children.push_back(std::stoi(ReadText(dir / ("child-" + std::to_string(pid)))));
    EXPECT_FALSE(ProcessGone(pid));
  }
  model.reset();                                              // the last reference: unload
  for (int pid : pids) EXPECT_TRUE(ProcessGone(pid)) << pid;  // killed and reaped already
  for (int child : children) EXPECT_TRUE(WaitUntil([&] { return ProcessGone(child); })) << child;
}

TEST_F(PythonRuntimeTest, LoadFailureQuotesThePythonError) {
  TempDir dir;
  WriteText(dir / "model/model.py",
            "import sys\nprint('about to fail', file=sys.stderr)\n"
            "raise RuntimeError('boom at import')\n");
  PythonRuntime runtime(Options());
  auto r = runtime.Load(Request(dir / "model", "custom"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("RuntimeError: boom at import"), std::string::npos)
      << r.error();
  EXPECT_NE(r.error().message().find("about to fail"), std::string::npos) << r.error();

  WriteText(dir / "model/model.py",
            "import os, sys\nprint('dying now', file=sys.stderr)\n"
            "sys.stderr.flush()\nos._exit(3)\n");
  auto died = runtime.Load(Request(dir / "model", "custom"));
  ASSERT_FALSE(died);
  EXPECT_EQ(died.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(died.error().message().find("exited with code 3 while loading"), std::string::npos)
      << died.error();
  EXPECT_NE(died.error().message().find("dying now"), std::string::npos) << died.error();

  WriteText(dir / "model/model.py", "class NoPredict:\n    pass\n");
  auto none = runtime.Load(Request(dir / "model", "custom"));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no class with a predict() method"), std::string::npos)
      << none.error();

  PythonRuntimeOptions missing = Options();
  missing.python = "/nonexistent/python3";
  auto no_python = PythonRuntime(missing).Load(Request(*data_ / "knn"));
  ASSERT_FALSE(no_python);
  EXPECT_NE(no_python.error().message().find("/nonexistent/python3"), std::string::npos);
}

TEST_F(PythonRuntimeTest, RepeatedStartFailuresMakeTheModelNotReadyUntilFixed) {
  TempDir dir;
  WriteText(dir / "model/model.py", R"PY(
import os

class Flaky:
    def __init__(self, name):
        pass

    def load(self):
        if os.path.exists(os.environ["BROKEN"]):
            raise RuntimeError("the disk is on fire")

    def predict(self, payload, headers=None):
        return {"predictions": [os.getpid()]}
)PY");
  LoadRequest req = Request(dir / "model", "custom");
  req.env["BROKEN"] = dir / "broken";
  auto model = MustLoad(req);
  ASSERT_TRUE(model);
  EXPECT_TRUE(Control(model).Health().ok());

  WriteText(dir / "broken", "yes");
  const int pid = Control(model).WorkerPids().at(0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The crash is noticed by the next request; restarts then fail until the model is not ready.
  auto crashed = model->Infer(Rows(1, 1, {1}));
  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.error().code(), Code::kUnavailable);
  ASSERT_TRUE(WaitUntil([&] { return !Control(model).Health().ok(); }));
  Status health = Control(model).Health();
  EXPECT_EQ(health.code(), Code::kUnavailable);
  EXPECT_NE(health.message().find("is not ready"), std::string::npos) << health;
  EXPECT_NE(health.message().find("the disk is on fire"), std::string::npos) << health;
  auto refused = model->Infer(Rows(1, 1, {1}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kUnavailable);
  EXPECT_NE(refused.error().message().find("the disk is on fire"), std::string::npos);

  // Retries go on (with capped backoff): once fixed, the model serves again.
  std::filesystem::remove(dir / "broken");
  ASSERT_TRUE(Control(model).WaitForIdleWorkers(1, steady_clock::now() + milliseconds(20'000)));
  EXPECT_TRUE(Control(model).Health().ok());
  EXPECT_TRUE(model->Infer(Rows(1, 1, {1})));
}

TEST_F(PythonRuntimeTest, SeveralInputsAreColumns) {
  auto model = MustLoad(Request(*data_ / "knn"));
  ASSERT_TRUE(model);
  InferRequest r;
  r.inputs.push_back(Tensor::FromDoubles("a", {2, 2}, {6.8, 2.8, 6.0, 3.4}));
  r.inputs.push_back(Tensor::FromDoubles("b", {2, 1}, {4.8, 4.5}));
  r.inputs.push_back(Tensor::FromDoubles("c", {2}, {1.4, 1.6}));
  auto resp = model->Infer(r);
  ASSERT_TRUE(resp) << resp.error();
  InferRequest whole = Rows(2, 4, {6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6});
  auto want = model->Infer(whole);
  ASSERT_TRUE(want);
  EXPECT_EQ(resp->outputs[0].data, want->outputs[0].data);
  EXPECT_EQ(want->outputs[0].As<int64_t>()[0], 1);  // the KServe iris example: [1, 1]
  EXPECT_EQ(want->outputs[0].As<int64_t>()[1], 1);
}

TEST(PythonRuntimeBasics, NameAndFormats) {
  PythonRuntime runtime;
  EXPECT_EQ(runtime.Name(), "python");
  EXPECT_TRUE(runtime.Supports("sklearn"));
  EXPECT_TRUE(runtime.Supports("custom"));
  EXPECT_TRUE(runtime.Supports("python"));
  EXPECT_FALSE(runtime.Supports("xgboost"));
}

}  // namespace
}  // namespace skiff::serving
