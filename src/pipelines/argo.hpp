#pragma once
// The Argo Workflow reader: KFP v1 pipelines (the Workflow the KFP v1 SDK compiles, as JSON)
// compiled into a Program that runs them the way Argo's controller would, node for node, so
// that `status.nodes` (what KFP v1's UI reads) has Argo's names, ids, types and phases.
//
// Supported: container and script templates (command, args, env values and the downward-API
// fields KFP reads, workingDir under /tmp), dag (dependencies, depends, arguments, when,
// withItems, withParam, withSequence, parallelism, continueOn) and steps templates, input/output
// parameters and artifacts under /tmp (raw input artifacts too), the usual `{{...}}` variables,
// retryStrategy, activeDeadlineSeconds/timeout, workflow parallelism, deadline, arguments and
// onExit ({{workflow.status}}, {{workflow.failures}}), recursion (at most 200 nested DAG/steps
// templates), KFP v1's caching label and max_cache_staleness annotation.
// Refused at compile time with InvalidArgument naming the field ("spec.templates[3].resource:
// ..."): whatever a local run cannot do (resource/suspend/http/... templates,
// volumes, sidecars, init containers, pod spec patches, GPUs, secrets and config maps, remote
// artifact repositories, paths outside /tmp, templateRef, `{{=...}}` expressions), dangling
// references (templates, tasks, steps, parameters, unknown variables), cycles and expressions
// that do not parse.
//
// As Argo: nodes are named "<dag node>.<task>", "<task>(<i>:<item>)", "<steps>[<i>].<step>";
// a task's node hangs under the outbound nodes of what it depends on; output parameters lose one
// trailing newline; a DAG fails when a target task's branch failed (an omitted task carries its
// dependencies' failure); a skipped task's outputs stay literal where referenced (Argo's
// allowUnresolved), any other unresolvable reference errors the node ("Unable to resolve: ...").
// Differences: when a failure is known and tasks wait only for a parallelism slot, Argo's
// failFast fails the DAG without starting them, skiff starts them; retryStrategy without a
// limit retries 10 times; backoff.maxDuration caps each back-off, not the whole retry period.
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
