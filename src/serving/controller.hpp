#pragma once
// The InferenceService controller: reconciles every InferenceService (both API groups) into
// loaded model revisions and a serving table, and writes status as KServe does.
//
// - A revision is a loaded copy of one predictor template (format, storageUri, runtime, env,
//   protocol...). Changing the template creates the next revision (<name>-predictor-00002);
//   changing only canaryTrafficPercent moves traffic. Revision records are kept in the store
//   (resource "revisions.serving.skiff.dev", not served by the API) so that a canary in
//   progress survives a restart.
// - While a new revision loads, the previously rolled-out ready revision keeps all traffic. With
//   canaryTrafficPercent N the latest ready revision gets N% and the previous one the rest;
//   without it the latest takes 100% once ready (it is "rolled out"). A revision that fails to
//   load leaves the previous one serving and says why in status.
// - Deleting an InferenceService drops its revisions; the model is freed when the last
//   in-flight request lets go of it. An object deleted and created again under the same name
//   (a new metadata.uid) starts over at revision 00001, even when the controller saw only the
//   new object (records carry the owner's uid).
// - When serving.kserve.io and serving.kubeflow.org both define a namespace/name, the v1beta1
//   one serves; the v1alpha2 one loads nothing and reports Conflict until the other is deleted.
// - A revision that failed to load is retried with backoff (ControllerOptions::retry_backoff,
//   on the injected Clock's steady time).
//
// Threading: one controller thread owns all reconcile state; store watch callbacks and model
// loads (on the blocking pool) post work to it. The serving table is an immutable snapshot
// swapped atomically; readers (request handlers) take it without locks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "http/http.hpp"
#include "serving/inference_service.hpp"
#include "serving/model.hpp"
#include "store/store.hpp"

namespace skiff::serving {

class ModelExecutor;
class ModelStorage;
class ServingMetrics;

// One loaded revision, shared by the serving table and in-flight requests.
struct LoadedRevision {
  std::string ns;
  std::string service;  // InferenceService name (also the V1/V2 model name)
  std::string name;     // revision name, e.g. sklearn-iris-predictor-00001
  PredictorTemplate predictor;
  std::shared_ptr<Model> model;
  std::shared_ptr<ModelExecutor> executor;
  ModelMetadata metadata;
};

struct ServedRoute {
  std::shared_ptr<const LoadedRevision> revision;
  int64_t percent = 0;
};

// One InferenceService as requests see it.
struct ServedModel {
  std::string group;  // serving.kserve.io or serving.kubeflow.org
  std::string ns;
  std::string name;
  bool ready = false;
  std::string reason;               // why not ready (for 503 messages)
  std::vector<ServedRoute> routes;  // percents sum to 100 when ready
  // Request counter for the deterministic weighted split.
  std::shared_ptr<std::atomic<uint64_t>> counter = std::make_shared<std::atomic<uint64_t>>(0);

  // Picks the revision for the next request: over any 100 consecutive requests each route
  // gets exactly its percent, spread evenly. Null when not ready.
  std::shared_ptr<const LoadedRevision> Pick() const;
};

struct ServingTable {
  // (namespace, name) -> model. When both API groups define the same name in one namespace,
  // serving.kserve.io wins and the other reports the conflict in its status.
  std::map<std::pair<std::string, std::string>, ServedModel> models;
  const ServedModel* Lookup(const std::string& ns, const std::string& name) const;
  // Models of that name in any namespace.
  std::vector<const ServedModel*> ByName(const std::string& name) const;
};

struct ControllerOptions {
  std::string domain = "example.com";  // status.url is http://NAME.NAMESPACE.DOMAIN
  std::string work_dir;                // per-revision private directories for runtimes
  size_t queue_depth = 128;            // per-revision request queue
  std::chrono::milliseconds load_timeout{300'000};
  // A revision that failed to load is retried after retry_backoff, doubling per consecutive
  // failure up to retry_backoff_max (the model files may be fixed in place). Measured on the
  // controller's Clock (Steady); tests shorten it or advance a FakeClock.
  std::chrono::milliseconds retry_backoff{10'000};
  std::chrono::milliseconds retry_backoff_max{300'000};
};

class Controller {
 public:
  // All references must outlive the controller. `blocking` runs model loads; `cpu` runs
  // inference for models that are not cheap enough to run inline.
  Controller(store::Store& store, RuntimeRegistry& runtimes, ModelStorage& storage,
             http::TaskRunner& blocking, http::TaskRunner& cpu, MetricsRegistry* metrics,
             Clock& clock, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Lists existing InferenceServices, starts watching and reconciling. Blocking.
  Status Start();
  // Stops watching and the controller thread; loaded models stay until the table is dropped.
  void Stop();

  std::shared_ptr<const ServingTable> table() const { return table_.load(); }
  // The per-model metrics and recent errors (the dashboard's model stats); null without a
  // MetricsRegistry. Lives as long as the controller.
  const ServingMetrics* serving_metrics() const { return serving_metrics_.get(); }
  const ControllerOptions& options() const { return options_; }

  // Waits until the controller has processed everything queued so far and no load is running
  // (tests, demo set-up). A store write made just before may not have reached the controller's
  // watch yet: wait for its effect (e.g. status.observedGeneration) first.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct Key {
    std::string group, ns, name;
    auto operator<=>(const Key&) const = default;
  };
  struct RevisionRecord;
  struct ServiceState;

  // Work for the controller thread; shared with load tasks so that a load finishing after the
  // controller is gone finds the inbox closed instead of a dangling controller.
  struct Inbox {
    std::mutex mu;  // guards everything below
    std::condition_variable cv;
    std::condition_variable idle_cv;
    std::deque<std::function<void(Controller&)>> tasks;
    std::set<Key> queued;  // keys with a pending reconcile
    bool stopping = false;
    bool busy = false;
    int loads = 0;  // loads in flight
  };

  void Run();
  // Enqueues services with a failed revision whose retry time (on clock_) has come.
  void EnqueueDueRetries();
  // After a serving.kserve.io service appears or goes: reconcile the serving.kubeflow.org one of
  // the same namespace/name, whose conflict it starts or ends.
  void EnqueueShadowed(const Key& key);
  static void Post(const std::shared_ptr<Inbox>& inbox, std::function<void(Controller&)> task);
  void Enqueue(const Key& key);
  void Reconcile(const Key& key);
  void StartLoad(ServiceState& svc, const std::string& revision);
  void Publish();
  Status WriteStatus(ServiceState& svc);
  Status SaveRecord(const ServiceState& svc, const RevisionRecord& rec);
  void DeleteRecords(const Key& key);
  std::shared_ptr<ModelExecutor> MakeExecutor(const LoadedRevision& rev,
                                              std::shared_ptr<Model> model);

  store::Store& store_;
  RuntimeRegistry& runtimes_;
  ModelStorage& storage_;
  http::TaskRunner& blocking_;
  http::TaskRunner& cpu_;
  MetricsRegistry* metrics_;
  std::unique_ptr<ServingMetrics> serving_metrics_;
  Clock& clock_;
  ControllerOptions options_;

  std::atomic<std::shared_ptr<const ServingTable>> table_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::vector<std::unique_ptr<store::Watch>> watches_;
  std::thread thread_;

  // Owned by the controller thread.
  std::map<Key, std::unique_ptr<ServiceState>> services_;
  uint64_t load_seq_ = 0;
};

}  // namespace skiff::serving
