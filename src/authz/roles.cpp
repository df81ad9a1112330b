#include "authz/roles.hpp"

#include <algorithm>
#include <map>

namespace skiff::authz {

namespace {

const std::vector<std::string> kRead = {"get", "list", "watch"};
const std::vector<std::string> kWrite = {"create", "update", "patch", "delete", "deletecollection"};

std::vector<std::string> Join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What Kubeflow's aggregated roles cover, by the components skiff serves or stores: core
// workload kinds (as kubeflow-kubernetes-*), KServe (kubeflow-kserve-*), Istio
// (kubeflow-istio-*), Kubeflow Pipelines (aggregate-to-kubeflow-pipelines-*), notebooks, Katib
// and Argo workflows.
const std::vector<std::string> kCoreReadable = {
    "configmaps", "endpoints", "events",         "limitranges",     "persistentvolumeclaims",
    "pods",       "pods/log",  "resourcequotas", "serviceaccounts", "services"};
const std::vector<std::string> kCoreWritable = {"configmaps", "persistentvolumeclaims", "pods",
                                                "services"};
const std::vector<std::string> kKServe = {"inferenceservices", "inferenceservices/status",
                                          "servingruntimes",   "servingruntimes/status",
                                          "trainedmodels",     "inferencegraphs"};
const std::vector<std::string> kKServeWritable = {"inferenceservices", "servingruntimes",
                                                  "trainedmodels", "inferencegraphs"};
const std::vector<std::string> kIstio = {"virtualservices", "virtualservices/status",
                                         "destinationrules"};
const std::vector<std::string> kIstioWritable = {"virtualservices", "destinationrules"};
const std::vector<std::string> kPipelines = {
    "pipelines", "pipelines/versions", "experiments", "runs", "jobs",
    "viewers",   "scheduledworkflows"};
const std::vector<std::string> kKubeflow = {"notebooks",   "poddefaults", "tensorboards",
                                            "experiments", "trials",      "suggestions"};
const std::vector<std::string> kRbac = {"rolebindings", "roles"};

std::vector<PolicyRule> ViewRules() {
  return {
      {{""}, kCoreReadable, kRead},
      {{"serving.kserve.io", "serving.kubeflow.org"}, kKServe, kRead},
      // Calling a model (V1/V2 predict, explain) is the "predict" verb on its InferenceService.
      {{"serving.kserve.io", "serving.kubeflow.org"}, {"inferenceservices"}, {"predict"}},
      {{"networking.istio.io"}, kIstio, kRead},
      {{"pipelines.kubeflow.org"}, kPipelines, kRead},
      {{"pipelines.kubeflow.org"}, {"runs"}, {"readArtifact"}},
      {{"kubeflow.org"}, kKubeflow, kRead},
      {{"argoproj.io"}, {"workflows"}, kRead},
      // Contributors may see who else shares the namespace (Kubeflow's dashboard lists them).
      {{"rbac.authorization.k8s.io"}, kRbac, kRead},
  };
}

std::vector<PolicyRule> EditRules() {
  std::vector<PolicyRule> rules = ViewRules();
  std::vector<PolicyRule> more = {
      {{""}, kCoreWritable, kWrite},
      {{"serving.kserve.io", "serving.kubeflow.org"}, kKServeWritable, kWrite},
      {{"networking.istio.io"}, kIstioWritable, kWrite},
      // KFP's own verbs next to the write verbs (aggregate-to-kubeflow-pipelines-edit).
      {{"pipelines.kubeflow.org"},
       kPipelines,
       Join(kWrite,
            {"archive", "unarchive", "terminate", "retry", "reportMetrics", "enable", "disable"})},
      {{"kubeflow.org"}, kKubeflow, kWrite},
      {{"argoproj.io"}, {"workflows"}, kWrite},
  };
  rules.insert(rules.end(), more.begin(), more.end());
  return rules;
}

std::vector<PolicyRule> AdminRules() {
  std::vector<PolicyRule> rules = EditRules();
  // Managing the namespace's contributors: its RoleBindings.
  rules.push_back({{"rbac.authorization.k8s.io"}, kRbac, kWrite});
  return rules;
}

const std::vector<Role>& AllRoles() {
  static const std::vector<Role> kRoles = {
      {std::string(kViewRole), 1,
       "read the namespace's resources (models, routes, pipelines, runs, contributors) and call "
       "its models",
       ViewRules()},
      {std::string(kEditRole), 2,
       "kubeflow-view, and create, change and delete models, routes, pipelines and runs",
       EditRules()},
      {std::string(kAdminRole), 3,
       "kubeflow-edit, and manage the namespace's contributors (RoleBindings)", AdminRules()},
  };
  return kRoles;
}

bool Contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// group -> "plural[/subresource]" -> verbs. The roles' rules have no wildcards.
using ResourceIndex = std::map<std::string, std::vector<std::string>, std::less<>>;
using GroupIndex = std::map<std::string, ResourceIndex, std::less<>>;

GroupIndex Compile(const std::vector<PolicyRule>& rules) {
  GroupIndex index;
  for (const auto& r : rules) {
    for (const auto& g : r.groups) {
      for (const auto& res : r.resources) {
        auto& verbs = index[g][res];
        for (const auto& v : r.verbs) {
          if (!Contains(verbs, v)) verbs.push_back(v);
        }
      }
    }
  }
  return index;
}

bool IndexAllows(const GroupIndex& index, std::string_view verb, std::string_view group,
                 std::string_view resource, std::string_view subresource) {
  auto g = index.find(group);
  if (g == index.end()) return false;
  ResourceIndex::const_iterator it;
  if (subresource.empty()) {
    it = g->second.find(resource);
  } else {
    std::string full;
    full.reserve(resource.size() + 1 + subresource.size());
    full += resource;
    full += '/';
    full += subresource;
    it = g->second.find(full);
  }
  return it != g->second.end() && Contains(it->second, verb);
}

const std::vector<GroupIndex>& RoleIndexes() {
  static const std::vector<GroupIndex> kIndexes = [] {
    std::vector<GroupIndex> out;
    for (const auto& r : AllRoles()) out.push_back(Compile(r.rules));
    return out;
  }();
  return kIndexes;
}

}  // namespace

std::span<const Role> Roles() { return AllRoles(); }

bool RoleAllows(const Role& role, std::string_view verb, std::string_view group,
                std::string_view resource, std::string_view subresource) {
  const auto& roles = AllRoles();
  for (size_t i = 0; i < roles.size(); ++i) {
    if (&roles[i] == &role)
      return IndexAllows(RoleIndexes()[i], verb, group, resource, subresource);
  }
  return RulesAllow(role.rules, verb, group, resource, subresource);  // a copy of a role
}

bool BasicUserAllows(std::string_view verb, std::string_view group, std::string_view resource,
                     std::string_view subresource) {
  static const GroupIndex kIndex = Compile(BasicUserRules());
  return IndexAllows(kIndex, verb, group, resource, subresource);
}

const Role* FindRole(std::string_view name) {
  for (const auto& r : AllRoles()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const std::vector<PolicyRule>& BasicUserRules() {
  static const std::vector<PolicyRule> kRules = {
      {{"authorization.k8s.io"},
       {"selfsubjectaccessreviews", "selfsubjectrulesreviews"},
       {"create"}},
      {{"authentication.k8s.io"}, {"selfsubjectreviews"}, {"create"}},
  };
  return kRules;
}

bool RulesAllow(const std::vector<PolicyRule>& rules, std::string_view verb, std::string_view group,
                std::string_view resource, std::string_view subresource) {
  // "plural" or "plural/subresource", compared without building the string (request path).
  auto names = [&](std::string_view entry) {
    if (entry == "*") return true;
    if (subresource.empty()) return entry == resource;
    return entry.size() == resource.size() + 1 + subresource.size() &&
           entry.substr(0, resource.size()) == resource && entry[resource.size()] == '/' &&
           entry.substr(resource.size() + 1) == subresource;
  };
  for (const auto& r : rules) {
    if (!Contains(r.groups, group) && !Contains(r.groups, "*")) continue;
    if (std::none_of(r.resources.begin(), r.resources.end(),
                     [&](const std::string& e) { return names(e); })) {
      continue;
    }
    if (Contains(r.verbs, verb) || Contains(r.verbs, "*")) return true;
  }
  return false;
}

const Role* LowestRoleAllowing(std::string_view verb, std::string_view group,
                               std::string_view resource, std::string_view subresource) {
  for (const auto& r : AllRoles()) {
    if (RoleAllows(r, verb, group, resource, subresource)) return &r;
  }
  return nullptr;
}

}  // namespace skiff::authz
