#include "serving/controller.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "api/conditions.hpp"
#include "api/validation.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "serving/executor.hpp"
#include "serving/storage.hpp"

namespace skiff::serving {

namespace {

constexpr std::string_view kRevisionResource = "revisions.serving.skiff.dev";
constexpr std::string_view kServiceLabel = "serving.skiff.dev/inferenceservice";
constexpr std::string_view kGroupLabel = "serving.skiff.dev/group";

std::string RevisionName(const std::string& group, const std::string& name, int64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05" PRId64, number);
  return name + (group == kKfservingGroup ? "-predictor-default-" : "-predictor-") + buf;
}

std::string GroupOfResource(std::string_view resource) {
  size_t dot = resource.find('.');
  return dot == std::string_view::npos ? std::string() : std::string(resource.substr(dot + 1));
}

}  // namespace

struct Controller::RevisionRecord {
  std::string name;
  int64_t number = 0;
  PredictorTemplate predictor;
  std::string hash;
};

// Reconcile state of one InferenceService. Controller thread only.
struct Controller::ServiceState {
  enum class Load { kIdle, kLoading, kReady, kFailed };
  struct Rev {
    RevisionRecord record;
    Load state = Load::kIdle;
    std::string reason;   // failure reason (ModelLoadFailed, NoSupportingRuntime, ...)
    std::string message;  // what went wrong and what to do
    std::string failed_at;
    int failures = 0;                                // consecutive failed loads
    std::chrono::steady_clock::time_point retry_at;  // next load attempt after a failure
    uint64_t load_id = 0;
    std::shared_ptr<const LoadedRevision> loaded;
  };
  Key key;
  std::string uid;  // metadata.uid of the object this state belongs to
  bool records_loaded = false;
  std::map<std::string, Rev> revs;  // by revision name
  int64_t generation = 0;
  json::object status;     // as last read or written
  std::string latest;      // latest created revision
  std::string stable;      // v1alpha2 spec.default revision
  std::string rolled_out;  // v1beta1: the revision that last had 100%
  std::string previous_rolled_out;
  std::optional<int64_t> canary_percent;
  api::FieldErrors spec_errors;
  std::vector<ServedRoute> routes;
  std::string conflict;  // the same name exists in the other API group
};

std::shared_ptr<const LoadedRevision> ServedModel::Pick() const {
  if (!ready || routes.empty()) return nullptr;
  if (routes.size() == 1) return routes.front().revision;
  // Request i goes to the route whose cumulative share first passes (i % 100) + 1, using a
  // bit-reversal-like spread so that each route's requests interleave instead of bunching.
  uint64_t i = counter->fetch_add(1, std::memory_order_relaxed);
  uint64_t slot = (i * 37) % 100;  // 37 is coprime with 100: a permutation of 0..99
  int64_t acc = 0;
  for (const auto& r : routes) {
    acc += r.percent;
    if (static_cast<int64_t>(slot) < acc) return r.revision;
  }
  return routes.back().revision;
}

const ServedModel* ServingTable::Lookup(const std::string& ns, const std::string& name) const {
  auto it = models.find({ns, name});
  return it == models.end() ? nullptr : &it->second;
}

std::vector<const ServedModel*> ServingTable::ByName(const std::string& name) const {
  std::vector<const ServedModel*> out;
  for (const auto& [key, m] : models) {
    if (key.second == name) out.push_back(&m);
  }
  return out;
}

Controller::Controller(store::Store& store, RuntimeRegistry& runtimes, ModelStorage& storage,
                       http::TaskRunner& blocking, http::TaskRunner& cpu, MetricsRegistry* metrics,
                       Clock& clock, ControllerOptions options)
    : store_(store),
      runtimes_(runtimes),
      storage_(storage),
      blocking_(blocking),
      cpu_(cpu),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)) {
  if (metrics_ != nullptr) serving_metrics_ = std::make_unique<ServingMetrics>(*metrics_);
  table_.store(std::make_shared<const ServingTable>());
}

Controller::~Controller() { Stop(); }

void Controller::Post(const std::shared_ptr<Inbox>& inbox, std::function<void(Controller&)> task) {
  std::lock_guard lock(inbox->mu);
  if (inbox->stopping) return;
  inbox->tasks.push_back(std::move(task));
  inbox->cv.notify_all();
}

void Controller::Enqueue(const Key& key) {
  std::lock_guard lock(inbox_->mu);
  if (inbox_->stopping || !inbox_->queued.insert(key).second) return;
  inbox_->tasks.push_back([key](Controller& c) {
    {
      std::lock_guard l(c.inbox_->mu);
      c.inbox_->queued.erase(key);
    }
    c.Reconcile(key);
  });
  inbox_->cv.notify_all();
}

Status Controller::Start() {
  if (!options_.work_dir.empty()) SKIFF_RETURN_IF_ERROR(EnsureDirectory(options_.work_dir, 0700));
  for (const std::string& resource : {KServeResource(), KfservingResource()}) {
    std::string group = GroupOfResource(resource);
    SKIFF_ASSIGN_OR_RETURN(store::ListResult list, store_.List(resource, {}));
    for (const auto& o : list.items) Enqueue({group, o.key.ns, o.key.name});
    store::WatchOptions wo;
    wo.from_version = list.resource_version;
    std::weak_ptr<Inbox> weak = inbox_;
    auto on_event = [this, group, weak](const store::Event& ev) {
      if (weak.lock()) Enqueue({group, ev.object.key.ns, ev.object.key.name});
    };
    auto on_error = [resource](const Status& s) {
      spdlog::error("InferenceService watch on {} ended: {}", resource, s.ToString());
    };
    SKIFF_ASSIGN_OR_RETURN(auto watch, store_.StartWatch(resource, wo, on_event, on_error));
    watches_.push_back(std::move(watch));
  }
  // Revision records whose InferenceService is gone (deleted while skiff was down).
  SKIFF_ASSIGN_OR_RETURN(store::ListResult records,
                         store_.List(std::string(kRevisionResource), {}));
  for (const auto& rec : records.items) {
    std::string group = GetString(rec.object, "metadata.labels." + std::string(kGroupLabel));
    std::string owner = GetString(rec.object, "spec.inferenceService");
    std::string resource = group == kKfservingGroup ? KfservingResource() : KServeResource();
    auto exists = store_.Get({resource, rec.key.ns, owner});
    if (!exists && exists.error().code() == Code::kNotFound) {
      auto deleted = store_.Delete(rec.key, 0);
      (void)deleted;
    }
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Controller::Stop() {
  for (auto& w : watches_) w->Stop();
  watches_.clear();
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->stopping = true;
    inbox_->tasks.clear();
    inbox_->cv.notify_all();
    inbox_->idle_cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool Controller::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_->mu);
  return inbox_->idle_cv.wait_for(lock, timeout, [&] {
    return inbox_->stopping || (inbox_->tasks.empty() && !inbox_->busy && inbox_->loads == 0);
  });
}

void Controller::Run() {
  // Failed loads are looked at every `tick` (real time), whether or not other work keeps the
  // controller busy; their retry times are on clock_.
  const auto tick = std::clamp<std::chrono::steady_clock::duration>(
      options_.retry_backoff, std::chrono::milliseconds(10), std::chrono::seconds(1));
  auto next_check = std::chrono::steady_clock::now() + tick;
  for (;;) {
    std::function<void(Controller&)> task;
    bool check = false;
    {
      std::unique_lock lock(inbox_->mu);
      inbox_->busy = false;
      if (inbox_->tasks.empty() && inbox_->loads == 0) inbox_->idle_cv.notify_all();
      inbox_->cv.wait_until(lock, next_check,
                            [&] { return inbox_->stopping || !inbox_->tasks.empty(); });
      if (inbox_->stopping) return;
      if (auto now = std::chrono::steady_clock::now(); now >= next_check) {
        check = true;
        next_check = now + tick;
      }
      if (!inbox_->tasks.empty()) {
        task = std::move(inbox_->tasks.front());
        inbox_->tasks.pop_front();
        inbox_->busy = true;
      }
    }
    if (check) EnqueueDueRetries();
    if (task) task(*this);
  }
}

void Controller::EnqueueDueRetries() {
  const auto now = clock_.Steady();
  for (const auto& [key, svc] : services_) {
    // Queued requests whose deadline passed while every slot was busy get their 504 now rather
    // than when a slot frees.
    for (const auto& [name, rev] : svc->revs) {
      if (rev.loaded && rev.loaded->executor) rev.loaded->executor->ExpireDeadlines();
    }
    // Reconcile loads nothing for these: enqueueing them would only spin.
    if (!svc->spec_errors.empty() || !svc->conflict.empty()) continue;
    for (const auto& [name, rev] : svc->revs) {
      if (rev.state == ServiceState::Load::kFailed && now >= rev.retry_at &&
          (name == svc->latest || name == svc->stable || name == svc->rolled_out)) {
        Enqueue(key);
      }
    }
  }
}

Status Controller::SaveRecord(const ServiceState& svc, const RevisionRecord& rec) {
  json::object obj{{"apiVersion", "serving.skiff.dev/v1"},
                   {"kind", "Revision"},
                   {"metadata", json::object{{"name", rec.name},
                                             {"namespace", svc.key.ns},
                                             {"labels", json::object{{kServiceLabel, svc.key.name},
                                                                     {kGroupLabel, svc.key.group}}},
                                             {"creationTimestamp", FormatRfc3339(clock_.Now())}}},
                   {"spec", json::object{{"inferenceService", svc.key.name},
                                         {"inferenceServiceUid", svc.uid},
                                         {"number", rec.number},
                                         {"predictor", rec.predictor.ToJson()}}}};
  auto created =
      store_.Create({std::string(kRevisionResource), svc.key.ns, rec.name}, std::move(obj));
  if (!created && created.error().code() != Code::kAlreadyExists) return created.error();
  return Status::Ok();
}

void Controller::EnqueueShadowed(const Key& key) {
  if (key.group != kKServeGroup) return;
  Key other{std::string(kKfservingGroup), key.ns, key.name};
  if (services_.count(other) > 0) Enqueue(other);
}

void Controller::DeleteRecords(const Key& key) {
  store::ListOptions lo;
  lo.ns = key.ns;
  auto sel = store::Selector::Parse(std::string(kServiceLabel) + "=" + key.name + "," +
                                    std::string(kGroupLabel) + "=" + key.group);
  if (!sel) return;
  lo.label_selector = std::move(*sel);
  auto list = store_.List(std::string(kRevisionResource), lo);
  if (!list) return;
  std::vector<store::Mutation> muts;
  for (const auto& o : list->items) {
    muts.push_back({store::Mutation::Op::kDelete, o.key, {}, 0});
  }
  if (!muts.empty()) {
    auto done = store_.Commit(std::move(muts));
    if (!done)
      spdlog::warn("cannot delete revisions of {}/{}: {}", key.ns, key.name,
                   done.error().ToString());
  }
}

std::shared_ptr<ModelExecutor> Controller::MakeExecutor(const LoadedRevision& rev,
                                                        std::shared_ptr<Model> model) {
  ExecutorOptions eo;
  eo.queue_depth = options_.queue_depth;
  if (rev.predictor.container_concurrency > 0) {
    eo.max_concurrency = static_cast<int>(rev.predictor.container_concurrency);
  }
  if (rev.predictor.timeout.count() > 0) {
    eo.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(rev.predictor.timeout);
  }
  return ModelExecutor::Create(std::move(model), ModelLabels{rev.ns, rev.service, rev.name}, &cpu_,
                               serving_metrics_.get(), &clock_, eo);
}

void Controller::StartLoad(ServiceState& svc, const std::string& revision) {
  ServiceState::Rev& rev = svc.revs.at(revision);
  rev.state = ServiceState::Load::kLoading;
  rev.reason.clear();
  rev.message.clear();
  rev.load_id = ++load_seq_;
  Key key = svc.key;
  RevisionRecord record = rev.record;
  uint64_t load_id = rev.load_id;
  std::string work_dir = options_.work_dir.empty()
                             ? std::string()
                             : options_.work_dir + "/" + key.ns + "/" + record.name;
  auto timeout = options_.load_timeout;
  std::shared_ptr<Inbox> inbox = inbox_;
  {
    std::lock_guard lock(inbox->mu);
    ++inbox->loads;
  }
  ModelStorage* storage = &storage_;
  RuntimeRegistry* runtimes = &runtimes_;
  spdlog::info("loading {}/{} revision {} ({} from {})", key.ns, key.name, record.name,
               record.predictor.format, record.predictor.storage_uri);
  blocking_.Post([inbox, key, record, load_id, work_dir, timeout, storage, runtimes] {
    std::string reason;
    Result<std::shared_ptr<Model>> model = Internal("not loaded");
    std::vector<Runtime*> candidates =
        runtimes->Find(record.predictor.format, record.predictor.runtime);
    if (candidates.empty()) {
      reason = "NoSupportingRuntime";
      std::string names;
      for (const auto& r : runtimes->runtimes()) names += (names.empty() ? "" : ", ") + r->Name();
      model = FailedPrecondition(
          "no runtime in this skiff build serves model format \"" + record.predictor.format + "\"" +
          (record.predictor.runtime.empty()
               ? ""
               : " with runtime \"" + record.predictor.runtime + "\"") +
          " (runtimes: " + names +
          "; formats served: sklearn, xgboost, and Python predictors); use one of those formats "
          "or run this model on Kubernetes with KServe");
    } else {
      auto path = storage->Fetch(record.predictor.storage_uri);
      if (!path) {
        reason = "ModelLoadFailed";
        model = path.error().WithPrefix("cannot fetch " + record.predictor.storage_uri);
      } else {
        if (!work_dir.empty()) {
          Status s = EnsureDirectory(work_dir, 0700);
          if (!s.ok()) spdlog::warn("cannot create {}: {}", work_dir, s.message());
        }
        LoadRequest lr;
        lr.model_name = key.name;
        lr.format = record.predictor.format;
        lr.runtime = record.predictor.runtime;
        lr.path = *path;
        lr.protocol = record.predictor.protocol;
        lr.env = record.predictor.env;
        lr.spec = record.predictor.framework;
        lr.work_dir = work_dir;
        lr.timeout = timeout;
        std::string tried;
        for (Runtime* r : candidates) {
          model = r->Load(lr);
          if (model) break;
          tried += (tried.empty() ? "" : "; ") + r->Name() + ": " + model.error().message();
          // FailedPrecondition means "not mine": let the next runtime try.
          if (model.error().code() != Code::kFailedPrecondition) break;
        }
        if (!model) {
          reason = "ModelLoadFailed";
          model = Status(model.error().code(), tried);
        }
      }
    }
    Controller::Post(inbox, [key, name = record.name, load_id, model = std::move(model),
                             reason](Controller& c) mutable {
      {
        std::lock_guard lock(c.inbox_->mu);
        --c.inbox_->loads;
      }
      auto it = c.services_.find(key);
      if (it == c.services_.end()) return;  // deleted meanwhile
      auto rit = it->second->revs.find(name);
      if (rit == it->second->revs.end() || rit->second.load_id != load_id) return;
      ServiceState::Rev& rev = rit->second;
      if (!model) {
        rev.state = ServiceState::Load::kFailed;
        rev.reason = reason;
        rev.message = model.error().message();
        rev.failed_at = FormatRfc3339(c.clock_.Now());
        // Retry with backoff (the file may be fixed in place): retry_backoff (10 s), doubling
        // per consecutive failure, up to retry_backoff_max (5 min).
        rev.failures = std::min(rev.failures + 1, 64);
        auto backoff = c.options_.retry_backoff;
        for (int i = 1; i < rev.failures && backoff < c.options_.retry_backoff_max; ++i) {
          backoff *= 2;
        }
        rev.retry_at = c.clock_.Steady() + std::min(backoff, c.options_.retry_backoff_max);
        spdlog::warn("{}/{} revision {} failed to load: {}", key.ns, key.name, name, rev.message);
      } else {
        auto loaded = std::make_shared<LoadedRevision>();
        loaded->ns = key.ns;
        loaded->service = key.name;
        loaded->name = name;
        loaded->predictor = rev.record.predictor;
        loaded->metadata = (*model)->Metadata();
        loaded->metadata.name = key.name;
        loaded->model = *model;
        loaded->executor = c.MakeExecutor(*loaded, *model);
        rev.loaded = std::move(loaded);
        rev.state = ServiceState::Load::kReady;
        rev.failures = 0;
        spdlog::info("{}/{} revision {} is ready", key.ns, key.name, name);
      }
      c.Enqueue(key);
    });
    std::lock_guard lock(inbox->mu);
    inbox->idle_cv.notify_all();
  });
}

void Controller::Reconcile(const Key& key) {
  std::string resource = key.group == kKfservingGroup ? KfservingResource() : KServeResource();
  auto current = store_.Get({resource, key.ns, key.name});
  if (!current) {
    if (current.error().code() != Code::kNotFound) {
      spdlog::error("reconcile {}/{}: {}", key.ns, key.name, current.error().ToString());
      return;
    }
    if (services_.erase(key) > 0) {
      if (serving_metrics_) serving_metrics_->SetLoadedRevisions(key.ns, key.name, 0);
      spdlog::info("{}/{} deleted: unloading its revisions", key.ns, key.name);
      DeleteRecords(key);
      Publish();
      EnqueueShadowed(key);  // a v1alpha2 service of this name may serve now
    }
    return;
  }
  const json::object& obj = current->object;
  const std::string uid = GetString(obj, "metadata.uid");
  if (auto it = services_.find(key); it != services_.end() && it->second->uid != uid) {
    // Deleted and created again before we looked: a new object, whose revisions start over.
    spdlog::info("{}/{} was replaced: unloading the old object's revisions", key.ns, key.name);
    services_.erase(it);
    DeleteRecords(key);
  }
  auto& slot = services_[key];
  if (!slot) {
    slot = std::make_unique<ServiceState>();
    slot->key = key;
    slot->uid = uid;
    EnqueueShadowed(key);  // a v1alpha2 service of this name no longer serves
  }
  ServiceState& svc = *slot;
  if (const json::value* g = Find(obj, "metadata.generation"); g && g->is_int64()) {
    svc.generation = g->get_int64();
  }
  if (const json::object* st = GetObject(obj, "status")) svc.status = *st;

  // Revision records, once per service (they survive restarts).
  if (!svc.records_loaded) {
    store::ListOptions lo;
    lo.ns = key.ns;
    auto sel = store::Selector::Parse(std::string(kServiceLabel) + "=" + key.name + "," +
                                      std::string(kGroupLabel) + "=" + key.group);
    if (sel) lo.label_selector = std::move(*sel);
    auto list = store_.List(std::string(kRevisionResource), lo);
    if (!list) {
      spdlog::error("reconcile {}/{}: {}", key.ns, key.name, list.error().ToString());
      Enqueue(key);
      return;
    }
    for (const auto& o : list->items) {
      std::string owner_uid = GetString(o.object, "spec.inferenceServiceUid");
      if (!owner_uid.empty() && owner_uid != svc.uid) {
        // Left by an earlier object of the same name (deleted while skiff was down).
        auto deleted = store_.Delete(o.key, o.resource_version);
        (void)deleted;
        continue;
      }
      const json::object* p = GetObject(o.object, "spec.predictor");
      if (p == nullptr) continue;
      auto tmpl = PredictorTemplate::FromJson(*p);
      if (!tmpl) continue;
      ServiceState::Rev rev;
      rev.record.name = o.key.name;
      rev.record.predictor = std::move(*tmpl);
      rev.record.hash = rev.record.predictor.Hash();
      if (const json::value* n = Find(o.object, "spec.number"); n && n->is_int64()) {
        rev.record.number = n->get_int64();
      }
      svc.revs.emplace(rev.record.name, std::move(rev));
    }
    svc.rolled_out = GetString(svc.status, "components.predictor.latestRolledoutRevision");
    svc.previous_rolled_out =
        GetString(svc.status, "components.predictor.previousRolledoutRevision");
    svc.records_loaded = true;
  }

  SpecResult spec = ReadSpec(key.group, obj);
  svc.spec_errors = spec.errors;
  if (spec.state) {
    // Find or create the revision for each template the spec names.
    auto revision_for = [&](const PredictorTemplate& t) -> std::string {
      std::string hash = t.Hash();
      int64_t max_number = 0;
      for (const auto& [name, rev] : svc.revs) {
        if (rev.record.hash == hash) return name;
        max_number = std::max(max_number, rev.record.number);
      }
      RevisionRecord rec;
      rec.number = max_number + 1;
      rec.name = RevisionName(key.group, key.name, rec.number);
      rec.predictor = t;
      rec.hash = hash;
      if (Status s = SaveRecord(svc, rec); !s.ok()) {
        spdlog::error("cannot record revision {}: {}", rec.name, s.ToString());
      }
      ServiceState::Rev rev;
      rev.record = std::move(rec);
      std::string name = rev.record.name;
      svc.revs.emplace(name, std::move(rev));
      return name;
    };
    // The stable (v1alpha2 default) predictor first, so that it gets the lower number.
    svc.stable = spec.state->stable ? revision_for(*spec.state->stable) : std::string();
    svc.latest = revision_for(spec.state->latest);
    svc.canary_percent = spec.state->canary_percent;
  }

  // Another API group already serves this namespace/name?
  svc.conflict.clear();
  if (key.group == kKfservingGroup) {
    auto other = store_.Get({KServeResource(), key.ns, key.name});
    if (other) {
      svc.conflict = "an InferenceService named " + key.name + " in namespace " + key.ns +
                     " exists in serving.kserve.io/v1beta1 too; that one serves the name";
    }
  }

  // Revisions worth keeping: latest, stable, and the ones that serve until the latest is ready.
  // None while another API group's service of this name is served.
  std::set<std::string> keep;
  if (svc.conflict.empty()) {
    keep.insert(svc.latest);
    if (!svc.stable.empty()) keep.insert(svc.stable);
    if (!svc.rolled_out.empty()) keep.insert(svc.rolled_out);
  }
  for (const auto& name : keep) {
    auto it = svc.revs.find(name);
    if (it == svc.revs.end() || !svc.spec_errors.empty()) continue;
    bool retry_due =
        it->second.state == ServiceState::Load::kFailed && clock_.Steady() >= it->second.retry_at;
    if (it->second.state == ServiceState::Load::kIdle || retry_due) StartLoad(svc, name);
  }

  // Traffic.
  auto ready = [&](const std::string& name) {
    auto it = svc.revs.find(name);
    return it != svc.revs.end() && it->second.state == ServiceState::Load::kReady;
  };
  std::vector<std::pair<std::string, int64_t>> split;
  if (svc.spec_errors.empty() && svc.conflict.empty()) {
    if (!svc.stable.empty()) {
      // v1alpha2: default and canary are both named by the spec.
      int64_t p = svc.canary_percent.value_or(0);
      if (ready(svc.stable) && ready(svc.latest) && p > 0 && p < 100) {
        split = {{svc.stable, 100 - p}, {svc.latest, p}};
      } else if (ready(svc.latest) && (p == 100 || !ready(svc.stable))) {
        split = {{svc.latest, 100}};
      } else if (ready(svc.stable)) {
        split = {{svc.stable, 100}};
      }
    } else if (ready(svc.latest)) {
      bool canary = svc.canary_percent && !svc.rolled_out.empty() && svc.rolled_out != svc.latest &&
                    ready(svc.rolled_out) && *svc.canary_percent < 100;
      if (canary && *svc.canary_percent > 0) {
        split = {{svc.rolled_out, 100 - *svc.canary_percent}, {svc.latest, *svc.canary_percent}};
      } else if (canary) {
        split = {{svc.rolled_out, 100}};
      } else {
        split = {{svc.latest, 100}};
        if (svc.rolled_out != svc.latest) {
          svc.previous_rolled_out = svc.rolled_out;
          svc.rolled_out = svc.latest;
        }
      }
    } else if (ready(svc.rolled_out)) {
      split = {{svc.rolled_out, 100}};
    }
  }
  svc.routes.clear();
  for (const auto& [name, percent] : split) {
    svc.routes.push_back({svc.revs.at(name).loaded, percent});
  }
  // Unload what is no longer needed (in-flight requests keep their own reference).
  if (svc.conflict.empty()) keep.insert(svc.rolled_out);
  for (auto it = svc.revs.begin(); it != svc.revs.end(); ++it) {
    if (!keep.count(it->first) && it->second.loaded) {
      spdlog::info("{}/{}: unloading revision {}", key.ns, key.name, it->first);
      it->second.loaded.reset();
      it->second.state = ServiceState::Load::kIdle;
    }
  }
  Publish();
  if (Status s = WriteStatus(svc); !s.ok()) {
    if (s.code() == Code::kAborted) {
      Enqueue(key);  // lost a race with a user's update: try again with the new object
    } else if (s.code() != Code::kNotFound) {
      spdlog::error("cannot write status of {}/{}: {}", key.ns, key.name, s.ToString());
    }
  }
}

void Controller::Publish() {
  auto table = std::make_shared<ServingTable>();
  for (const auto& [key, svc] : services_) {
    ServedModel m;
    m.group = key.group;
    m.ns = key.ns;
    m.name = key.name;
    m.routes = svc->routes;
    m.ready = !svc->routes.empty();
    if (!m.ready) {
      auto it = svc->revs.find(svc->latest);
      if (!svc->spec_errors.empty()) {
        m.reason = "the InferenceService spec is invalid";
      } else if (!svc->conflict.empty()) {
        m.reason = svc->conflict;
      } else if (it != svc->revs.end() && it->second.state == ServiceState::Load::kFailed) {
        m.reason = it->second.message;
      } else {
        m.reason = "the model is loading";
      }
    }
    auto [pos, inserted] = table->models.emplace(std::make_pair(key.ns, key.name), m);
    if (!inserted && key.group == kKServeGroup) pos->second = m;
  }
  if (serving_metrics_) {
    for (const auto& [key, svc] : services_) {
      int loaded = 0;
      for (const auto& [name, rev] : svc->revs) loaded += rev.loaded ? 1 : 0;
      serving_metrics_->SetLoadedRevisions(key.ns, key.name, loaded);
    }
  }
  // Carry request counters over so the split stays exact across publishes.
  auto old = table_.load();
  for (auto& [k, m] : table->models) {
    if (const ServedModel* prev = old->Lookup(k.first, k.second)) m.counter = prev->counter;
  }
  table_.store(std::move(table));
}

Status Controller::WriteStatus(ServiceState& svc) {
  const Key& key = svc.key;
  std::string now = FormatRfc3339(clock_.Now());
  const json::array* prev_conds = nullptr;
  if (const json::value* c = svc.status.if_contains("conditions"); c && c->is_array()) {
    prev_conds = &c->get_array();
  }
  auto rev_of = [&](const std::string& name) -> const ServiceState::Rev* {
    auto it = svc.revs.find(name);
    return it == svc.revs.end() ? nullptr : &it->second;
  };
  const ServiceState::Rev* latest = rev_of(svc.latest);
  bool serving = !svc.routes.empty();

  // PredictorReady follows the latest revision; Ready needs it serving.
  std::string p_status = "Unknown", p_reason = "RevisionLoading", p_message;
  std::string active_state = "Pending", target_state = "Loaded", transition = "InProgress";
  json::object failure;
  if (!svc.spec_errors.empty()) {
    p_status = "False";
    p_reason = "InvalidSpec";
    for (const auto& e : svc.spec_errors)
      p_message += (p_message.empty() ? "" : "; ") + api::FormatFieldError(e);
    transition = "InvalidSpec";
    active_state = "";
    // The same errors as last written keep their time: a status write only when something
    // changed (else every reconcile in a later second would rewrite it).
    std::string since = now;
    if (const json::object* last = GetObject(svc.status, "modelStatus.lastFailureInfo");
        last != nullptr && GetString(*last, "reason") == "InvalidPredictorSpec" &&
        GetString(*last, "message") == p_message) {
      since = GetString(*last, "time", now);
    }
    failure =
        json::object{{"reason", "InvalidPredictorSpec"}, {"message", p_message}, {"time", since}};
  } else if (!svc.conflict.empty()) {
    p_status = "False";
    p_reason = "Conflict";
    p_message = svc.conflict;
  } else if (latest != nullptr) {
    switch (latest->state) {
      case ServiceState::Load::kReady:
        p_status = "True";
        p_reason.clear();
        active_state = "Loaded";
        transition = "UpToDate";
        break;
      case ServiceState::Load::kFailed:
        p_status = "False";
        p_reason = latest->reason.empty() ? "ModelLoadFailed" : latest->reason;
        p_message = "revision " + latest->record.name + " failed to load: " + latest->message;
        if (serving)
          p_message += " (revision " + svc.routes.front().revision->name + " keeps serving)";
        active_state = serving ? "Loaded" : "FailedToLoad";
        target_state = "FailedToLoad";
        transition = "BlockedByFailedLoad";
        failure = json::object{{"reason", p_reason},
                               {"message", latest->message},
                               {"location", latest->record.name},
                               {"time", latest->failed_at}};
        break;
      default:
        p_message = "loading revision " + latest->record.name;
        if (serving)
          p_message += "; revision " + svc.routes.front().revision->name + " keeps serving";
        active_state = serving ? "Loaded" : "Loading";
        break;
    }
  }
  std::string ready_status = p_status == "True" && serving ? "True"
                             : p_status == "Unknown"       ? "Unknown"
                                                           : "False";
  std::string host = key.name + "." + key.ns + "." + options_.domain;
  json::object status;
  status["observedGeneration"] = svc.generation;
  status["url"] = "http://" + host;
  status["address"] =
      json::object{{"url", "http://" + key.name + "." + key.ns + ".svc.cluster.local"}};
  json::array conditions;
  conditions.push_back(api::MakeCondition("IngressReady", "True", "", "", now, prev_conds));
  conditions.push_back(
      api::MakeCondition("PredictorReady", p_status, p_reason, p_message, now, prev_conds));
  conditions.push_back(api::MakeCondition(
      "Ready", ready_status, ready_status == "True" ? "" : p_reason, p_message, now, prev_conds));
  if (key.group == kKfservingGroup) {
    conditions.push_back(api::MakeCondition("DefaultPredictorReady", p_status, p_reason, p_message,
                                            now, prev_conds));
    conditions.push_back(api::MakeCondition("RoutesReady", serving ? "True" : "False",
                                            serving ? "" : "NotServing", "", now, prev_conds));
  }
  status["conditions"] = std::move(conditions);

  json::array traffic;
  int64_t latest_percent = 0, stable_percent = 0;
  for (const auto& r : svc.routes) {
    bool is_latest = r.revision->name == svc.latest;
    json::object t{{"revisionName", r.revision->name},
                   {"percent", r.percent},
                   {"latestRevision", is_latest},
                   {"tag", is_latest ? "latest" : "prev"}};
    traffic.push_back(std::move(t));
    (is_latest ? latest_percent : stable_percent) += r.percent;
  }
  std::string latest_ready;
  for (const auto& [name, rev] : svc.revs) {
    if (rev.state == ServiceState::Load::kReady &&
        (latest_ready.empty() || rev.record.number > rev_of(latest_ready)->record.number)) {
      latest_ready = name;
    }
  }
  json::object predictor{
      {"url", "http://" + key.name + "-predictor." + key.ns + "." + options_.domain},
      {"address",
       json::object{{"url", "http://" + key.name + "-predictor." + key.ns + ".svc.cluster.local"}}},
      {"latestCreatedRevision", svc.latest},
      {"traffic", std::move(traffic)}};
  if (!latest_ready.empty()) predictor["latestReadyRevision"] = latest_ready;
  if (!svc.rolled_out.empty()) predictor["latestRolledoutRevision"] = svc.rolled_out;
  if (!svc.previous_rolled_out.empty())
    predictor["previousRolledoutRevision"] = svc.previous_rolled_out;
  status["components"] = json::object{{"predictor", std::move(predictor)}};
  json::object model_status{
      {"states",
       json::object{{"activeModelState", active_state}, {"targetModelState", target_state}}},
      {"transitionStatus", transition},
      {"copies", json::object{{"failedCopies", failure.empty() ? 0 : 1}, {"totalCopies", 1}}}};
  if (!failure.empty()) model_status["lastFailureInfo"] = std::move(failure);
  status["modelStatus"] = std::move(model_status);
  if (key.group == kKfservingGroup) {
    status["traffic"] = svc.stable.empty() ? latest_percent : stable_percent;
    if (!svc.stable.empty()) status["canaryTraffic"] = latest_percent;
    status["default"] = json::object{
        {"predictor",
         json::object{{"name", svc.stable.empty() ? svc.latest : svc.stable}, {"host", host}}}};
    if (!svc.stable.empty()) {
      status["canary"] =
          json::object{{"predictor", json::object{{"name", svc.latest}, {"host", host}}}};
    }
  }
  if (status == svc.status) return Status::Ok();

  std::string resource = key.group == kKfservingGroup ? KfservingResource() : KServeResource();
  SKIFF_ASSIGN_OR_RETURN(store::Object obj, store_.Get({resource, key.ns, key.name}));
  json::object updated = obj.object;
  updated["status"] = status;
  SKIFF_RETURN_IF_ERROR(
      store_.Update({resource, key.ns, key.name}, std::move(updated), obj.resource_version));
  svc.status = std::move(status);
  return Status::Ok();
}

}  // namespace skiff::serving
