#pragma once
// Model serving for `skiff up`: the runtimes (native scikit-learn, XGBoost, Python workers),
// model storage (cache in DATA_DIR/models), the InferenceService controller and the V1/V2 front
// end, built from the serving.*, storage.* settings.

#include <memory>
#include <string>

#include "authz/authz.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "http/http.hpp"
#include "serving/controller.hpp"
#include "serving/frontend.hpp"
#include "serving/model.hpp"
#include "serving/storage.hpp"
#include "store/store.hpp"

namespace skiff::cli {

struct ServingStack {
  serving::RuntimeRegistry runtimes;
  std::unique_ptr<serving::ModelStorage> storage;
  std::unique_ptr<serving::Controller> controller;
  std::unique_ptr<serving::Frontend> frontend;
};

// Builds the stack (does not start the controller). The TaskRunners and registry must outlive
// the controller (call controller->Stop() before they go); `authorizer` (model calls are
// authorized by it; null: none) must outlive the front end.
Result<std::unique_ptr<ServingStack>> MakeServing(const Settings& settings,
                                                  const std::string& data_dir, store::Store& store,
                                                  http::TaskRunner& blocking, http::TaskRunner& cpu,
                                                  MetricsRegistry& metrics,
                                                  const authz::Authorizer* authorizer);

}  // namespace skiff::cli
