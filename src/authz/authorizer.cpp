#include "authz/authorizer.hpp"

#include <algorithm>

#include "api/validation.hpp"
#include "authz/roles.hpp"
#include "core/log.hpp"

namespace skiff::authz {

namespace {

bool Has(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string WhoName(const Principal& who) {
  return who.name.empty() ? std::string("system:anonymous") : who.name;
}

// Appends `inferenceservices.serving.kserve.io "m" in namespace "team-b"` (no verb) to `s`.
// Appends rather than concatenates: Decide writes a reason on every call, on request paths.
void AppendTarget(std::string& s, const Attributes& a) {
  s += a.resource;
  if (!a.group.empty()) {
    s += '.';
    s += a.group;
  }
  if (!a.subresource.empty()) {
    s += '/';
    s += a.subresource;
  }
  if (!a.name.empty()) {
    s += " \"";
    s += a.name;
    s += '"';
  }
  if (!a.ns.empty()) {
    s += " in namespace \"";
    s += a.ns;
    s += '"';
  } else if (a.name.empty() && (a.verb == "list" || a.verb == "watch")) {
    s += " in all namespaces";
  } else {
    s += " at the cluster scope";
  }
}

// `alice may "delete" ` or `alice may not "delete" ` followed by the target.
std::string Sentence(const Principal& who, bool allowed, const Attributes& a, size_t extra) {
  std::string s;
  s.reserve(who.name.size() + a.verb.size() + a.resource.size() + a.group.size() +
            a.subresource.size() + a.name.size() + a.ns.size() + extra + 48);
  s += who.name.empty() ? std::string_view("system:anonymous") : std::string_view(who.name);
  s += allowed ? " may \"" : " may not \"";
  s += a.verb;
  s += "\" ";
  AppendTarget(s, a);
  return s;
}

std::string RoleList() {
  return std::string(kAdminRole) + ", " + std::string(kEditRole) + " or " + std::string(kViewRole);
}

}  // namespace

std::string Attributes::ToString() const {
  std::string s = verb + " ";
  AppendTarget(s, *this);
  return s;
}

Result<std::vector<GroupMapping>> ParseGroupMappings(const json::value& section) {
  std::vector<GroupMapping> out;
  if (section.is_null()) return out;
  if (!section.is_object()) {
    return InvalidArgument(
        "authz.groups: must map group names to {clusterAdmin: true} or {role: ROLE, "
        "namespaces: [NS, ...]}");
  }
  for (const auto& [key, value] : section.get_object()) {
    std::string path = "authz.groups." + std::string(key);
    GroupMapping m;
    m.group = std::string(key);
    if (m.group.empty()) return InvalidArgument("authz.groups: a group name is empty");
    if (!value.is_object()) {
      return InvalidArgument(path +
                             ": must be {clusterAdmin: true} or {role: ROLE, namespaces: [NS]}");
    }
    const json::object& o = value.get_object();
    for (const auto& [field, _] : o) {
      if (field != "clusterAdmin" && field != "role" && field != "namespaces") {
        return InvalidArgument(path + "." + std::string(field) +
                               ": unknown field (known: clusterAdmin, role, namespaces)");
      }
    }
    if (const json::value* ca = o.if_contains("clusterAdmin")) {
      if (!ca->is_bool()) return InvalidArgument(path + ".clusterAdmin: must be true or false");
      m.cluster_admin = ca->get_bool();
    }
    if (const json::value* role = o.if_contains("role")) {
      if (!role->is_string()) return InvalidArgument(path + ".role: must be a string");
      m.role = std::string(role->get_string());
      if (FindRole(m.role) == nullptr) {
        return InvalidArgument(path + ".role: \"" + m.role + "\" is not a role: use " + RoleList());
      }
    }
    if (const json::value* nss = o.if_contains("namespaces")) {
      if (!nss->is_array()) return InvalidArgument(path + ".namespaces: must be a list");
      for (const auto& ns : nss->get_array()) {
        if (!ns.is_string()) {
          return InvalidArgument(path + ".namespaces: every entry must be a namespace name");
        }
        std::string name(ns.get_string());
        if (std::string err = api::CheckDns1123Label(name); !err.empty()) {
          return InvalidArgument(path + ".namespaces: \"" + name +
                                 "\" is not a namespace name: " + err);
        }
        if (!Has(m.namespaces, name)) m.namespaces.push_back(std::move(name));
      }
    }
    if (m.cluster_admin) {
      if (!m.role.empty() || !m.namespaces.empty()) {
        return InvalidArgument(path +
                               ": clusterAdmin: true already allows everything; drop role and "
                               "namespaces");
      }
    } else if (m.role.empty()) {
      return InvalidArgument(path + ": needs clusterAdmin: true, or role (" + RoleList() +
                             ") with namespaces");
    } else if (m.namespaces.empty()) {
      return InvalidArgument(path + ".namespaces: list the namespaces where the group holds " +
                             m.role);
    }
    out.push_back(std::move(m));
  }
  return out;
}

struct RbacAuthorizer::Snapshot {
  // Namespace -> its valid RoleBindings, by name.
  std::map<std::string, std::vector<std::shared_ptr<const Binding>>> by_ns;
};

namespace {

// A role `who` holds in a namespace and where it comes from (a binding or a group mapping; the
// rule's text is made only when it is shown).
struct Held {
  const Role* role = nullptr;
  const Binding* binding = nullptr;
  const GroupMapping* mapping = nullptr;
  const std::string* ns = nullptr;

  std::string Rule() const {
    if (binding != nullptr) {
      return "RoleBinding " + binding->ns + "/" + binding->name + " (" + role->name + ")";
    }
    return "authz.groups." + mapping->group + " (" + role->name + " in " + *ns + ")";
  }
};

}  // namespace

RbacAuthorizer::RbacAuthorizer(store::Store& store, RbacOptions options)
    : store_(store), options_(std::move(options)) {
  snapshot_.store(std::make_shared<const Snapshot>());
}

RbacAuthorizer::~RbacAuthorizer() { Stop(); }

Status RbacAuthorizer::Start() {
  SKIFF_RETURN_IF_ERROR(Relist());
  int64_t version = 0;
  {
    std::lock_guard lock(mu_);
    version = watch_version_;
  }
  SKIFF_RETURN_IF_ERROR(StartWatch(version));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void RbacAuthorizer::Stop() {
  std::unique_ptr<store::Watch> watch;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    watch = std::move(watch_);
  }
  cv_.notify_all();
  if (watch) watch->Stop();
  if (thread_.joinable()) thread_.join();
}

Status RbacAuthorizer::Relist() {
  SKIFF_ASSIGN_OR_RETURN(store::ListResult list,
                         store_.List(std::string(kRoleBindingResource), {}));
  std::lock_guard lock(mu_);
  // The list is the state at its version; entries observed since (newer) are kept.
  std::map<std::string, Entry> next;
  for (const auto& item : list.items) {
    Entry e;
    e.resource_version = item.resource_version;
    auto b = ParseBinding(item);
    if (b) {
      e.binding = std::make_shared<const Binding>(std::move(*b));
    } else {
      spdlog::error("{}; it grants nothing", b.error().message());
    }
    next[item.key.ns + "/" + item.key.name] = std::move(e);
  }
  for (auto& [key, e] : entries_) {
    if (e.resource_version > list.resource_version) next[key] = e;
  }
  entries_ = std::move(next);
  watch_version_ = std::max(watch_version_, list.resource_version);
  PublishLocked();
  return Status::Ok();
}

Status RbacAuthorizer::StartWatch(int64_t from_version) {
  store::WatchOptions wo;
  wo.from_version = from_version;
  auto on_event = [this](const store::Event& ev) {
    std::lock_guard lock(mu_);
    ApplyLocked(ev.object, ev.type == store::EventType::kDeleted);
    watch_version_ = std::max(watch_version_, ev.object.resource_version);
    // Tombstones the watch has passed can no longer be undone by an older event.
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!it->second.binding && it->second.resource_version <= watch_version_) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    PublishLocked();
  };
  auto on_error = [this](const Status& s) {
    spdlog::warn("RoleBinding watch ended ({}); listing again", s.ToString());
    {
      std::lock_guard lock(mu_);
      rewatch_ = true;
    }
    cv_.notify_all();
  };
  SKIFF_ASSIGN_OR_RETURN(
      auto watch, store_.StartWatch(std::string(kRoleBindingResource), wo, on_event, on_error));
  std::lock_guard lock(mu_);
  if (stopping_) {
    watch->Stop();
    return Status::Ok();
  }
  watch_ = std::move(watch);
  return Status::Ok();
}

void RbacAuthorizer::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || rewatch_; });
    if (stopping_) return;
    rewatch_ = false;
    std::unique_ptr<store::Watch> old = std::move(watch_);
    lock.unlock();
    if (old) old->Stop();
    Status s = Relist();
    if (s.ok()) {
      int64_t version = 0;
      {
        std::lock_guard l(mu_);
        version = watch_version_;
      }
      s = StartWatch(version);
    }
    lock.lock();
    if (!s.ok()) {
      spdlog::error("cannot watch RoleBindings: {}; retrying", s.ToString());
      // Retried after a pause (or at once on Stop).
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      rewatch_ = true;
    }
  }
}

void RbacAuthorizer::Observe(const store::Object& obj, bool deleted) {
  if (obj.key.resource != kRoleBindingResource) return;
  std::lock_guard lock(mu_);
  // The watch has delivered this version already (and maybe newer ones of the same object,
  // whose tombstones are gone): the index is at least as new.
  if (obj.resource_version <= watch_version_) return;
  ApplyLocked(obj, deleted);
  PublishLocked();
}

void RbacAuthorizer::ApplyLocked(const store::Object& obj, bool deleted) {
  std::string key = obj.key.ns + "/" + obj.key.name;
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.resource_version >= obj.resource_version) return;
  Entry e;
  e.resource_version = obj.resource_version;
  if (!deleted) {
    auto b = ParseBinding(obj);
    if (b) {
      e.binding = std::make_shared<const Binding>(std::move(*b));
    } else {
      spdlog::error("{}; it grants nothing", b.error().message());
    }
  }
  entries_[key] = std::move(e);
}

void RbacAuthorizer::PublishLocked() {
  auto snap = std::make_shared<Snapshot>();
  for (const auto& [key, e] : entries_) {
    if (e.binding) snap->by_ns[e.binding->ns].push_back(e.binding);  // map order: by name
  }
  snapshot_.store(std::move(snap));
  generation_.fetch_add(1);
}

Decision RbacAuthorizer::Decide(const Principal& who, const Attributes& what) const {
  return Decide(who, what, nullptr);
}

Decision RbacAuthorizer::Decide(const Principal& who, const Attributes& what,
                                std::string* detail) const {
  auto allow = [&](std::string rule, std::string_view why) {
    Decision d;
    d.allowed = true;
    d.reason = Sentence(who, true, what, why.size() + 3);
    d.reason += " (";
    d.reason += why;
    d.reason += ')';
    d.rule = std::move(rule);
    if (detail != nullptr) *detail = std::string(why);
    return d;
  };
  auto deny = [&](std::string why) {
    Decision d;
    d.reason = Sentence(who, false, what, why.size() + 2);
    d.reason += ": ";
    d.reason += why;
    if (detail != nullptr) *detail = std::move(why);
    return d;
  };

  // 1. Cluster admins.
  if (who.cluster_admin) {
    std::string rule;
    if (who.method == "token" && Has(who.groups, "system:masters")) {
      rule = "bootstrap token";
    } else if (who.method == "internal") {
      rule = "skiff (internal)";
    } else if (Has(options_.admin_users, who.name)) {
      rule = "auth.admins (user " + who.name + ")";
    } else {
      for (const auto& g : who.groups) {
        if (Has(options_.admin_groups, g)) {
          rule = "auth.adminGroups (group " + g + ")";
          break;
        }
      }
      if (rule.empty()) rule = "cluster admin (" + who.method + ")";
    }
    return allow(std::move(rule), "cluster admin");
  }
  for (const auto& m : options_.groups) {
    if (m.cluster_admin && Has(who.groups, m.group)) {
      return allow("authz.groups." + m.group + " (cluster admin)", "cluster admin");
    }
  }
  // 2. What every authenticated user may do.
  if (BasicUserAllows(what.verb, what.group, what.resource, what.subresource)) {
    return allow("system:basic-user", "every authenticated user");
  }

  auto snap = snapshot_.load();
  // Every role `who` holds in `ns`: RoleBindings by name, then group mappings in file order.
  auto held_in = [&](const std::string& ns) {
    std::vector<Held> held;
    if (auto it = snap->by_ns.find(ns); it != snap->by_ns.end()) {
      for (const auto& b : it->second) {
        if (!b->Matches(who)) continue;
        if (const Role* r = FindRole(b->role)) {
          held.push_back({r, b.get(), nullptr, &ns});
        }
      }
    }
    for (const auto& m : options_.groups) {
      if (m.cluster_admin || !Has(m.namespaces, ns) || !Has(who.groups, m.group)) continue;
      if (const Role* r = FindRole(m.role)) {
        held.push_back({r, nullptr, &m, &ns});
      }
    }
    return held;
  };

  // 3. Cluster scope.
  if (what.ns.empty()) {
    bool named_space = (what.group.empty() && what.resource == "namespaces") ||
                       (what.group == "kubeflow.org" && what.resource == "profiles");
    if (named_space && (what.verb == "get" || what.verb == "watch") && what.subresource.empty() &&
        !what.name.empty()) {
      auto held = held_in(what.name);
      if (!held.empty()) {
        return allow(held.front().Rule(), held.front().role->name + " in " + Quote(what.name));
      }
      return deny("no RoleBinding or group mapping gives " + WhoName(who) +
                  " a role in namespace " + Quote(what.name));
    }
    if (what.name.empty() && (what.verb == "list" || what.verb == "watch")) {
      return deny("only cluster admins may " + what.verb +
                  " across all namespaces; name a namespace where you hold a role (-n NS)");
    }
    return deny("only cluster admins act at the cluster scope");
  }

  // 4. Roles in the namespace.
  auto held = held_in(what.ns);
  for (const auto& h : held) {
    if (RoleAllows(*h.role, what.verb, what.group, what.resource, what.subresource)) {
      return allow(h.Rule(), h.role->name);
    }
  }
  const Role* needed = LowestRoleAllowing(what.verb, what.group, what.resource, what.subresource);
  if (needed == nullptr) {
    return deny("no Kubeflow role grants it (only cluster admins may)");
  }
  std::string why = "needs " + needed->name + " in " + Quote(what.ns);
  if (held.empty()) {
    why += "; no RoleBinding or group mapping gives " + WhoName(who) + " a role there";
  } else {
    why += "; holds ";
    for (size_t i = 0; i < held.size(); ++i) {
      if (i) why += ", ";
      why += held[i].Rule();
    }
  }
  return deny(std::move(why));
}

bool RbacAuthorizer::Allows(const Principal& who, const Attributes& what) const {
  // The same order and rules as Decide (a test compares them), without the texts.
  if (who.cluster_admin) return true;
  for (const auto& m : options_.groups) {
    if (m.cluster_admin && Has(who.groups, m.group)) return true;
  }
  if (BasicUserAllows(what.verb, what.group, what.resource, what.subresource)) return true;
  if (what.ns.empty()) return Decide(who, what).allowed;  // cluster scope: rare on hot paths
  auto snap = snapshot_.load();
  if (auto it = snap->by_ns.find(what.ns); it != snap->by_ns.end()) {
    for (const auto& b : it->second) {
      if (!b->Matches(who)) continue;
      const Role* r = FindRole(b->role);
      if (r != nullptr && RoleAllows(*r, what.verb, what.group, what.resource, what.subresource)) {
        return true;
      }
    }
  }
  for (const auto& m : options_.groups) {
    if (m.cluster_admin || !Has(m.namespaces, what.ns) || !Has(who.groups, m.group)) continue;
    const Role* r = FindRole(m.role);
    if (r != nullptr && RoleAllows(*r, what.verb, what.group, what.resource, what.subresource)) {
      return true;
    }
  }
  return false;
}

bool RbacAuthorizer::ConfiguredAdmin(const Principal& who) const {
  if (Has(options_.admin_users, who.name)) return true;
  for (const auto& g : who.groups) {
    if (Has(options_.admin_groups, g)) return true;
  }
  return false;
}

std::vector<NamespaceRole> RbacAuthorizer::NamespacesOf(const Principal& who) const {
  auto snap = snapshot_.load();
  // Namespace -> (rank, role, rule) of the highest-ranked role held there.
  std::map<std::string, NamespaceRole> best;
  std::map<std::string, int> rank;
  auto offer = [&](const std::string& ns, const Role& role, std::string rule) {
    auto it = rank.find(ns);
    if (it != rank.end() && it->second >= role.rank) return;
    rank[ns] = role.rank;
    best[ns] = NamespaceRole{ns, role.name, std::move(rule)};
  };
  for (const auto& [ns, bindings] : snap->by_ns) {
    for (const auto& b : bindings) {
      if (!b->Matches(who)) continue;
      if (const Role* r = FindRole(b->role)) {
        offer(ns, *r, "RoleBinding " + b->ns + "/" + b->name + " (" + r->name + ")");
      }
    }
  }
  for (const auto& m : options_.groups) {
    if (m.cluster_admin || !Has(who.groups, m.group)) continue;
    const Role* r = FindRole(m.role);
    if (r == nullptr) continue;
    for (const auto& ns : m.namespaces) {
      offer(ns, *r, "authz.groups." + m.group + " (" + r->name + " in " + ns + ")");
    }
  }
  std::vector<NamespaceRole> out;
  out.reserve(best.size());
  for (auto& [ns, nr] : best) out.push_back(std::move(nr));
  return out;
}

}  // namespace skiff::authz
