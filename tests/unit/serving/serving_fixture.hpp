#pragma once
// A serving controller over real parts, driven without sockets: the SQLite store (":memory:" or
// a file for restart tests), a real ModelStorage serving local directories, a fake Runtime whose
// loads can fail, block until released, or return a model that answers with a marker naming the
// directory (so a test sees which revision answered), task runners (a small thread pool for
// loads, inline for inference), and an injected clock. InferenceServices are written into the
// store as the API writes them (apiVersion, kind, metadata with uid/creationTimestamp/
// generation, spec; status kept across spec updates). Waits are on conditions with deadlines.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/metrics.hpp"
#include "http/http.hpp"
#include "serving/controller.hpp"
#include "serving/inference_service.hpp"
#include "serving/model.hpp"
#include "serving/storage.hpp"
#include "store/store.hpp"
#include "unit/wait_until.hpp"

namespace skiff::serving::ctltest {

using namespace std::chrono_literals;

inline constexpr auto kWait = std::chrono::seconds(15);  // bound on conditions that hold soon
inline constexpr std::string_view kRevisionResource = "revisions.serving.skiff.dev";

using ::skiff::testing::WaitUntil;

// A fresh directory under $TMPDIR (or /tmp), removed with its content on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = base + "/skiff-ctl-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs each task on the posting thread.
class InlineRunner : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override { task(); }
};

// A fixed pool of threads; the destructor runs what is queued, then joins.
class ThreadPool : public http::TaskRunner {
 public:
  explicit ThreadPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> task) override {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> t;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        t = std::move(tasks_.front());
        tasks_.pop_front();
      }
      t();
    }
  }
  std::mutex mu_;  // guards tasks_, stop_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Answers every request with one BYTES output "predictions" holding its marker.
class MarkerModel : public Model {
 public:
  explicit MarkerModel(std::string marker) : marker_(std::move(marker)) {}
  ModelMetadata Metadata() const override {
    ModelMetadata md;
    md.platform = "fake";
    md.inputs = {{"input-0", DataType::kFp64, {-1, -1}}};
    md.outputs = {{"predictions", DataType::kBytes, {-1}}};
    return md;
  }
  Result<InferResponse> Infer(const InferRequest& request) override {
    InferResponse r;
    r.id = request.id;
    r.outputs.push_back(Tensor::FromStrings("predictions", {1}, {marker_}));
    return r;
  }
  const std::string& marker() const { return marker_; }

 private:
  std::string marker_;
};

// Serves formats "fake" and "sklearn" (the v1alpha2 form names frameworks). A model directory holds
// a file "marker"; what a load of it does is set per marker: fail the next N loads, or block until
// released. Records every load and keeps a weak reference to every model it made, so tests see when
// the controller lets one go.
class FakeRuntime : public Runtime {
 public:
  struct LoadCall {
    std::string marker;
    std::string path;
    std::string model_name;
    std::string work_dir;
  };

  std::string Name() const override { return "fake-runtime"; }
  bool Supports(std::string_view format) const override {
    return format == "fake" || format == "sklearn";
  }

  Result<std::shared_ptr<Model>> Load(const LoadRequest& request) override {
    std::string marker = ReadMarker(request.path);
    std::unique_lock lock(mu_);
    calls_.push_back({marker, request.path, request.model_name, request.work_dir});
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_all_ || !blocked_.count(marker); });
    if (auto it = failures_.find(marker); it != failures_.end() && it->second.count > 0) {
      --it->second.count;
      return Status(it->second.code, it->second.message);
    }
    auto model = std::make_shared<MarkerModel>(marker);
    models_.emplace_back(marker, model);
    return std::shared_ptr<Model>(model);
  }

  // The next `count` loads of `marker` fail with `code` and `message`.
  void FailNext(const std::string& marker, int count, std::string message,
                Code code = Code::kInvalidArgument) {
    std::lock_guard lock(mu_);
    failures_[marker] = {count, code, std::move(message)};
  }
  // Loads of `marker` wait until Release(marker).
  void Block(const std::string& marker) {
    std::lock_guard lock(mu_);
    blocked_.insert(marker);
  }
  void Release(const std::string& marker) {
    std::lock_guard lock(mu_);
    blocked_.erase(marker);
    cv_.notify_all();
  }
  // Releases every blocked load, now and later (tear-down).
  void ReleaseAll() {
    std::lock_guard lock(mu_);
    released_all_ = true;
    cv_.notify_all();
  }

  int Loads(const std::string& marker) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += c.marker == marker ? 1 : 0;
    return n;
  }
  int TotalLoads() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(calls_.size());
  }
  std::vector<LoadCall> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // Waits until `marker` has been loaded (started) at least `n` times.
  bool WaitLoads(const std::string& marker, int n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      int k = 0;
      for (const auto& c : calls_) k += c.marker == marker ? 1 : 0;
      return k >= n;
    });
  }
  // Weak references to the models made for `marker`, oldest first.
  std::vector<std::weak_ptr<MarkerModel>> Models(const std::string& marker) const {
    std::lock_guard lock(mu_);
    std::vector<std::weak_ptr<MarkerModel>> out;
    for (const auto& [m, w] : models_) {
      if (m == marker) out.push_back(w);
    }
    return out;
  }

  static std::string ReadMarker(const std::string& path) {
    std::ifstream in(path + "/marker");
    std::string s;
    std::getline(in, s);
    return s;
  }

 private:
  struct Failure {
    int count = 0;
    Code code = Code::kInvalidArgument;
    std::string message;
  };
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::vector<LoadCall> calls_;
  std::map<std::string, Failure> failures_;
  std::set<std::string> blocked_;
  bool released_all_ = false;
  std::vector<std::pair<std::string, std::weak_ptr<MarkerModel>>> models_;
};

inline std::string KServeApiVersion() { return std::string(kKServeGroup) + "/v1beta1"; }
inline std::string KfservingApiVersion() { return std::string(kKfservingGroup) + "/v1alpha2"; }

// spec.predictor for a v1beta1 InferenceService of format "fake" (KServe's newer model form).
inline json::object FakePredictor(const std::string& storage_uri,
                                  std::optional<int64_t> canary = std::nullopt,
                                  const std::string& format = "fake") {
  json::object p{{"model", json::object{{"modelFormat", json::object{{"name", format}}},
                                        {"storageUri", storage_uri}}}};
  if (canary) p["canaryTrafficPercent"] = *canary;
  return p;
}

// The serving parts over one store. Tests derive from it; members are public for them.
class ServingFixture : public ::testing::Test {
 public:
  ~ServingFixture() override {
    // Blocked loads must end before the pool joins; the controller goes first.
    if (runtime_ != nullptr) runtime_->ReleaseAll();
    table_.reset();  // executors in it record into the controller's metrics
    controller_.reset();
    blocking_.reset();
  }

 protected:
  // Opens the store (a file under the scratch directory when `file_backed`), the storage and
  // the runtime registry. Call before StartController.
  void SetUpParts(bool file_backed = false) {
    store_path_ = file_backed ? scratch_.path() + "/store.db" : ":memory:";
    OpenStore();
    ModelStorageOptions so;
    so.cache_dir = scratch_.path() + "/cache";
    auto storage = ModelStorage::Create(so, clock_);
    ASSERT_TRUE(storage.has_value()) << storage.error().ToString();
    storage_ = std::move(*storage);
    auto rt = std::make_unique<FakeRuntime>();
    runtime_ = rt.get();
    runtimes_.Register(std::move(rt));
    blocking_ = std::make_unique<ThreadPool>(3);
  }

  void OpenStore() {
    store::SqliteOptions o;
    o.path = store_path_;
    o.synchronous = "normal";
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
  }

  void SetUp() override { SetUpParts(); }

  ControllerOptions Options() {
    ControllerOptions o;
    o.domain = "example.com";
    o.work_dir = scratch_.path() + "/work";
    return o;
  }

  void StartController(std::optional<ControllerOptions> options = std::nullopt) {
    // Each controller registers the serving metric families once in its registry.
    metrics_.push_back(std::make_unique<MetricsRegistry>());
    controller_ = std::make_unique<Controller>(*store_, runtimes_, *storage_, *blocking_, cpu_,
                                               metrics_.back().get(), *controller_clock_,
                                               options ? *options : Options());
    Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // A model directory whose marker is `marker`; returns its path (a local storageUri).
  std::string ModelDir(const std::string& marker) {
    std::string dir = scratch_.path() + "/models/" + marker;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/marker") << marker << "\n";
    return dir;
  }

  static store::Key KServeKey(const std::string& ns, const std::string& name) {
    return {KServeResource(), ns, name};
  }
  static store::Key KfservingKey(const std::string& ns, const std::string& name) {
    return {KfservingResource(), ns, name};
  }

  // Writes `spec` as the API does: a new object gets uid, creationTimestamp and generation 1;
  // an update replaces spec, keeps status, and bumps generation when spec changed. Returns the
  // object's generation.
  int64_t ApplySpec(const store::Key& key, json::object spec) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto current = store_->Get(key);
      if (!current) {
        std::string api_version =
            key.resource == KServeResource() ? KServeApiVersion() : KfservingApiVersion();
        json::object obj{
            {"apiVersion", api_version},
            {"kind", "InferenceService"},
            {"metadata", json::object{{"name", key.name},
                                      {"namespace", key.ns},
                                      {"uid", "uid-" + key.name + "-" + std::to_string(++uids_)},
                                      {"creationTimestamp", FormatRfc3339(clock_.Now())},
                                      {"generation", 1}}},
            {"spec", std::move(spec)}};
        auto created = store_->Create(key, std::move(obj));
        EXPECT_TRUE(created.has_value()) << created.error().ToString();
        return 1;
      }
      json::object obj = current->object;
      int64_t generation = 1;
      if (const json::value* g = Find(obj, "metadata.generation"); g && g->is_int64()) {
        generation = g->get_int64();
      }
      const json::value* old_spec = obj.if_contains("spec");
      if (old_spec == nullptr || *old_spec != json::value(spec)) ++generation;
      obj["spec"] = spec;
      EnsureObject(obj, "metadata")["generation"] = generation;
      auto updated = store_->Update(key, std::move(obj), current->resource_version);
      if (updated) return generation;
      if (updated.error().code() != Code::kAborted) {
        ADD_FAILURE() << updated.error().ToString();
        return generation;
      }
    }
    ADD_FAILURE() << "could not update " << key.name;
    return 0;
  }

  int64_t ApplyKServe(const std::string& ns, const std::string& name, json::object predictor) {
    return ApplySpec(KServeKey(ns, name), json::object{{"predictor", std::move(predictor)}});
  }

  // Waits until the controller has written status for `generation`, then until it is idle.
  bool WaitObserved(const store::Key& key, int64_t generation) {
    bool observed = WaitUntil([&] {
      auto o = store_->Get(key);
      if (!o) return false;
      const json::value* g = Find(o->object, "status.observedGeneration");
      return g != nullptr && g->is_int64() && g->get_int64() >= generation;
    });
    return observed && controller_->WaitIdle(kWait);
  }

  json::object Object(const store::Key& key) {
    auto o = store_->Get(key);
    if (!o) return {};
    return o->object;
  }
  json::object StatusOf(const store::Key& key) {
    json::object o = Object(key);
    const json::object* st = GetObject(o, "status");
    return st ? *st : json::object{};
  }
  // The status condition of `type` (empty object when missing).
  static json::object ConditionOf(const json::object& status, std::string_view type) {
    const json::value* conds = status.if_contains("conditions");
    if (conds == nullptr || !conds->is_array()) return {};
    for (const auto& c : conds->get_array()) {
      if (GetString(c, "type") == type) return c.get_object();
    }
    return {};
  }
  // "percent" of each traffic entry by revision name.
  static std::map<std::string, int64_t> Traffic(const json::object& status) {
    std::map<std::string, int64_t> out;
    const json::value* t = Find(status, "components.predictor.traffic");
    if (t == nullptr || !t->is_array()) return out;
    for (const auto& e : t->get_array()) {
      const json::value* p = Find(e, "percent");
      out[GetString(e, "revisionName")] = p && p->is_int64() ? p->get_int64() : -1;
    }
    return out;
  }
  // Revision records of one InferenceService, by name.
  std::vector<std::string> RevisionRecords(const std::string& ns, const std::string& service) {
    std::vector<std::string> out;
    store::ListOptions lo;
    lo.ns = ns;
    auto list = store_->List(std::string(kRevisionResource), lo);
    if (!list) return out;
    for (const auto& o : list->items) {
      if (GetString(o.object, "spec.inferenceService") == service) out.push_back(o.key.name);
    }
    return out;
  }

  const ServedModel* Served(const std::string& ns, const std::string& name) {
    table_ = controller_->table();
    return table_->Lookup(ns, name);
  }
  // Percent per revision name in the serving table (empty when absent or not ready).
  std::map<std::string, int64_t> RoutesOf(const std::string& ns, const std::string& name) {
    std::map<std::string, int64_t> out;
    if (const ServedModel* m = Served(ns, name)) {
      for (const auto& r : m->routes) out[r.revision->name] = r.percent;
    }
    return out;
  }
  // Which marker answers the next request for ns/name ("" when none).
  std::string Answer(const std::string& ns, const std::string& name) {
    const ServedModel* m = Served(ns, name);
    if (m == nullptr) return "";
    auto rev = m->Pick();
    if (!rev) return "";
    auto r = rev->model->Infer({});
    if (!r || r->outputs.empty() || r->outputs[0].strings.empty()) return "";
    return r->outputs[0].strings[0];
  }

  ScratchDir scratch_;
  std::string store_path_;
  FakeClock clock_;
  Clock* controller_clock_ = &clock_;  // a test may give the controller the real clock
  std::vector<std::unique_ptr<MetricsRegistry>> metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ModelStorage> storage_;
  RuntimeRegistry runtimes_;
  FakeRuntime* runtime_ = nullptr;
  InlineRunner cpu_;
  std::unique_ptr<ThreadPool> blocking_;
  std::unique_ptr<Controller> controller_;
  std::shared_ptr<const ServingTable> table_;
  int uids_ = 0;
};

}  // namespace skiff::serving::ctltest
