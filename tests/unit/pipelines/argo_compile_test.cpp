// Compiling Argo Workflows: metadata, parameters, and every refusal naming its field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/yaml.hpp"
#include "pipelines/argo.hpp"

namespace skiff::pipelines {
namespace {

using testing::HasSubstr;

json::object Yaml(const std::string& text) {
  auto v = ParseYaml(text);
  EXPECT_TRUE(v) << (v ? "" : v.error().ToString());
  if (!v || !v->is_object()) return {};
  return v->as_object();
}

// A workflow whose templates are `templates` (YAML list items, indented by two spaces).
json::object Workflow(const std::string& templates, const std::string& spec_extra = "") {
  return Yaml(R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: my-pipe-
spec:
  entrypoint: main
)" + spec_extra +
              "  templates:\n" + templates);
}

const char kEcho[] = R"(  - name: echo
    container:
      image: alpine
      command: [echo, hi]
)";

Status Refusal(const json::object& wf) {
  auto p = CompileArgoWorkflow(wf);
  if (p) return Status::Ok();
  EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  return p.error();
}

void ExpectRefused(const json::object& wf, const std::string& field, const std::string& what = "") {
  Status s = Refusal(wf);
  ASSERT_FALSE(s.ok()) << "accepted, wanted a refusal at " << field;
  EXPECT_THAT(s.message(), HasSubstr(field + ": ")) << s.message();
  if (!what.empty()) {
    EXPECT_THAT(s.message(), HasSubstr(what)) << s.message();
  }
}

TEST(ArgoCompileTest, NameDescriptionAndParametersFromMetadata) {
  auto wf = Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{workflow.parameters.a}}']}
)",
                     R"(  arguments:
    parameters:
    - {name: a, value: x}
    - {name: b, value: 3}
    - {name: c}
  parallelism: 4
  activeDeadlineSeconds: 60
)");
  auto p = CompileArgoWorkflow(wf);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ((*p)->format(), "argo");
  EXPECT_EQ((*p)->name(), "my-pipe");  // generateName without the '-'
  EXPECT_EQ((*p)->description(), "");
  EXPECT_EQ((*p)->parallelism(), 4);
  EXPECT_EQ((*p)->deadline_ms(), 60000);
  auto params = (*p)->parameters();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].name, "a");
  EXPECT_EQ(params[0].default_value, json::value("x"));
  EXPECT_EQ(params[1].default_value, json::value("3"));  // Argo parameters are strings
  EXPECT_FALSE(params[2].default_value.has_value());
  for (const auto& pi : params) EXPECT_EQ(pi.type, "STRING");

  json::object kfp = wf;
  kfp["metadata"].as_object()["annotations"] = json::object{
      {"pipelines.kubeflow.org/pipeline_spec",
       R"({"name": "Nice name", "description": "does things", "inputs": [{"name": "a", "description": "the a"}]})"}};
  auto q = CompileArgoWorkflow(kfp);
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ((*q)->name(), "Nice name");
  EXPECT_EQ((*q)->description(), "does things");
  EXPECT_EQ((*q)->parameters()[0].description, "the a");
}

TEST(ArgoCompileTest, WrongKindOrVersion) {
  auto wf = Workflow(std::string(kEcho));
  wf["kind"] = "CronWorkflow";
  ExpectRefused(wf, "kind");
  wf["kind"] = "Workflow";
  wf["apiVersion"] = "v1";
  ExpectRefused(wf, "apiVersion");
}

TEST(ArgoCompileTest, EntrypointAndReferencedTemplatesMustExist) {
  ExpectRefused(Workflow(kEcho), "spec.entrypoint", "no template named 'main'");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: nope}
)"),
                "spec.templates[0].dag.tasks[0].template", "no template named 'nope'");
  ExpectRefused(Workflow(R"(  - name: main
    steps:
    - - {name: a, template: echo}
    - - {name: b, template: missing}
)" + std::string(kEcho)),
                "spec.templates[0].steps[1][0].template");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
)",
                         "  onExit: gone\n"),
                "spec.onExit");
}

TEST(ArgoCompileTest, ClusterOnlyTemplatesAreRefused) {
  ExpectRefused(Workflow(R"(  - name: main
    resource: {action: create, manifest: "kind: ConfigMap"}
)"),
                "spec.templates[0].resource", "needs a cluster");
  ExpectRefused(Workflow(R"(  - name: main
    suspend: {}
)"),
                "spec.templates[0].suspend");
  ExpectRefused(Workflow(R"(  - name: main
    http: {url: "http://x"}
)"),
                "spec.templates[0].http");
  ExpectRefused(Workflow(R"(  - name: main
    inputs: {parameters: [{name: a}]}
)"),
                "spec.templates[0]", "no container, script, dag or steps");
}

TEST(ArgoCompileTest, PodFeaturesThatNeedAClusterAreRefused) {
  auto with = [](const std::string& extra_template, const std::string& extra_container = "") {
    return Workflow(R"(  - name: main
    container:
      image: alpine
      command: [echo]
)" + extra_container +
                    extra_template);
  };
  ExpectRefused(with("    volumes: [{name: v, emptyDir: {}}]\n"), "spec.templates[0].volumes");
  ExpectRefused(with("", "      volumeMounts: [{name: v, mountPath: /mnt}]\n"),
                "spec.templates[0].container.volumeMounts");
  ExpectRefused(with("    sidecars: [{name: s, image: redis}]\n"), "spec.templates[0].sidecars");
  ExpectRefused(with("    initContainers: [{name: s, image: busybox}]\n"),
                "spec.templates[0].initContainers");
  ExpectRefused(with("    podSpecPatch: '{}'\n"), "spec.templates[0].podSpecPatch");
  ExpectRefused(with("", "      resources: {limits: {nvidia.com/gpu: 1}}\n"),
                "spec.templates[0].container.resources.limits.nvidia.com/gpu", "accelerators");
  ExpectRefused(with("", "      env: [{name: K, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n"),
                "spec.templates[0].container.env[0].valueFrom");
  ExpectRefused(
      with("", "      env: [{name: K, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]\n"),
      "spec.templates[0].container.env[0].valueFrom", "no local value");
  ExpectRefused(with("", "      workingDir: /workspace\n"),
                "spec.templates[0].container.workingDir", "outside /tmp");
  ExpectRefused(Workflow(kEcho, "  volumes: [{name: v, emptyDir: {}}]\n"), "spec.volumes");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, args: [x]}
)"),
                "spec.templates[0].container.command", "entrypoint");
  // cpu and memory requests are fine (recorded nowhere, nothing to enforce them with).
  EXPECT_TRUE(Refusal(with("", "      resources: {limits: {cpu: '1', memory: 1Gi}}\n")).ok());
  EXPECT_TRUE(Refusal(with("", "      workingDir: /tmp/w\n")).ok());
}

TEST(ArgoCompileTest, ArtifactsOutsideTmpOrRemoteAreRefused) {
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    outputs:
      parameters:
      - {name: p, valueFrom: {path: /out/p.txt}}
)"),
                "spec.templates[0].outputs.parameters[0].valueFrom.path", "outside /tmp");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    outputs:
      artifacts:
      - {name: a, path: /tmp/../etc/a}
)"),
                "spec.templates[0].outputs.artifacts[0].path");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    inputs:
      artifacts:
      - {name: a, path: /data/in}
)"),
                "spec.templates[0].inputs.artifacts[0].path");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    outputs:
      artifacts:
      - {name: a, path: /tmp/a, s3: {bucket: b, key: k}}
)"),
                "spec.templates[0].outputs.artifacts[0].s3", "artifact repositories");
  ExpectRefused(Workflow(kEcho, "  artifactRepositoryRef: {configMap: x}\n"),
                "spec.artifactRepositoryRef");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    outputs:
      parameters:
      - {name: p, valueFrom: {jsonPath: '{.metadata.name}'}}
)"),
                "spec.templates[0].outputs.parameters[0].valueFrom.jsonPath");
}

TEST(ArgoCompileTest, DagErrors) {
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo, dependencies: [c]}
      - {name: b, template: echo, dependencies: [a]}
      - {name: c, template: echo, depends: b.Succeeded}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[0]", "dependency cycle");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo, dependencies: [ghost]}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[0].dependencies", "no task named 'ghost'");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo, depends: 'a.Succeeded &&'}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[1].depends");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo, when: '"x" == '}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[0].when", "invalid 'when' expression");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: a, template: echo}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[1].name", "duplicate");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo, withItems: [1], withParam: '[1]'}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[0]", "only one of");
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - {name: a, templateRef: {name: t, template: x}}
)"),
                "spec.templates[0].dag.tasks[0].templateRef");
}

TEST(ArgoCompileTest, UnknownVariablesAreRefused) {
  ExpectRefused(Workflow(R"(  - name: main
    dag:
      tasks:
      - name: a
        template: echo
        arguments: {parameters: [{name: x, value: '{{tasks.nobody.outputs.result}}'}]}
)" + std::string(kEcho)),
                "spec.templates[0].dag.tasks[0].arguments.parameters[0]", "no task named 'nobody'");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{inputs.parameters.missing}}']}
)"),
                "spec.templates[0].container.command[1]", "no input parameter 'missing'");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{workflow.parameters.nope}}']}
)"),
                "spec.templates[0].container.command[1]", "no workflow parameter 'nope'");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{=sprig.upper("x")}}']}
)"),
                "spec.templates[0].container.command[1]", "expression templates");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{something.else}}']}
)"),
                "spec.templates[0].container.command[1]", "unknown variable");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{workflow.nonsense}}']}
)"),
                "spec.templates[0].container.command[1]", "unknown variable");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo, '{{lastRetry.exitCode}}']}
)"),
                "spec.templates[0].container.command[1]", "unknown variable");
}

TEST(ArgoCompileTest, RetryAndDeadlinesValidated) {
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    retryStrategy: {limit: 2, retryPolicy: Sometimes}
)"),
                "spec.templates[0].retryStrategy.retryPolicy");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    retryStrategy: {limit: 2, backoff: {duration: soon}}
)"),
                "spec.templates[0].retryStrategy.backoff.duration");
  ExpectRefused(Workflow(R"(  - name: main
    container: {image: alpine, command: [echo]}
    activeDeadlineSeconds: later
)"),
                "spec.templates[0].activeDeadlineSeconds");
}

TEST(ArgoCompileTest, DagLevelRetriesAndDeadlinesAreRefused) {
  for (const char* field :
       {"retryStrategy: {limit: 2}", "activeDeadlineSeconds: 5", "timeout: 1m"}) {
    ExpectRefused(Workflow(std::string(R"(  - name: main
    )") + field + R"(
    dag:
      tasks:
      - {name: a, template: echo}
)" + kEcho),
                  std::string("spec.templates[0].") +
                      std::string(field).substr(0, std::string(field).find(':')),
                  "only container and script templates");
  }
}

TEST(ArgoCompileTest, MalformedShapesAreErrorsNotCrashes) {
  for (const char* text :
       {"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n",
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {templates: 3}\n",
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  entrypoint: m\n"
        "  templates: [{name: m, container: 5}]\n",
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  entrypoint: m\n"
        "  templates: [{name: m, dag: {tasks: [{name: a, template: m, "
        "arguments: {parameters: 7}}]}}]\n"}) {
    auto p = CompileArgoWorkflow(Yaml(text));
    EXPECT_FALSE(p) << text;
  }
}

}  // namespace
}  // namespace skiff::pipelines
