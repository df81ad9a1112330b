#include "cli/pipelines_setup.hpp"

#include <charconv>
#include <filesystem>

#include "authz/profile.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "http/s3_client.hpp"
#include "pipelines/artifact_store.hpp"
#include "pipelines/lightweight.hpp"
#include "pipelines/pipeline_file.hpp"

namespace skiff::cli {

namespace {

// The namespace's concurrent-runs quota: spec.hard["pipelines.kubeflow.org/concurrent-runs"] of
// its ResourceQuotas (a Profile's resourceQuotaSpec puts it in kf-resource-quota); the smallest
// wins; 0 = none.
int64_t ConcurrentRunsLimit(store::Store& store, const std::string& ns) {
  store::ListOptions lo;
  lo.ns = ns;
  auto quotas = store.List(std::string(authz::kResourceQuotaResource), lo);
  if (!quotas) return 0;
  int64_t limit = 0;
  for (const auto& q : quotas->items) {
    const json::value* v = Find(q.object, "/spec/hard/pipelines.kubeflow.org~1concurrent-runs");
    if (v == nullptr) continue;
    int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_string()) {
      std::string_view s = v->get_string();
      std::from_chars(s.data(), s.data() + s.size(), n);
    }
    if (n > 0 && (limit == 0 || n < limit)) limit = n;
  }
  return limit;
}

// DIR/bin with `python` and `python3` -> /usr/bin/python3 (Debian's, with scikit-learn and
// XGBoost), first on every task's PATH.
Result<std::string> TaskBinDir(const std::string& root) {
  std::string bin = root + "/bin";
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(bin, 0755));
  std::error_code ec;
  const std::filesystem::path target = "/usr/bin/python3";
  for (const char* name : {"python", "python3"}) {
    std::filesystem::path link = bin + "/" + name;
    if (std::filesystem::read_symlink(link, ec) != target) {
      std::filesystem::remove(link, ec);
      std::filesystem::create_symlink(target, link, ec);
      if (ec) return Internal("cannot create " + link.string() + ": " + ec.message());
    }
  }
  return bin;
}

}  // namespace

void PipelinesStack::Stop() {
  if (scheduler) scheduler->Stop();
  if (engine) engine->Stop();
  if (launcher) launcher->Shutdown();
}

Result<std::unique_ptr<PipelinesStack>> StartPipelines(const Settings& settings,
                                                       const std::string& data_dir,
                                                       store::Store& store,
                                                       const authz::Authorizer* authorizer) {
  auto stack = std::make_unique<PipelinesStack>();
  const std::string root = data_dir + "/pipelines";
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(root, 0700));
  const std::string shim = root + "/kfp-executor";
  SKIFF_RETURN_IF_ERROR(pipelines::InstallKfpShim(shim));
  stack->launcher = std::make_unique<pipelines::TaskLauncher>();
  SKIFF_ASSIGN_OR_RETURN(stack->catalog, pipelines::Catalog::Open(store, SystemClock()));

  pipelines::EngineOptions eo;
  eo.data_dir = root;
  eo.max_parallel_tasks = static_cast<int>(settings.GetInt("pipelines.maxParallelTasks"));
  if (eo.max_parallel_tasks < 1) {
    return InvalidArgument("pipelines.maxParallelTasks must be at least 1");
  }
  eo.concurrent_runs_limit = [&store](const std::string& ns) {
    return ConcurrentRunsLimit(store, ns);
  };
  eo.task_env = pipelines::KfpShimEnvironment(shim);
  // KFP v1 components call `python`; Debian has only python3.
  SKIFF_ASSIGN_OR_RETURN(std::string bin, TaskBinDir(root));
  eo.extra_path_dirs = {bin};
  // Tasks see neither skiff's data (the store, keys, other namespaces' runs) nor its config.
  eo.hidden_dirs = {data_dir};
  eo.exposed_dirs = {shim, bin};
  // Artifacts: the data dir, or S3 with model storage's connection settings.
  SKIFF_ASSIGN_OR_RETURN(http::S3Options s3, http::S3OptionsFromSettings(settings));
  SKIFF_ASSIGN_OR_RETURN(eo.artifacts,
                         pipelines::MakeArtifactStore(settings.GetString("pipelines.artifacts.uri"),
                                                      root, s3, SystemClock()));
  pipelines::ProgramLoader loader =
      [](const pipelines::Record& run) -> Result<std::shared_ptr<const pipelines::Program>> {
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const pipelines::PipelineFile> f,
                           pipelines::ReadPipelineFileCached(GetString(run.spec, "manifest")));
    return f->program;
  };
  stack->engine = std::make_unique<pipelines::Engine>(*stack->catalog, *stack->launcher,
                                                      SystemClock(), loader, eo);
  if (Status s = pipelines::CheckIsolation(); !s.ok()) {
    spdlog::warn("pipelines: tasks cannot run on this machine: {}", s.message());
  }
  SKIFF_RETURN_IF_ERROR(stack->engine->Start());
  pipelines::KfpApiOptions ao;
  ao.token_secret = settings.GetString("pipelines.signingKey");
  ao.fetch_private_addresses = settings.GetBool("pipelines.fetchPrivateAddresses");
  if (ao.token_secret.empty()) ao.token_secret = RandomToken();
  PipelinesStack* self = stack.get();
  ao.on_recurring_change = [self] {
    if (self->scheduler) self->scheduler->Wake();
  };
  stack->api = std::make_unique<pipelines::KfpApi>(*stack->catalog, *stack->engine, authorizer,
                                                   std::move(ao));
  stack->scheduler = std::make_unique<pipelines::Scheduler>(
      *stack->catalog,
      [self](const pipelines::Record& recurring, int64_t at) {
        return self->api->FireRecurringRun(recurring, at);
      },
      [self](const std::string& id) { return self->api->ActiveRunsOf(id); });
  stack->scheduler->Start();
  return stack;
}

}  // namespace skiff::cli
