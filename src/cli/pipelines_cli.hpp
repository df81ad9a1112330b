#pragma once
// `skiff pipelines|experiments|runs`: Kubeflow Pipelines from the command line, through the KFP
// v2beta1 REST API of a running server (server URL and token as for `skiff get`: --server /
// SKIFF_SERVER, --token / SKIFF_TOKEN or DATA_DIR/admin.token). The server's rules apply (RBAC in
// the namespace of the experiment or run; shared pipelines readable by everyone).
//
//   skiff pipelines upload FILE [--name N] [--description D] [--version V] [-n NS]
//       (-n: a namespaced pipeline, default shared; with --version, a pipeline of that name gets
//       a new version, and a missing one is created with that version)
//   skiff pipelines list [-n NS]              NAME, ID, VERSIONS, CREATED
//   skiff pipelines get NAME|ID [-n NS]       details, versions and parameters
//   skiff pipelines delete NAME|ID [-n NS]    the pipeline and its versions
//   skiff experiments list -n NS              NAME, ID, STATE, CREATED, LAST RUN
//   skiff experiments create NAME -n NS [--description D]
//   skiff runs create --pipeline NAME|ID [--version V] [-p KEY=VALUE]... -n NS
//       [--experiment NAME|ID] [--name RUN_NAME] [--wait [--timeout D]]
//       (no --experiment: the server puts the run in the namespace's Default experiment; a named
//       experiment that does not exist is created, as KFP's SDK does; a value is sent as the
//       pipeline's parameter type wants it: a JSON number/bool/list/object when it parses as one
//       and the parameter is not a STRING, else a string)
//   skiff runs list -n NS [--experiment NAME|ID]   NAME, ID, STATE, DURATION, AGE, newest first
//   skiff runs get RUN [-n NS]                state, timings and the task tree
//   skiff runs terminate|retry|archive RUN [-n NS]
//   skiff runs logs RUN [TASK] [-n NS] [-f [--timeout D]]
//       (RUN: a run id, or with -n the name of a run in NS, the newest of that name)
//       (TASK: a display name or node id; none: every container task's log, prefixed with its
//       name, in start order; -f follows until the task (or the run) finishes)
//
// upload, list, get and create take -o json: the API's JSON instead of text (lists: every page's
// items in one object). Exit codes: 0 done; 1 an error (on stderr, with KFP's `message`); `runs
// create
// --wait` and `runs logs -f` exit 1 also when the run/task did not succeed or --timeout (default
// 24h, 0 = none) passed.
//
// Threading: commands block (HTTP calls, polling every 200 ms); one command per process.

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace skiff::cli {

struct PipelinesCliOptions {
  std::string ns;
  std::string output;  // "" (text) or "json"
  std::string target;  // FILE (upload), NAME|ID (get/delete, experiments create), RUN
  std::string name;
  std::string description;
  std::string version;
  std::string pipeline;
  std::string experiment;
  std::vector<std::string> params;  // KEY=VALUE
  std::string task;
  bool wait = false;
  bool follow = false;
  std::string timeout = "24h";
};

// Registers the three command groups on `app`; Run runs the one the command line chose.
// Not copyable: CLI11 keeps pointers to the options.
class PipelinesCommands {
 public:
  explicit PipelinesCommands(CLI::App& app);
  PipelinesCommands(const PipelinesCommands&) = delete;
  PipelinesCommands& operator=(const PipelinesCommands&) = delete;

  // The exit code of the parsed pipelines/experiments/runs command; nullopt when the command
  // line chose another command.
  std::optional<int> Run(const Settings& settings) const;

 private:
  PipelinesCliOptions o_;
  CLI::App* pipelines_ = nullptr;
  CLI::App* experiments_ = nullptr;
  CLI::App* runs_ = nullptr;
};

}  // namespace skiff::cli
