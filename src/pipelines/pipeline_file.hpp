#pragma once
// Reading a pipeline file as users upload it: KFP v1's Argo Workflow YAML or KFP v2's pipeline
// IR YAML (optionally followed by a platform-spec document), or the same as JSON (the v2beta1
// API's `pipeline_spec` struct, possibly wrapping {"pipeline_spec": ..., "platform_spec": ...}).
// The format is recognized from the content; the result is compiled (argo.hpp / ir.hpp), so an
// upload is refused with the reason (naming the field) when a local run could not run it.
//
// Threading: thread-safe (the cache has its own lock).

#include <memory>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"
#include "pipelines/run_state.hpp"

namespace skiff::pipelines {

inline constexpr size_t kMaxPipelineFileBytes = 32 << 20;

struct PipelineFile {
  std::string format;  // "argo" or "ir"
  std::shared_ptr<const Program> program;
  json::object spec;           // the workflow (argo) or the pipeline spec (ir)
  json::object platform_spec;  // ir only; may be empty
};

Result<PipelineFile> ReadPipelineFile(std::string_view text);
// The same, remembered by the text's SHA-256 (the last 256 distinct files), for the API and the
// engine, which read the same manifests again and again (every run of a pipeline, every GET of
// a run). Errors are not remembered.
Result<std::shared_ptr<const PipelineFile>> ReadPipelineFileCached(std::string_view text);
// The same from a parsed JSON value (the v2beta1 API's pipeline_spec).
Result<PipelineFile> ReadPipelineJson(const json::value& value);

}  // namespace skiff::pipelines
