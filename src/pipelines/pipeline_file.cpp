#include "pipelines/pipeline_file.hpp"

#include <list>
#include <mutex>
#include <unordered_map>

#include "core/crypto.hpp"
#include "core/yaml.hpp"
#include "pipelines/argo.hpp"
#include "pipelines/ir.hpp"

namespace skiff::pipelines {

namespace {

bool IsArgo(const json::object& o) {
  return GetString(o, "kind") == "Workflow" &&
         GetString(o, "apiVersion").rfind("argoproj.io/", 0) == 0;
}

bool IsIr(const json::object& o) {
  return o.contains("pipelineInfo") || (o.contains("root") && o.contains("deploymentSpec"));
}

Result<PipelineFile> FromDocuments(const json::object& first, const json::object* second) {
  PipelineFile f;
  if (IsArgo(first)) {
    if (second != nullptr) {
      return InvalidArgument("an Argo Workflow file must hold one YAML document");
    }
    SKIFF_ASSIGN_OR_RETURN(f.program, CompileArgoWorkflow(first));
    f.format = "argo";
    f.spec = first;
    return f;
  }
  if (const json::value* wrapped = first.if_contains("pipeline_spec");
      wrapped != nullptr && wrapped->is_object() && second == nullptr) {
    const json::object* platform = GetObject(first, "platform_spec");
    return FromDocuments(wrapped->get_object(), platform);
  }
  if (IsIr(first)) {
    if (second != nullptr && !second->empty() && !second->contains("platforms")) {
      return InvalidArgument(
          "the second YAML document of a pipeline IR file must be its platform spec "
          "(`platforms:`)");
    }
    SKIFF_ASSIGN_OR_RETURN(
        f.program, CompileKfpIr(first, second != nullptr && !second->empty() ? second : nullptr));
    f.format = "ir";
    f.spec = first;
    if (second != nullptr) f.platform_spec = *second;
    return f;
  }
  return InvalidArgument(
      "not a pipeline file: expected an Argo Workflow (apiVersion: argoproj.io/v1alpha1, kind: "
      "Workflow; KFP v1) or a KFP pipeline spec (pipelineInfo, root, deploymentSpec; KFP v2)");
}

}  // namespace

Result<PipelineFile> ReadPipelineFile(std::string_view text) {
  if (text.size() > kMaxPipelineFileBytes) {
    return InvalidArgument("the pipeline file is larger than 32 MiB");
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<YamlDocument> docs, ParseYamlDocuments(text));
  std::vector<const json::object*> objects;
  for (const YamlDocument& d : docs) {
    if (d.value.is_null()) continue;
    if (!d.value.is_object()) return InvalidArgument("the pipeline file is not a YAML mapping");
    objects.push_back(&d.value.get_object());
  }
  if (objects.empty()) return InvalidArgument("the pipeline file is empty");
  if (objects.size() > 2) {
    return InvalidArgument("the pipeline file holds " + std::to_string(objects.size()) +
                           " YAML documents; expected the pipeline (and its platform spec)");
  }
  return FromDocuments(*objects[0], objects.size() == 2 ? objects[1] : nullptr);
}

Result<std::shared_ptr<const PipelineFile>> ReadPipelineFileCached(std::string_view text) {
  constexpr size_t kEntries = 256;
  static std::mutex mu;  // guards lru and index
  static std::list<std::pair<std::string, std::shared_ptr<const PipelineFile>>> lru;
  static std::unordered_map<std::string, decltype(lru)::iterator> index;
  std::string key = Sha256(text);
  {
    std::lock_guard lock(mu);
    if (auto it = index.find(key); it != index.end()) {
      lru.splice(lru.begin(), lru, it->second);
      return it->second->second;
    }
  }
  SKIFF_ASSIGN_OR_RETURN(PipelineFile f, ReadPipelineFile(text));
  auto shared = std::make_shared<const PipelineFile>(std::move(f));
  std::lock_guard lock(mu);
  if (auto it = index.find(key); it != index.end()) return it->second->second;
  lru.emplace_front(key, shared);
  index[key] = lru.begin();
  if (lru.size() > kEntries) {
    index.erase(lru.back().first);
    lru.pop_back();
  }
  return shared;
}

Result<PipelineFile> ReadPipelineJson(const json::value& value) {
  if (!value.is_object()) return InvalidArgument("pipeline_spec: must be an object");
  return FromDocuments(value.get_object(), nullptr);
}

}  // namespace skiff::pipelines
