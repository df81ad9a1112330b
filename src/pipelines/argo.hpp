#pragma once
// The Argo Workflow reader: KFP v1 pipelines (the Workflow the KFP v1 SDK compiles, as JSON)
// compiled into a Program that runs them the way Argo's controller would, node for node, so
// that `status.nodes` (what KFP v1's UI reads) has Argo's names, ids, types and phases.
//
// Supported: container and script templates (command, args, env values, workingDir under /tmp),
// dag (dependencies, depends, arguments, when, withItems, withParam, withSequence, parallelism)
// and steps templates, input/output parameters and artifacts under /tmp, the usual
// `{{...}}` variables, retryStrategy, activeDeadlineSeconds/timeout, workflow parallelism,
// deadline, arguments and onExit, recursion, KFP v1's caching labels.
// Refused at compile time with InvalidArgument naming the field ("spec.templates[3].resource:
// ..."): whatever needs a cluster or is not implemented (resource/suspend/http/... templates,
// volumes, sidecars, init containers, pod spec patches, GPUs, remote artifact repositories,
// paths outside /tmp, templateRef, `{{=...}}` expressions), dangling references, cycles and
// expressions that do not parse.
//
// Differences from Argo (documented, deliberate): references to outputs of a task that was
// skipped or omitted stay literal (as Argo leaves them), any other unresolvable reference fails
// the node; DAG failFast is not implemented (independent branches keep running after a failure);
// retryStrategy.backoff.maxDuration caps each back-off rather than the whole retry period.
//
// Depends on core and run_state only. Threading: CompileArgoWorkflow is a pure function; the
// Program it returns is immutable and may be shared by any number of threads and runs.

#include <memory>

#include "core/json.hpp"
#include "core/result.hpp"
#include "pipelines/run_state.hpp"

namespace skiff::pipelines {

// Parses and validates an Argo Workflow (apiVersion argoproj.io/v1alpha1, kind Workflow).
Result<std::shared_ptr<const Program>> CompileArgoWorkflow(const json::object& workflow);

}  // namespace skiff::pipelines
