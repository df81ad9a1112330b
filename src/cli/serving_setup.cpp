#include "cli/serving_setup.hpp"

#include "serving/runtimes/python_runtime.hpp"
#include "serving/runtimes/sklearn_runtime.hpp"
#include "serving/runtimes/xgboost_runtime.hpp"

namespace skiff::cli {

namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ServingStack>> MakeServing(const Settings& settings,
                                                  const std::string& data_dir, store::Store& store,
                                                  http::TaskRunner& blocking, http::TaskRunner& cpu,
                                                  MetricsRegistry& metrics,
                                                  const authz::Authorizer* authorizer) {
  auto stack = std::make_unique<ServingStack>();
  // Order matters: the controller tries runtimes in this order and falls back on
  // FailedPrecondition, so scikit-learn models the native runtime cannot read go to Python.
  stack->runtimes.Register(std::make_unique<serving::SklearnRuntime>());
  stack->runtimes.Register(std::make_unique<serving::XgboostRuntime>());
  serving::PythonRuntimeOptions python;
  python.workers = static_cast<int>(settings.GetInt("serving.pythonWorkers"));
  stack->runtimes.Register(std::make_unique<serving::PythonRuntime>(python));

  serving::ModelStorageOptions so;
  so.cache_dir = data_dir + "/models/cache";
  so.local_roots = SplitList(settings.GetString("storage.localRoots"));
  so.max_download_bytes = settings.GetBytes("storage.maxDownloadBytes");
  SKIFF_ASSIGN_OR_RETURN(so.s3, http::S3OptionsFromSettings(settings));
  SKIFF_ASSIGN_OR_RETURN(stack->storage, serving::ModelStorage::Create(so));

  serving::ControllerOptions co;
  co.domain = settings.GetString("serving.domain");
  co.work_dir = data_dir + "/models/revisions";
  co.queue_depth = static_cast<size_t>(settings.GetInt("serving.queueDepth"));
  co.load_timeout = settings.GetDuration("serving.loadTimeout");
  stack->controller = std::make_unique<serving::Controller>(
      store, stack->runtimes, *stack->storage, blocking, cpu, &metrics, SystemClock(), co);
  stack->frontend = std::make_unique<serving::Frontend>(*stack->controller,
                                                        serving::ProtocolLimits{}, authorizer);
  return stack;
}

}  // namespace skiff::cli
