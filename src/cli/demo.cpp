#include "cli/demo.hpp"

#include <filesystem>

#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/process.hpp"

namespace skiff::cli {

namespace embedded {
extern const std::string_view k_iris_train_py;
}

namespace {

http::Response Call(api::ResourceApi& api, const std::string& method, const std::string& path,
                    const json::object& body) {
  http::Request req;
  req.method = method;
  req.path = path;
  req.target = path;
  req.body = Serialize(body);
  req.headers.Set("Content-Type", "application/json");
  req.principal = Principal{"skiff-demo", {"system:masters"}, "internal", true};
  return api.Handle(req);
}

}  // namespace

void DeployDemo(api::ResourceApi& api, const std::string& data_dir) {
  const std::string marker = data_dir + "/.demo-deployed";
  if (FileExists(marker)) return;
  std::string model_dir = std::filesystem::absolute(data_dir + "/examples/sklearn-iris").string();
  if (!FileExists(model_dir + "/model.joblib")) {
    ProcessOptions p;
    p.argv = {"/usr/bin/python3", "-", model_dir};
    p.stdin_text = std::string(embedded::k_iris_train_py);
    p.timeout = std::chrono::minutes(2);
    auto run = RunProcess(p);
    if (!run || !run->ok()) {
      spdlog::warn(
          "demo: could not train the sklearn-iris model with /usr/bin/python3 ({}): {}; "
          "install python3-sklearn to get the demo",
          run ? run->Describe() : run.error().message(), run ? run->err : "");
      return;
    }
  }
  json::object ns{
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", json::object{{"name", kDemoNamespace},
                                {"labels", json::object{{"serving.kubeflow.org/inferenceservice",
                                                         "enabled"}}}}}};
  http::Response r = Call(api, "POST", "/api/v1/namespaces", ns);
  if (r.status != 201 && r.status != 409) {
    spdlog::warn("demo: cannot create namespace {}: {}", kDemoNamespace, r.body);
    return;
  }
  json::object isvc{
      {"apiVersion", "serving.kserve.io/v1beta1"},
      {"kind", "InferenceService"},
      {"metadata", json::object{{"name", kDemoModel}, {"namespace", kDemoNamespace}}},
      {"spec",
       json::object{
           {"predictor",
            json::object{{"model", json::object{{"modelFormat", json::object{{"name", "sklearn"}}},
                                                {"storageUri", "file://" + model_dir}}}}}}}};
  r = Call(api, "POST",
           "/apis/serving.kserve.io/v1beta1/namespaces/" + std::string(kDemoNamespace) +
               "/inferenceservices",
           isvc);
  if (r.status != 201 && r.status != 409) {
    spdlog::warn("demo: cannot create InferenceService {}: {}", kDemoModel, r.body);
    return;
  }
  if (Status s = WriteFileAtomic(marker, "sklearn-iris\n", 0600); !s.ok()) {
    spdlog::warn("demo: {}", s.message());
  }
  spdlog::info("demo: InferenceService {}/{} deployed from {}", kDemoNamespace, kDemoModel,
               model_dir);
}

}  // namespace skiff::cli
