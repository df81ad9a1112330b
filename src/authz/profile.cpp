#include "authz/profile.hpp"

#include <cctype>

#include "api/conditions.hpp"
#include "core/crypto.hpp"

namespace skiff::authz {

namespace {

using api::FieldError;
using api::FieldErrors;
using Type = FieldError::Type;

// spec.owner is typed; the rest of spec (plugins, resourceQuotaSpec) and status are kept as
// written so that `kubectl apply` of a Kubeflow Profile round-trips.
constexpr std::string_view kSchema = R"({
  "type": "object",
  "description": "Profile is a user's namespace: the namespace of the same name, owned by spec.owner.",
  "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"type": "object"},
    "spec": {
      "type": "object",
      "properties": {
        "owner": {
          "type": "object",
          "description": "The user who owns the namespace (kubeflow-admin in it).",
          "properties": {
            "apiGroup": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "namespace": {"type": "string"}
          }
        },
        "resourceQuotaSpec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "plugins": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
      },
      "x-kubernetes-preserve-unknown-fields": true
    },
    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
  }
})";

json::value Schema() {
  auto v = ParseJson(kSchema);
  SKIFF_CHECK(v.has_value());
  return std::move(*v);
}

// A Kubernetes quantity: digits with an optional fraction and suffix (Ki, Mi, m, k, M, e3...).
bool IsQuantity(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  size_t digits = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    ++i;
    ++digits;
  }
  if (digits == 0) return false;
  std::string_view suffix = s.substr(i);
  static constexpr std::string_view kSuffixes[] = {"",  "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n",
                                                   "u", "m",  "k",  "M",  "G",  "T",  "P",  "E"};
  for (auto k : kSuffixes) {
    if (suffix == k) return true;
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    for (size_t j = 1; j < suffix.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(suffix[j])) && !(j == 1 && suffix[j] == '-')) {
        return false;
      }
    }
    return true;
  }
  return false;
}

bool IsCount(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

api::KindInfo ProfileKindInfo(std::string version) {
  api::KindInfo k;
  k.group = std::string(kProfileGroup);
  k.version = std::move(version);
  k.kind = std::string(kProfileKind);
  k.plural = "profiles";
  k.singular = "profile";
  k.namespaced = false;
  k.status_subresource = true;
  k.name_is_label = true;  // it names a namespace
  k.schema = Schema();
  k.columns = {
      {"Owner", "string", ".spec.owner.name", "The user who owns the profile's namespace", 0, "",
       nullptr},
      api::ConditionColumn("Ready", "Ready",
                           "Whether the namespace and owner binding are in place"),
  };
  k.validate = [](const json::object& obj) { return ValidateProfile(obj); };
  return k;
}

}  // namespace

Status RegisterProfileKind(api::KindRegistry& registry) {
  // v1 preferred; v1beta1 too, which kfam and older Kubeflow manifests use (one storage).
  SKIFF_RETURN_IF_ERROR(registry.Register(ProfileKindInfo("v1")));
  return registry.Register(ProfileKindInfo("v1beta1"));
}

FieldErrors ValidateProfile(const json::object& profile) {
  FieldErrors errs;
  const json::value* owner = Find(profile, "spec.owner");
  if (owner == nullptr || owner->is_null()) {
    errs.push_back({Type::kRequired, "spec.owner", "the profile's owner is required", {}});
  } else if (!owner->is_object()) {
    errs.push_back({Type::kInvalid, "spec.owner", "must be an object {kind: User, name}", *owner});
  } else {
    const json::object& o = owner->get_object();
    const json::value* kind = o.if_contains("kind");
    if (kind == nullptr || !kind->is_string() || kind->get_string().empty()) {
      errs.push_back({Type::kRequired, "spec.owner.kind", "must be User", {}});
    } else if (kind->get_string() != "User") {
      errs.push_back({Type::kNotSupported, "spec.owner.kind",
                      "supported values: \"User\" (the owner is one person)", *kind});
    }
    const json::value* name = o.if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      errs.push_back({Type::kRequired, "spec.owner.name", "the owner's user name (e-mail)", {}});
    }
  }
  const json::value* hard = Find(profile, "spec.resourceQuotaSpec.hard");
  if (hard != nullptr && !hard->is_null()) {
    if (!hard->is_object()) {
      errs.push_back({Type::kInvalid, "spec.resourceQuotaSpec.hard",
                      "must map resource names to quantities", *hard});
    } else {
      for (const auto& [key, value] : hard->get_object()) {
        std::string path = "spec.resourceQuotaSpec.hard[" + std::string(key) + "]";
        bool is_count = std::string_view(key).rfind("count/", 0) == 0;
        bool ok = false;
        if (value.is_int64()) {
          ok = value.get_int64() >= 0;
        } else if (value.is_uint64()) {
          ok = true;
        } else if (value.is_string()) {
          std::string_view s = value.get_string();
          ok = is_count ? IsCount(s) : IsQuantity(s);
        }
        if (!ok) {
          errs.push_back({Type::kInvalid, path,
                          is_count ? "must be a non-negative whole number of objects"
                                   : "must be a quantity, e.g. 4, 500m or 8Gi",
                          value});
        }
      }
    }
  }
  return errs;
}

std::string ProfileOwner(const json::object& profile) {
  return GetString(profile, "spec.owner.name");
}

const json::object& ProfileNamespaceLabels() {
  static const json::object kLabels{
      {"app.kubernetes.io/part-of", "kubeflow-profile"},
      {"istio-injection", "enabled"},
      {"katib-metricscollector-injection", "enabled"},
      {"serving.kubeflow.org/inferenceservice", "enabled"},
      {"pipelines.kubeflow.org/enabled", "true"},
  };
  return kLabels;
}

json::object NewMetadata(std::string_view name, std::string_view ns, Clock& clock) {
  json::object md{{"name", name},
                  {"uid", NewUid()},
                  {"creationTimestamp", FormatRfc3339(clock.Now())},
                  {"generation", 1}};
  if (!ns.empty()) md["namespace"] = ns;
  return md;
}

json::object ProfileOwnerReference(const json::object& profile) {
  return json::object{{"apiVersion", std::string(kProfileGroup) + "/v1"},
                      {"kind", kProfileKind},
                      {"name", GetString(profile, "metadata.name")},
                      {"uid", GetString(profile, "metadata.uid")},
                      {"controller", true},
                      {"blockOwnerDeletion", true}};
}

bool OwnedByProfile(const json::object& obj, std::string_view name) {
  const json::value* refs = Find(obj, "metadata.ownerReferences");
  if (refs == nullptr || !refs->is_array()) return false;
  for (const auto& r : refs->get_array()) {
    if (GetString(r, "kind") == kProfileKind &&
        GetString(r, "apiVersion").rfind(std::string(kProfileGroup) + "/", 0) == 0 &&
        GetString(r, "name") == name) {
      return true;
    }
  }
  return false;
}

json::object ProfileNamespace(const json::object& profile, Clock& clock) {
  std::string name = GetString(profile, "metadata.name");
  json::object md = NewMetadata(name, "", clock);
  md["labels"] = ProfileNamespaceLabels();
  md["annotations"] = json::object{{"owner", ProfileOwner(profile)}};
  md["ownerReferences"] = json::array{ProfileOwnerReference(profile)};
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Namespace"},
                      {"metadata", std::move(md)},
                      {"spec", json::object{{"finalizers", json::array{"kubernetes"}}}},
                      {"status", json::object{{"phase", "Active"}}}};
}

json::object OwnerRoleBinding(const json::object& profile, Clock& clock) {
  std::string name = GetString(profile, "metadata.name");
  std::string owner = ProfileOwner(profile);
  json::object md = NewMetadata(kOwnerBindingName, name, clock);
  md["annotations"] = json::object{{"user", owner}, {"role", "admin"}};
  md["ownerReferences"] = json::array{ProfileOwnerReference(profile)};
  return json::object{
      {"apiVersion", std::string(kRbacApiGroup) + "/v1"},
      {"kind", "RoleBinding"},
      {"metadata", std::move(md)},
      {"roleRef",
       json::object{{"apiGroup", kRbacApiGroup}, {"kind", "ClusterRole"}, {"name", kAdminRole}}},
      {"subjects",
       json::array{json::object{{"apiGroup", kRbacApiGroup}, {"kind", "User"}, {"name", owner}}}}};
}

std::string ClusterRoleForShortRole(std::string_view short_role) {
  if (short_role == "admin") return std::string(kAdminRole);
  if (short_role == "edit") return std::string(kEditRole);
  if (short_role == "view") return std::string(kViewRole);
  return {};
}

std::string ShortRoleForClusterRole(std::string_view cluster_role) {
  if (cluster_role == kAdminRole) return "admin";
  if (cluster_role == kEditRole) return "edit";
  if (cluster_role == kViewRole) return "view";
  return {};
}

std::string KfamBindingName(std::string_view subject_kind, std::string_view user,
                            std::string_view role_ref_kind, std::string_view short_role) {
  std::string raw;
  for (std::string_view part : {subject_kind, user, role_ref_kind, short_role}) {
    if (!raw.empty()) raw += '-';
    raw += part;
  }
  std::string out;
  bool dash = false;
  for (char c : raw) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      out += l;
      dash = false;
    } else if (!dash) {
      out += '-';
      dash = true;
    }
  }
  return out;
}

json::object ContributorRoleBinding(std::string_view ns, std::string_view user,
                                    std::string_view short_role, Clock& clock) {
  json::object md =
      NewMetadata(KfamBindingName("User", user, "ClusterRole", short_role), ns, clock);
  md["annotations"] = json::object{{"user", user}, {"role", short_role}};
  return json::object{
      {"apiVersion", std::string(kRbacApiGroup) + "/v1"},
      {"kind", "RoleBinding"},
      {"metadata", std::move(md)},
      {"roleRef", json::object{{"apiGroup", kRbacApiGroup},
                               {"kind", "ClusterRole"},
                               {"name", ClusterRoleForShortRole(short_role)}}},
      {"subjects",
       json::array{json::object{{"apiGroup", kRbacApiGroup}, {"kind", "User"}, {"name", user}}}}};
}

}  // namespace skiff::authz
