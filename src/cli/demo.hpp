#pragma once
// The demo `skiff up` deploys on first start: KServe's sklearn-iris example, trained from
// scikit-learn's bundled iris data with Debian's /usr/bin/python3 into
// DATA_DIR/examples/sklearn-iris, and applied as an InferenceService in namespace kserve-test.
// A marker file makes it happen once: deleting the demo keeps it deleted.

#include <string>

#include "api/api.hpp"

namespace skiff::cli {

inline constexpr std::string_view kDemoNamespace = "kserve-test";
inline constexpr std::string_view kDemoModel = "sklearn-iris";

// Blocking (runs Python for a few seconds): call from the blocking pool. Logs its outcome.
void DeployDemo(api::ResourceApi& api, const std::string& data_dir);

}  // namespace skiff::cli
