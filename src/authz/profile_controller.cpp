#include "authz/profile_controller.hpp"

#include <algorithm>

#include "api/conditions.hpp"
#include "authz/profile.hpp"
#include "core/log.hpp"

namespace skiff::authz {

namespace {

constexpr int kMaxCommitAttempts = 5;

std::string Str(std::string_view s) { return std::string(s); }

bool IsNotFound(const Status& s) { return s.code() == Code::kNotFound; }

// The ResourceQuota `kf-resource-quota` for a profile's spec.resourceQuotaSpec (Kubeflow copies
// the spec as is; quantities written as numbers become strings, as the API server stores them).
json::object QuotaFor(const json::object& profile, const json::object& spec, Clock& clock) {
  json::object s = spec;
  if (auto* hard = s.if_contains("hard"); hard && hard->is_object()) {
    for (auto& [k, v] : hard->get_object()) {
      if (v.is_int64()) v = std::to_string(v.get_int64());
      if (v.is_uint64()) v = std::to_string(v.get_uint64());
    }
  }
  json::object md = NewMetadata(kProfileQuotaName, GetString(profile, "metadata.name"), clock);
  md["ownerReferences"] = json::array{ProfileOwnerReference(profile)};
  json::object status;
  if (auto* hard = s.if_contains("hard")) status["hard"] = *hard;
  return json::object{{"apiVersion", "v1"},
                      {"kind", "ResourceQuota"},
                      {"metadata", std::move(md)},
                      {"spec", std::move(s)},
                      {"status", std::move(status)}};
}

// Copies `field` of `desired` into `current` when it differs; returns whether it did.
bool Sync(json::object& current, const json::object& desired, std::string_view field) {
  const json::value* want = desired.if_contains(field);
  const json::value* have = current.if_contains(field);
  if (want == nullptr) {
    if (have == nullptr) return false;
    current.erase(field);
    return true;
  }
  if (have != nullptr && *have == *want) return false;
  current[field] = *want;
  return true;
}

// Ensures `key` holds an object like `desired`: created when missing; when present, the fields
// in `fields` and the annotations / ownerReferences of `desired` are made to match.
using OnWrite = std::function<void(const store::Object&, bool)>;

void Notify(const OnWrite& on_write, const store::Object& obj, bool deleted) {
  if (on_write) on_write(obj, deleted);
}

Status EnsureObjectLike(store::Store& store, const store::Key& key, const json::object& desired,
                        std::initializer_list<std::string_view> fields, const OnWrite& on_write) {
  for (int attempt = 0;; ++attempt) {
    auto current = store.Get(key);
    if (!current) {
      if (!IsNotFound(current.error())) return current.error();
      auto created = store.Create(key, desired);
      if (created) {
        Notify(on_write, *created, false);
        spdlog::info("profiles: created {} {}{}{}", key.resource, key.ns, key.ns.empty() ? "" : "/",
                     key.name);
        return Status::Ok();
      }
      if (created.error().code() != Code::kAlreadyExists || attempt + 1 >= kMaxCommitAttempts) {
        return created.error();
      }
      continue;
    }
    json::object obj = current->object;
    bool changed = false;
    for (auto f : fields) changed |= Sync(obj, desired, f);
    json::object& md = EnsureObject(obj, "metadata");
    if (const json::object* want = GetObject(desired, "metadata.annotations")) {
      json::object& ann = EnsureObject(md, "annotations");
      for (const auto& [k, v] : *want) {
        const json::value* have = ann.if_contains(k);
        if (have == nullptr || *have != v) {
          ann[k] = v;
          changed = true;
        }
      }
    }
    if (const json::value* refs = Find(desired, "metadata.ownerReferences")) {
      const json::value* have = md.if_contains("ownerReferences");
      if (have == nullptr || *have != *refs) {
        md["ownerReferences"] = *refs;
        changed = true;
      }
    }
    if (!changed) return Status::Ok();
    auto updated = store.Update(key, std::move(obj), current->resource_version);
    if (updated) {
      Notify(on_write, *updated, false);
      spdlog::info("profiles: updated {} {}{}{}", key.resource, key.ns, key.ns.empty() ? "" : "/",
                   key.name);
      return Status::Ok();
    }
    if (updated.error().code() != Code::kAborted || attempt + 1 >= kMaxCommitAttempts) {
      return updated.error();
    }
  }
}

Status DeleteIfOwned(store::Store& store, const store::Key& key, const std::string& profile,
                     const OnWrite& on_write) {
  auto current = store.Get(key);
  if (!current) return IsNotFound(current.error()) ? Status::Ok() : current.error();
  if (!OwnedByProfile(current->object, profile)) return Status::Ok();
  auto deleted = store.Delete(key, current->resource_version);
  if (!deleted) return IsNotFound(deleted.error()) ? Status::Ok() : deleted.error();
  Notify(on_write, *deleted, true);
  spdlog::info("profiles: deleted {} {}/{} (profile {} is gone)", key.resource, key.ns, key.name,
               profile);
  return Status::Ok();
}

}  // namespace

ProfileController::ProfileController(store::Store& store, const api::KindRegistry& kinds,
                                     Clock& clock, ProfileControllerOptions options)
    : store_(store), kinds_(kinds), clock_(clock), options_(options) {}

ProfileController::~ProfileController() { Stop(); }

Status ProfileController::Start() {
  SKIFF_RETURN_IF_ERROR(ListAndWatch());
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

Status ProfileController::ListAndWatch() {
  SKIFF_ASSIGN_OR_RETURN(store::ListResult profiles, store_.List(Str(kProfileResource), {}));
  for (const auto& p : profiles.items) Enqueue(p.key.name);
  // Objects owned by a Profile that is gone (deleted while skiff was down).
  SKIFF_ASSIGN_OR_RETURN(store::ListResult namespaces, store_.List(Str(kNamespaceResource), {}));
  for (const auto& n : namespaces.items) {
    if (OwnedByProfile(n.object, n.key.name)) Enqueue(n.key.name);
  }
  SKIFF_ASSIGN_OR_RETURN(store::ListResult bindings, store_.List(Str(kRoleBindingsResource), {}));
  for (const auto& b : bindings.items) {
    if (OwnedByProfile(b.object, b.key.ns)) Enqueue(b.key.ns);
  }
  SKIFF_RETURN_IF_ERROR(StartWatch(Str(kProfileResource), profiles.resource_version));
  SKIFF_RETURN_IF_ERROR(StartWatch(Str(kNamespaceResource), namespaces.resource_version));
  return StartWatch(Str(kRoleBindingsResource), bindings.resource_version);
}

void ProfileController::Stop() {
  std::vector<std::unique_ptr<store::Watch>> watches;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    watches = std::move(watches_);
    queue_.clear();
    queued_.clear();
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  for (auto& w : watches) w->Stop();
  if (thread_.joinable()) thread_.join();
}

Status ProfileController::StartWatch(const std::string& resource, int64_t from_version) {
  store::WatchOptions wo;
  wo.from_version = from_version;
  auto on_event = [this, resource](const store::Event& ev) {
    const store::Object& o = ev.object;
    if (resource == kProfileResource) {
      Enqueue(o.key.name);
    } else if (resource == kNamespaceResource) {
      if (OwnedByProfile(o.object, o.key.name)) Enqueue(o.key.name);
    } else if (o.key.name == kOwnerBindingName || OwnedByProfile(o.object, o.key.ns)) {
      Enqueue(o.key.ns);
    }
  };
  auto on_error = [this, resource](const Status& s) {
    // Rare (the controller fell 1000 events behind, or the store closes): start over from a
    // full list so that nothing is missed.
    spdlog::warn("profiles: watch on {} ended ({}); listing again", resource, s.ToString());
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back("");  // "" = relist
    cv_.notify_all();
  };
  SKIFF_ASSIGN_OR_RETURN(auto watch, store_.StartWatch(resource, wo, on_event, on_error));
  std::lock_guard lock(mu_);
  if (stopping_) {
    watch->Stop();
    return Status::Ok();
  }
  watches_.push_back(std::move(watch));
  return Status::Ok();
}

void ProfileController::Enqueue(const std::string& name) {
  std::lock_guard lock(mu_);
  if (stopping_ || name.empty() || !queued_.insert(name).second) return;
  queue_.push_back(name);
  cv_.notify_all();
}

bool ProfileController::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return stopping_ || (queue_.empty() && !busy_); });
}

void ProfileController::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
    // Due retries go back on the queue.
    auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto it = retries_.begin(); it != retries_.end();) {
      if (it->second <= now) {
        if (queued_.insert(it->first).second) queue_.push_back(it->first);
        it = retries_.erase(it);
      } else {
        next = std::min(next, it->second);
        ++it;
      }
    }
    if (queue_.empty()) {
      if (next == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      } else {
        cv_.wait_until(lock, next, [&] { return stopping_ || !queue_.empty(); });
      }
    }
    if (stopping_) return;
    if (queue_.empty()) continue;
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    queued_.erase(name);
    busy_ = true;
    lock.unlock();
    Status s;
    if (name.empty()) {
      std::vector<std::unique_ptr<store::Watch>> old;
      {
        std::lock_guard l(mu_);
        old = std::move(watches_);
      }
      for (auto& w : old) w->Stop();
      old.clear();
      s = ListAndWatch();
      if (!s.ok()) spdlog::error("profiles: cannot list and watch again: {}", s.ToString());
    } else {
      s = Reconcile(name);
      if (!s.ok())
        spdlog::warn("profiles: reconciling {} failed (retrying): {}", name, s.ToString());
    }
    lock.lock();
    if (!s.ok() && !stopping_) {
      retries_[name] = std::chrono::steady_clock::now() + options_.retry_delay;
    }
  }
}

Status ProfileController::Reconcile(const std::string& name) {
  auto profile = store_.Get({Str(kProfileResource), "", name});
  if (!profile) {
    if (IsNotFound(profile.error())) return CollectOrphans(name);
    return profile.error();
  }
  return EnsureProfile(*profile);
}

Status ProfileController::EnsureProfile(const store::Object& p) {
  const json::object& profile = p.object;
  const std::string name = p.key.name;
  const std::string owner = ProfileOwner(profile);
  if (owner.empty()) {
    return WriteStatus(p, false, "InvalidOwner", "spec.owner.name is empty");
  }

  // The namespace: created, or adopted when it is ours or names the same owner.
  store::Key ns_key{Str(kNamespaceResource), "", name};
  json::object desired_ns = ProfileNamespace(profile, clock_);
  for (int attempt = 0;; ++attempt) {
    auto ns = store_.Get(ns_key);
    if (!ns) {
      if (!IsNotFound(ns.error())) return ns.error();
      auto created = store_.Create(ns_key, desired_ns);
      if (created) {
        spdlog::info("profiles: created namespace {} for {}", name, owner);
        break;
      }
      if (created.error().code() == Code::kAlreadyExists && attempt + 1 < kMaxCommitAttempts) {
        continue;
      }
      return created.error();
    }
    json::object obj = ns->object;
    const bool ours = OwnedByProfile(obj, name);
    const std::string annotated = GetString(obj, "metadata.annotations.owner");
    if (!ours && annotated != owner) {
      return WriteStatus(
          p, false, "NamespaceOwnedByOther",
          "namespace already exist, but not owned by profile creator " + owner +
              (annotated.empty() ? std::string(" (it has no owner annotation)")
                                 : " (its owner annotation names " + annotated + ")"));
    }
    bool changed = false;
    json::object& md = EnsureObject(obj, "metadata");
    json::object& labels = EnsureObject(md, "labels");
    for (const auto& [k, v] : ProfileNamespaceLabels()) {
      const json::value* have = labels.if_contains(k);
      if (have == nullptr || *have != v) {
        labels[k] = v;
        changed = true;
      }
    }
    if (ours) {
      // The owner may have changed; the Profile may have been re-created under the same name.
      json::object& ann = EnsureObject(md, "annotations");
      if (GetString(ann, "owner") != owner) {
        ann["owner"] = owner;
        changed = true;
      }
      json::array refs{ProfileOwnerReference(profile)};
      if (const json::value* have = md.if_contains("ownerReferences"); !have || *have != refs) {
        md["ownerReferences"] = std::move(refs);
        changed = true;
      }
    }
    if (!changed) break;
    auto updated = store_.Update(ns_key, std::move(obj), ns->resource_version);
    if (updated) break;
    if (updated.error().code() != Code::kAborted || attempt + 1 >= kMaxCommitAttempts) {
      return updated.error();
    }
  }

  // The owner RoleBinding.
  SKIFF_RETURN_IF_ERROR(EnsureObjectLike(
      store_, {Str(kRoleBindingsResource), name, Str(kOwnerBindingName)},
      OwnerRoleBinding(profile, clock_), {"roleRef", "subjects"}, options_.on_write));

  // The ResourceQuota, when the profile sets one.
  store::Key quota_key{Str(kResourceQuotaResource), name, Str(kProfileQuotaName)};
  const json::object* quota_spec = GetObject(profile, "spec.resourceQuotaSpec");
  const json::object* hard = GetObject(profile, "spec.resourceQuotaSpec.hard");
  if (quota_spec != nullptr && hard != nullptr && !hard->empty()) {
    SKIFF_RETURN_IF_ERROR(EnsureObjectLike(store_, quota_key,
                                           QuotaFor(profile, *quota_spec, clock_),
                                           {"spec", "status"}, options_.on_write));
  } else {
    SKIFF_RETURN_IF_ERROR(DeleteIfOwned(store_, quota_key, name, options_.on_write));
  }
  return WriteStatus(p, true, "Ready",
                     "namespace " + name + " and its owner binding for " + owner + " are in place");
}

Status ProfileController::WriteStatus(const store::Object& p, bool ready, const std::string& reason,
                                      const std::string& message) {
  const json::array* previous = nullptr;
  if (const json::value* c = Find(p.object, "status.conditions"); c && c->is_array()) {
    previous = &c->get_array();
  }
  std::string now = FormatRfc3339(clock_.Now());
  json::array conds;
  conds.push_back(
      api::MakeCondition("Ready", ready ? "True" : "False", reason, message, now, previous));
  // Kubeflow's own failure condition, for tools that look for it.
  if (!ready) conds.push_back(api::MakeCondition("Failed", "True", reason, message, now, previous));
  if (previous != nullptr && *previous == conds) return Status::Ok();
  // Unchanged apart from transition times? Then nothing to write either.
  if (previous != nullptr && previous->size() == conds.size()) {
    bool same = true;
    for (size_t i = 0; i < conds.size() && same; ++i) {
      const auto& a = (*previous)[i];
      const auto& b = conds[i];
      for (const char* f : {"type", "status", "reason", "message"}) {
        same = same && GetString(a, f) == GetString(b, f);
      }
    }
    if (same) return Status::Ok();
  }
  if (!ready) spdlog::warn("profiles: profile {} is not ready: {}", p.key.name, message);
  json::object obj = p.object;
  EnsureObject(obj, "status")["conditions"] = std::move(conds);
  auto updated = store_.Update(p.key, std::move(obj), p.resource_version);
  if (!updated) {
    // A newer version of the profile: its own event reconciles it again.
    if (updated.error().code() == Code::kAborted || IsNotFound(updated.error())) {
      return Status::Ok();
    }
    return updated.error();
  }
  return Status::Ok();
}

Status ProfileController::CollectOrphans(const std::string& name) {
  auto ns = store_.Get({Str(kNamespaceResource), "", name});
  if (!ns) return IsNotFound(ns.error()) ? Status::Ok() : ns.error();
  if (OwnedByProfile(ns->object, name)) return DeleteNamespace(name);
  // An adopted namespace stays; what the profile added to it goes.
  SKIFF_RETURN_IF_ERROR(DeleteIfOwned(
      store_, {Str(kRoleBindingsResource), name, Str(kOwnerBindingName)}, name, options_.on_write));
  return DeleteIfOwned(store_, {Str(kResourceQuotaResource), name, Str(kProfileQuotaName)}, name,
                       options_.on_write);
}

Status ProfileController::DeleteNamespace(const std::string& ns) {
  std::vector<std::string> resources{Str(kRoleBindingsResource), Str(kResourceQuotaResource)};
  for (const auto& k : kinds_.NamespacedKinds()) {
    std::string r = k->StorageResource();
    if (std::find(resources.begin(), resources.end(), r) == resources.end()) resources.push_back(r);
  }
  for (int attempt = 0;; ++attempt) {
    auto current = store_.Get({Str(kNamespaceResource), "", ns});
    if (!current) return IsNotFound(current.error()) ? Status::Ok() : current.error();
    if (!OwnedByProfile(current->object, ns)) return Status::Ok();
    std::vector<store::Mutation> mutations;
    for (const auto& r : resources) {
      store::ListOptions lo;
      lo.ns = ns;
      SKIFF_ASSIGN_OR_RETURN(store::ListResult items, store_.List(r, lo));
      for (const auto& o : items.items) {
        mutations.push_back({store::Mutation::Op::kDelete, o.key, {}, o.resource_version});
      }
    }
    size_t contents = mutations.size();
    mutations.push_back(
        {store::Mutation::Op::kDelete, current->key, {}, current->resource_version});
    auto done = store_.Commit(std::move(mutations));
    if (done) {
      for (const auto& o : *done) Notify(options_.on_write, o, true);
      spdlog::info("profiles: deleted namespace {} and {} object(s) in it (its profile is gone)",
                   ns, contents);
      return Status::Ok();
    }
    if (done.error().code() != Code::kAborted || attempt + 1 >= kMaxCommitAttempts) {
      return done.error();
    }
  }
}

}  // namespace skiff::authz
