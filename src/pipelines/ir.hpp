#pragma once
// The KFP v2 pipeline IR reader: a compiled `PipelineSpec` (the YAML `kfp.compiler` writes,
// schemaVersion 2.1.0) validated once into an immutable Program (run_state.hpp) that any number
// of runs share.
//
// Node model (KFP v2 on Argo, flattened): the run is a root "DAG" node; a task whose component
// is a DAG (nested pipeline, dsl.If condition group, exit-handler group) is a "DAG" node; a
// task with a parameterIterator (dsl.ParallelFor) is a "TaskGroup" node whose children are one
// "DAG" node per iteration (display name "for-loop-2(0:1)", no task_name: iterations are not
// tasks of the file); a task whose component runs a container is a
// "Pod" node. Node::task_name is the IR task name (v2's run_details.task_details), display_name
// the task's `taskInfo.name`, template_name the component name. A task that never runs is,
// as in Argo, a node of type "Skipped" with no children: phase Skipped when its triggerPolicy
// condition is false (or an upstream it takes inputs from was skipped), Omitted when an upstream
// task failed (or, Argo's failFast, a sibling failed before it started), Failed when its inputs
// or condition could not be evaluated (the message says why). Tasks with triggerPolicy.strategy
// ALL_UPSTREAM_TASKS_COMPLETED (exit handlers) run anyway once their upstream tasks are finished.
// A run the engine retries (failed leaves removed, their containers Running again) continues:
// DAG outputs are computed again when the DAG completes again.
//
// Task files and values (see run_state.hpp for the division of work with the engine):
//   output parameter files   /tmp/outputs/<node id>/<name>, read as the parameter's type
//   executor output          /tmp/kfp_outputs/output_metadata.json (LaunchSpec)
//   output artifact URIs     RunContext::pipeline_root/<task name>/<node id>/<artifact name>,
//                            in the task at ArtifactLocalPath(uri) (lightweight.hpp)
//   input artifacts          copied to ArtifactLocalPath(producer's uri)
// Lightweight Python components run through LocalLightweightCommand (lightweight.hpp).
//
// Caching: a Pod node's LaunchSpec::cache_key is the hex SHA-256 of the component's container
// spec (image, unresolved command and args), its output definitions and the task's resolved
// input parameters and input artifact URIs, when the task's cachingOptions.enableCache is true
// (KFP's `cachingOptions: {}` means disabled).
//
// Not supported, refused by CompileKfpIr with the field path: importers of non-file:// URIs,
// resolvers, custom jobs and other executor kinds, accelerators, artifact iterators, platform
// (Kubernetes) settings other than imagePullPolicy, imagePullSecret, podMetadata (recorded only)
// and activeDeadlineSeconds (the task's time-out). CPU and memory requests/limits are accepted
// and not enforced. `defaultPipelineRoot` is replaced by skiff's artifact store.
//
// Threading: CompileKfpIr is pure; the Program is immutable and thread-safe.

#include <memory>

#include "core/json.hpp"
#include "core/result.hpp"
#include "pipelines/run_state.hpp"

namespace skiff::pipelines {

// Parses and validates a KFP IR pipeline (the first YAML document) and its optional platform
// spec (the second document, `platforms.kubernetes...`; nullptr if absent). InvalidArgument
// naming the field path for anything a local run cannot do or that is inconsistent (unknown
// componentRef, producer task or input, dependency cycles, unparseable conditions).
Result<std::shared_ptr<const Program>> CompileKfpIr(const json::object& pipeline_spec,
                                                    const json::object* platform_spec);

// KFP's output locations inside a task (exposed for the engine and tests).
inline constexpr std::string_view kIrExecutorOutputPath = "/tmp/kfp_outputs/output_metadata.json";
std::string IrOutputParameterPath(std::string_view node_id, std::string_view name);
std::string IrOutputArtifactUri(std::string_view pipeline_root, std::string_view task_name,
                                std::string_view node_id, std::string_view name);

}  // namespace skiff::pipelines
