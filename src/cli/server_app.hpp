#pragma once
// `skiff up`: assembles the server from the modules (store, kinds, resource API, auth, HTTP)
// and runs it until SIGINT/SIGTERM, then drains and exits.

#include <functional>
#include <string>

#include "core/config.hpp"

namespace skiff::cli {

// Runs the server; returns the process exit code. `on_ready` (optional) is called with the
// URL once listening.
int RunServer(const Settings& settings,
              const std::function<void(const std::string&)>& on_ready = {});

}  // namespace skiff::cli
