#pragma once
// Pipelines for `skiff up`: the catalog (in the resource store), the task launcher, the run
// engine and the KFP REST API, built from the pipelines.* settings. Files under DATA/pipelines.

#include <memory>
#include <string>

#include "authz/authz.hpp"
#include "core/config.hpp"
#include "pipelines/catalog.hpp"
#include "pipelines/engine.hpp"
#include "pipelines/kfp_api.hpp"
#include "pipelines/launcher.hpp"
#include "pipelines/scheduler.hpp"
#include "store/store.hpp"

namespace skiff::cli {

struct PipelinesStack {
  std::unique_ptr<pipelines::TaskLauncher> launcher;
  std::unique_ptr<pipelines::Catalog> catalog;
  std::unique_ptr<pipelines::Engine> engine;
  std::unique_ptr<pipelines::KfpApi> api;
  std::unique_ptr<pipelines::Scheduler> scheduler;  // recurring runs

  // Stops the scheduler, the engine, then the launcher (kills tasks still running: the next start
  // re-runs or fails them by their retry policy).
  void Stop();
};

// Builds and starts the stack (the engine resumes unfinished runs). `store` and `authorizer`
// must outlive it.
Result<std::unique_ptr<PipelinesStack>> StartPipelines(const Settings& settings,
                                                       const std::string& data_dir,
                                                       store::Store& store,
                                                       const authz::Authorizer* authorizer);

}  // namespace skiff::cli
