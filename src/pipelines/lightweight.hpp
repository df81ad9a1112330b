#pragma once
// KFP v2 lightweight Python components on one machine. Most KFP v2 pipelines are made of tasks
// whose command is
//   sh -c '<pip install kfp==...> && "$0" "$@"' sh -ec '<write the source to a file> ...
//       python3 -m kfp.dsl.executor_main --component_module_path ...' '<source>'
//       --executor_input '{{$}}' --function_to_execute NAME
// A local run has no network: skiff drops the pip install step and runs the rest with skiff's
// own implementation of KFP's executor contract (the `kfp`, `kfp.dsl` and
// `kfp.dsl.executor_main` modules, in Python, embedded in the binary), or with the real `kfp`
// package when python3 can import it.
//
// Artifact paths (shared with ir.cpp): an artifact whose URI is "SCHEME://REST" is, inside the
// task, at "/tmp/skiff/artifacts/" + REST with its leading slashes removed (so
// "file:///var/lib/skiff/pipelines/artifacts/ns/run/a/model" is
// "/tmp/skiff/artifacts/var/lib/skiff/pipelines/artifacts/ns/run/a/model" and
// "s3://bucket/p/x" is "/tmp/skiff/artifacts/bucket/p/x"). The engine copies input artifacts
// there before the task starts and stores output artifacts from there after it ends.
//
// Threading: pure functions, except InstallKfpShim (writes files; blocking).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::pipelines {

// The task-local path of an artifact stored at `uri` (see above).
std::string ArtifactLocalPath(std::string_view uri);

// When `argv` is KFP's lightweight-component command, the same command without the network
// step (pip install), so it runs with the executor skiff provides; nullopt for other commands.
std::optional<std::vector<std::string>> LocalLightweightCommand(
    const std::vector<std::string>& argv);

// Writes skiff's `kfp` executor package (embedded Python) under `dir` (created; replaced if an
// older version is there). Call once at start-up.
Status InstallKfpShim(const std::string& dir);

// Environment variables every task gets so that `python3 -m kfp.dsl.executor_main` finds a
// `kfp` package: the real one when importable, else skiff's under `dir`.
std::map<std::string, std::string> KfpShimEnvironment(const std::string& dir);

}  // namespace skiff::pipelines
