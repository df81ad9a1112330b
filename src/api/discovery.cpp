// Discovery (/api, /apis, /apis/GROUP[/VERSION]), /version and OpenAPI v3 documents built from
// the kind registry. kubectl reads these to map kinds to URLs, to learn that the server
// validates fields itself (the fieldValidation parameter of each PATCH operation), and to
// compute apply patches.
#include "api/internal.hpp"
#include "core/crypto.hpp"

namespace skiff::api::internal {

namespace {

json::object GroupVersionEntry(const std::string& group, const std::string& version) {
  return json::object{{"groupVersion", group + "/" + version}, {"version", version}};
}

json::object GroupObject(const KindRegistry& kinds, const std::string& group) {
  json::array versions;
  for (const auto& v : kinds.Versions(group)) versions.push_back(GroupVersionEntry(group, v));
  json::object preferred = versions.front().as_object();
  return json::object{{"name", group},
                      {"versions", std::move(versions)},
                      {"preferredVersion", std::move(preferred)}};
}

std::string ReverseDomain(const std::string& group) {
  if (group.empty()) return "io.k8s.api.core";
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = group.find('.', start);
    parts.push_back(
        group.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += '.';
    out += *it;
  }
  return out;
}

std::string SchemaName(const KindInfo& k) {
  return ReverseDomain(k.group) + "." + k.version + "." + k.kind;
}

constexpr std::string_view kObjectMetaRef = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

json::value ObjectMetaSchema() {
  auto v = ParseJson(R"({
    "type": "object",
    "description": "ObjectMeta is metadata that all persisted resources must have.",
    "properties": {
      "name": {"type": "string"}, "generateName": {"type": "string"},
      "namespace": {"type": "string"}, "selfLink": {"type": "string"},
      "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
      "generation": {"type": "integer", "format": "int64"},
      "creationTimestamp": {"type": "string", "format": "date-time"},
      "deletionTimestamp": {"type": "string", "format": "date-time"},
      "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
      "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
      "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
      "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                     "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
      "ownerReferences": {"type": "array", "items": {"type": "object",
                          "x-kubernetes-preserve-unknown-fields": true},
                          "x-kubernetes-patch-merge-key": "uid",
                          "x-kubernetes-patch-strategy": "merge"},
      "managedFields": {"type": "array", "items": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}
    }
  })");
  return std::move(*v);
}

json::object Param(std::string_view name, std::string_view in, std::string_view description) {
  return json::object{{"name", name},
                      {"in", in},
                      {"description", description},
                      {"schema", json::object{{"type", "string"}, {"uniqueItems", true}}}};
}

json::object Operation(const KindInfo& k, std::string_view action, std::string_view schema_name,
                       bool with_body) {
  json::object op;
  op["description"] = std::string(action) + " " + k.kind;
  op["operationId"] = std::string(action) + k.kind;
  json::array params;
  if (action == "patch" || action == "put" || action == "post") {
    params.push_back(Param("dryRun", "query", "When present, do not persist modifications."));
    params.push_back(Param("fieldManager", "query", "Name of the actor making the change."));
    params.push_back(Param("fieldValidation", "query",
                           "Ignore, Warn (default) or Strict: how to treat unknown fields."));
  }
  if (action == "patch") params.push_back(Param("force", "query", "Force apply requests."));
  op["parameters"] = std::move(params);
  json::object content_schema{
      {"schema", json::object{{"$ref", "#/components/schemas/" + std::string(schema_name)}}}};
  if (with_body) {
    json::object content;
    if (action == "patch") {
      for (auto ct : {"application/json-patch+json", "application/merge-patch+json",
                      "application/strategic-merge-patch+json"}) {
        content[ct] = json::object{{"schema", json::object{{"type", "object"}}}};
      }
    } else {
      content["*/*"] = content_schema;
    }
    op["requestBody"] = json::object{{"content", std::move(content)}, {"required", true}};
  }
  op["responses"] = json::object{
      {"200", json::object{{"description", "OK"},
                           {"content", json::object{{"application/json", content_schema}}}}}};
  op["x-kubernetes-action"] = action == "post" ? "post" : action == "put" ? "put" : action;
  op["x-kubernetes-group-version-kind"] =
      json::object{{"group", k.group}, {"version", k.version}, {"kind", k.kind}};
  return op;
}

std::string Base(const KindInfo& k) {
  return k.group.empty() ? "/api/" + k.version : "/apis/" + k.group + "/" + k.version;
}

}  // namespace

json::object ApiVersions() {
  return json::object{
      {"kind", "APIVersions"},
      {"versions", json::array{"v1"}},
      {"serverAddressByClientCIDRs",
       json::array{json::object{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}}}};
}

json::object ApiGroupList(const KindRegistry& kinds) {
  json::array groups;
  for (const auto& g : kinds.Groups()) {
    if (g.empty()) continue;
    groups.push_back(GroupObject(kinds, g));
  }
  return json::object{
      {"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

Result<json::object> ApiGroup(const KindRegistry& kinds, std::string_view group) {
  if (group.empty() || kinds.Versions(group).empty()) {
    return NotFound("the server could not find the requested resource");
  }
  json::object g = GroupObject(kinds, std::string(group));
  g["kind"] = "APIGroup";
  g["apiVersion"] = "v1";
  return g;
}

Result<json::object> ApiResourceList(const KindRegistry& kinds, std::string_view group,
                                     std::string_view version) {
  json::array resources;
  for (const auto& k : kinds.kinds()) {
    if (k->group != group || k->version != version) continue;
    json::array verbs;
    for (const auto& v : k->verbs) verbs.push_back(json::string(v));
    json::object r{
        {"name", k->plural},
        {"singularName", k->singular},
        {"namespaced", k->namespaced},
        {"kind", k->kind},
        {"verbs", std::move(verbs)},
        {"storageVersionHash", Base64Encode(Sha256(k->StorageResource())).substr(0, 11)}};
    if (!k->short_names.empty()) {
      json::array sn;
      for (const auto& s : k->short_names) sn.push_back(json::string(s));
      r["shortNames"] = std::move(sn);
    }
    if (!k->categories.empty()) {
      json::array cats;
      for (const auto& c : k->categories) cats.push_back(json::string(c));
      r["categories"] = std::move(cats);
    }
    resources.push_back(std::move(r));
    if (k->status_subresource) {
      resources.push_back(json::object{{"name", k->plural + "/status"},
                                       {"singularName", ""},
                                       {"namespaced", k->namespaced},
                                       {"kind", k->kind},
                                       {"verbs", json::array{"get", "patch", "update"}}});
    }
  }
  if (resources.empty()) return NotFound("the server could not find the requested resource");
  std::string gv =
      group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return json::object{{"kind", "APIResourceList"},
                      {"apiVersion", "v1"},
                      {"groupVersion", gv},
                      {"resources", std::move(resources)}};
}

json::object VersionInfo(std::string_view git_version, std::string_view git_commit) {
  return json::object{{"major", "1"},
                      {"minor", "32"},
                      {"gitVersion", git_version},
                      {"gitCommit", git_commit},
                      {"gitTreeState", "clean"},
                      {"buildDate", ""},
                      {"goVersion", "none (skiff is C++)"},
                      {"compiler", "gcc"},
                      {"platform", "linux/amd64"}};
}

json::object OpenApiIndex(const KindRegistry& kinds) {
  json::object paths;
  for (const auto& g : kinds.Groups()) {
    for (const auto& v : kinds.Versions(g)) {
      auto doc = OpenApiGroupVersion(kinds, g, v);
      std::string key = g.empty() ? "api/" + v : "apis/" + g + "/" + v;
      std::string hash = HexEncode(Sha256(Serialize(*doc))).substr(0, 32);
      paths[key] = json::object{{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
    }
  }
  return json::object{{"paths", std::move(paths)}};
}

Result<json::object> OpenApiGroupVersion(const KindRegistry& kinds, std::string_view group,
                                         std::string_view version) {
  json::object paths;
  json::object schemas;
  schemas[kObjectMetaRef] = ObjectMetaSchema();
  bool any = false;
  for (const auto& kp : kinds.kinds()) {
    const KindInfo& k = *kp;
    if (k.group != group || k.version != version) continue;
    any = true;
    std::string name = SchemaName(k);
    json::object schema =
        k.schema.is_object()
            ? k.schema.get_object()
            : json::object{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    json::object& props = EnsureObject(schema, "properties");
    props["metadata"] = json::object{
        {"allOf", json::array{json::object{
                      {"$ref", "#/components/schemas/" + std::string(kObjectMetaRef)}}}},
        {"default", json::object()}};
    if (!props.contains("apiVersion")) props["apiVersion"] = json::object{{"type", "string"}};
    if (!props.contains("kind")) props["kind"] = json::object{{"type", "string"}};
    schema["x-kubernetes-group-version-kind"] =
        json::array{json::object{{"group", k.group}, {"kind", k.kind}, {"version", k.version}}};
    schemas[name] = std::move(schema);

    std::string base = Base(k);
    std::string collection =
        k.namespaced ? base + "/namespaces/{namespace}/" + k.plural : base + "/" + k.plural;
    std::string item = collection + "/{name}";
    paths[collection] = json::object{{"get", Operation(k, "list", name, false)},
                                     {"post", Operation(k, "post", name, true)},
                                     {"delete", Operation(k, "deletecollection", name, false)}};
    paths[item] = json::object{{"get", Operation(k, "get", name, false)},
                               {"put", Operation(k, "put", name, true)},
                               {"patch", Operation(k, "patch", name, true)},
                               {"delete", Operation(k, "delete", name, false)}};
    if (k.status_subresource) {
      paths[item + "/status"] = json::object{{"get", Operation(k, "get", name, false)},
                                             {"put", Operation(k, "put", name, true)},
                                             {"patch", Operation(k, "patch", name, true)}};
    }
  }
  if (!any) return NotFound("the server could not find the requested resource");
  return json::object{{"openapi", "3.0.0"},
                      {"info", json::object{{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                      {"paths", std::move(paths)},
                      {"components", json::object{{"schemas", std::move(schemas)}}}};
}

}  // namespace skiff::api::internal
