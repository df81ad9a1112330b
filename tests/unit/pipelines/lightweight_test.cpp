#include "pipelines/lightweight.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "core/yaml.hpp"

namespace skiff::pipelines {
namespace {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with its content on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = base + "/skiff-lightweight-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The KFP SDK's compiled samples (../shared/kfp-samples next to the checkout, or
// $SKIFF_KFP_SAMPLES).
std::string SamplesDir() {
  if (const char* env = std::getenv("SKIFF_KFP_SAMPLES")) return env;
  fs::path root = SKIFF_TEST_SOURCE_DIR;
  return (root.parent_path() / "shared" / "kfp-samples").string();
}

json::value LoadSample(const std::string& name) {
  std::string path = SamplesDir() + "/v2-ir/" + name;
  auto text = ReadFile(path);
  EXPECT_TRUE(text) << path << ": " << (text ? "" : text.error().ToString());
  if (!text) return json::value();
  auto doc = ParseYaml(*text);
  EXPECT_TRUE(doc) << path;
  return doc ? *doc : json::value();
}

std::vector<std::string> Strings(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& s : v->as_array()) out.push_back(std::string(s.as_string()));
  return out;
}

struct Executor {
  std::string name;
  std::vector<std::string> command;
  std::vector<std::string> args;
};

std::vector<Executor> Executors(const json::value& doc) {
  std::vector<Executor> out;
  const json::value* executors = Find(doc, "deploymentSpec.executors");
  if (executors == nullptr || !executors->is_object()) return out;
  for (const auto& [name, e] : executors->as_object()) {
    out.push_back({std::string(name), Strings(Find(e, "container.command")),
                   Strings(Find(e, "container.args"))});
  }
  return out;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- LocalLightweightCommand ---

TEST(LightweightCommand, SamplesDropOnlyTheInstallStep) {
  int lightweight = 0;
  for (const char* file :
       {"add_numbers.yaml", "artifacts_simple.yaml", "parameters_simple.yaml", "flip_coin.yaml"}) {
    json::value doc = LoadSample(file);
    for (const Executor& e : Executors(doc)) {
      SCOPED_TRACE(std::string(file) + " " + e.name);
      std::vector<std::string> argv = Concat(e.command, e.args);
      auto local = LocalLightweightCommand(argv);
      bool is_kfp =
          e.command.size() > 5 && e.command[5].find("kfp.dsl.executor_main") != std::string::npos;
      if (!is_kfp) {
        EXPECT_FALSE(local.has_value());  // jq and python -c containers are left alone
        continue;
      }
      ++lightweight;
      ASSERT_TRUE(local.has_value());
      // Exactly the program step and the arguments, unchanged.
      EXPECT_EQ(*local, std::vector<std::string>(argv.begin() + 3, argv.end()));
      EXPECT_EQ((*local)[0], "sh");
      EXPECT_EQ((*local)[1], "-ec");
      EXPECT_EQ((*local)[3], e.command[6]);  // the component's source
      for (const std::string& arg : *local) {
        EXPECT_EQ(arg.find("pip install"), std::string::npos) << arg;
      }
      EXPECT_EQ(std::vector<std::string>(local->end() - 4, local->end()), e.args);
    }
  }
  EXPECT_EQ(lightweight, 1 + 2 + 2 + 7);  // every KFP executor of the four files
}

const char kInstall20[] =
    "\nif ! [ -x \"$(command -v pip)\" ]; then\n    python3 -m ensurepip || python3 -m ensurepip "
    "--user || apt-get install python3-pip\nfi\n\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip "
    "install --quiet     --no-warn-script-location 'pandas' 'kfp==2.0.1' && \"$0\" \"$@\"\n";
const char kProgram20[] =
    "program_path=$(mktemp -d)\nprintf \"%s\" \"$0\" > \"$program_path/ephemeral_component.py\"\n"
    "python3 -m kfp.components.executor_main                         --component_module_path    "
    "                     \"$program_path/ephemeral_component.py\"                         "
    "\"$@\"\n";
const char kSource[] = "\nimport kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\n\ndef f():\n";

TEST(LightweightCommand, Kfp20WithPackagesToInstall) {
  std::vector<std::string> argv = {
      "sh",       "-c",    kInstall20,         "sh", "-ec",
      kProgram20, kSource, "--executor_input", "{}", "--function_to_execute",
      "f"};
  auto local = LocalLightweightCommand(argv);
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(*local, std::vector<std::string>(argv.begin() + 3, argv.end()));
}

TEST(LightweightCommand, VenvAndIndexUrlVariants) {
  std::string venv =
      "\nif ! [ -x \"$(command -v pip)\" ]; then\n    python3 -m ensurepip\nfi\n\n"
      "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location "
      "--index-url https://example.org/simple --trusted-host https://example.org/simple 'yapf' "
      "&& \nexport PIP_DISABLE_PIP_VERSION_CHECK=1\ntmp=$(mktemp -d)\npython3 -m venv "
      "\"$tmp/venv\" --system-site-packages\n. \"$tmp/venv/bin/activate\"\n python3 -m pip "
      "install --quiet --no-warn-script-location 'kfp==2.14.6' '--no-deps' && \"$0\" \"$@\"\n";
  std::vector<std::string> argv = {"sh",    "-c",
                                   venv,    "sh",
                                   "-ec",   kProgram20,
                                   kSource, "--function_to_execute",
                                   "f",     "--executor_input",
                                   "{}"};
  auto local = LocalLightweightCommand(argv);
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->size(), argv.size() - 3);
  EXPECT_EQ((*local)[2], kProgram20);
}

TEST(LightweightCommand, WithoutInstallStepIsReturnedAsIs) {
  // install_kfp_package=False and no packages_to_install: KFP emits the program step only.
  std::vector<std::string> argv = {
      "sh", "-ec", kProgram20, kSource, "--executor_input", "{}", "--function_to_execute", "f"};
  auto local = LocalLightweightCommand(argv);
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(*local, argv);
}

TEST(LightweightCommand, OtherCommandsAreNotLightweight) {
  using V = std::vector<std::string>;
  EXPECT_FALSE(LocalLightweightCommand(V{}).has_value());
  EXPECT_FALSE(LocalLightweightCommand(V{"sh", "-c", "echo hi"}).has_value());
  EXPECT_FALSE(LocalLightweightCommand(V{"python", "-c", "print(1)", "a"}).has_value());
  // An install step in front of something that is not KFP's executor.
  EXPECT_FALSE(LocalLightweightCommand(V{"sh", "-c", kInstall20, "sh", "-ec", "echo $0", "x",
                                         "--function_to_execute", "f"})
                   .has_value());
  // An install step that does not hand over to "$0" "$@".
  EXPECT_FALSE(LocalLightweightCommand(V{"sh", "-c", "pip install kfp", "sh", "-ec", kProgram20,
                                         kSource, "--function_to_execute", "f"})
                   .has_value());
  // No function to execute: the containerized-component form needs kfp_config.ini.
  EXPECT_FALSE(LocalLightweightCommand(V{"sh", "-c", kInstall20, "sh", "-ec", kProgram20, kSource,
                                         "--executor_input", "{}"})
                   .has_value());
  // The program without its source argument.
  EXPECT_FALSE(LocalLightweightCommand(V{"sh", "-ec", kProgram20}).has_value());
  // Containerized Python components (python3 -m kfp.dsl.executor_main in the image).
  EXPECT_FALSE(LocalLightweightCommand(V{"python3", "-m", "kfp.dsl.executor_main",
                                         "--executor_input", "{}", "--function_to_execute", "f"})
                   .has_value());
}

// --- ArtifactLocalPath ---

TEST(LightweightArtifactPath, UriToTaskLocalPath) {
  EXPECT_EQ(ArtifactLocalPath("file:///var/lib/skiff/pipelines/artifacts/ns/run/a/model"),
            "/tmp/skiff/artifacts/var/lib/skiff/pipelines/artifacts/ns/run/a/model");
  EXPECT_EQ(ArtifactLocalPath("s3://bucket/p/x"), "/tmp/skiff/artifacts/bucket/p/x");
  EXPECT_EQ(ArtifactLocalPath("gs://b//k/"), "/tmp/skiff/artifacts/b/k");
  EXPECT_EQ(ArtifactLocalPath("minio://mlpipeline/v2/artifacts/x"),
            "/tmp/skiff/artifacts/mlpipeline/v2/artifacts/x");
  // Dot segments cannot leave the artifact root.
  EXPECT_EQ(ArtifactLocalPath("file:///a/./b/../c"), "/tmp/skiff/artifacts/a/c");
  EXPECT_EQ(ArtifactLocalPath("file:///../../etc/passwd"), "/tmp/skiff/artifacts/etc/passwd");
  EXPECT_EQ(ArtifactLocalPath("s3://.."), "/tmp/skiff/artifacts");
  // Not a URI: a local path as is (KFP: "uri == path for local execution").
  EXPECT_EQ(ArtifactLocalPath("/tmp/x/y"), "/tmp/x/y");
  EXPECT_EQ(ArtifactLocalPath(""), "");
}

// --- InstallKfpShim / KfpShimEnvironment ---

std::string ShimRoot(const std::string& dir) {
  auto env = KfpShimEnvironment(dir);
  EXPECT_EQ(env.size(), 1u);
  fs::path boot = env["PYTHONPATH"];
  EXPECT_EQ(boot.filename(), "boot");
  return boot.parent_path().string();
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(LightweightShim, InstallWritesThePackageWithModes) {
  ScratchDir tmp;
  std::string dir = tmp.path() + "/shim";
  ASSERT_TRUE(InstallKfpShim(dir).ok());
  std::string root = ShimRoot(dir);
  EXPECT_EQ(fs::path(root).parent_path(), fs::path(dir));
  for (const char* rel :
       {"boot/sitecustomize.py", "pkg/kfp/__init__.py", "pkg/kfp/dsl/__init__.py",
        "pkg/kfp/dsl/executor_main.py", "pkg/kfp/dsl/executor.py",
        "pkg/kfp/dsl/types/artifact_types.py", "pkg/kfp/components/executor_main.py"}) {
    std::string path = root + "/" + rel;
    EXPECT_TRUE(FileExists(path)) << path;
    EXPECT_EQ(Mode(path), 0644u) << path;
  }
  for (const char* rel : {"", "/boot", "/pkg", "/pkg/kfp", "/pkg/kfp/dsl", "/pkg/kfp/dsl/types"}) {
    EXPECT_EQ(Mode(root + rel), 0755u) << rel;
  }
  // Compiled once (tasks see the package read-only and could not cache bytecode themselves).
  EXPECT_TRUE(FileExists(root + "/pkg/kfp/dsl/__pycache__/executor.cpython-311.pyc"));
  auto content = ReadFile(root + "/pkg/kfp/dsl/executor_main.py");
  ASSERT_TRUE(content);
  EXPECT_NE(content->find("--component_module_path"), std::string::npos);
  // Nothing but the version directory is left in `dir`.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(LightweightShim, InstallIsIdempotentAndRemovesOldVersions) {
  ScratchDir tmp;
  std::string dir = tmp.path() + "/shim";
  ASSERT_TRUE(InstallKfpShim(dir).ok());
  std::string root = ShimRoot(dir);
  std::string marker = root + "/pkg/kfp/dsl/executor.py";
  struct stat before {};
  ASSERT_EQ(::stat(marker.c_str(), &before), 0);

  // An older version, an abandoned temporary tree and a fresh one (another installer's).
  fs::create_directories(dir + "/v0123456789abcdef/pkg/kfp");
  fs::create_directories(dir + "/.tmp-abandoned/pkg");
  fs::create_directories(dir + "/.tmp-inprogress/pkg");
  fs::last_write_time(dir + "/.tmp-abandoned",
                      fs::file_time_type::clock::now() - std::chrono::hours(2));

  ASSERT_TRUE(InstallKfpShim(dir).ok());
  EXPECT_EQ(ShimRoot(dir), root);
  struct stat after {};
  ASSERT_EQ(::stat(marker.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // the installed version was left as it was
  EXPECT_FALSE(fs::exists(dir + "/v0123456789abcdef"));
  EXPECT_FALSE(fs::exists(dir + "/.tmp-abandoned"));
  EXPECT_TRUE(fs::exists(dir + "/.tmp-inprogress"));
}

TEST(LightweightShim, InstallFailsWhenDirIsAFile) {
  ScratchDir tmp;
  std::string dir = tmp.path() + "/file";
  std::ofstream(dir) << "x";
  EXPECT_FALSE(InstallKfpShim(dir).ok());
}

// Runs the add_numbers sample's real command, without its install step, with the installed
// package (python3 from Debian; no kfp installed).
TEST(LightweightShim, RunsAddNumbersSample) {
  ScratchDir tmp;
  std::string dir = tmp.path() + "/shim";
  ASSERT_TRUE(InstallKfpShim(dir).ok());
  json::value doc = LoadSample("add_numbers.yaml");
  auto executors = Executors(doc);
  ASSERT_EQ(executors.size(), 1u);
  auto local = LocalLightweightCommand(Concat(executors[0].command, executors[0].args));
  ASSERT_TRUE(local.has_value());

  std::string out = tmp.path() + "/out";
  json::object input = {{"inputs", {{"parameterValues", {{"a", 2}, {"b", 40}}}}},
                        {"outputs",
                         {{"parameters", {{"Output", {{"outputFile", out + "/params/Output"}}}}},
                          {"outputFile", out + "/kfp_outputs/output_metadata.json"}}}};
  for (std::string& arg : *local) {
    if (arg == "{{$}}") arg = Serialize(input);
  }
  ProcessOptions p;
  p.argv = *local;
  p.env = KfpShimEnvironment(dir);
  (*p.env)["PATH"] = "/usr/bin:/bin";
  (*p.env)["TMPDIR"] = tmp.path();
  p.working_dir = tmp.path();
  p.timeout = std::chrono::seconds(60);
  auto r = RunProcess(p);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->ok()) << r->Describe() << "\n" << r->out << r->err;
  auto output = ReadFile(out + "/kfp_outputs/output_metadata.json");
  ASSERT_TRUE(output);
  auto parsed = ParseJson(*output);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(Serialize(*parsed), R"({"parameterValues":{"Output":42}})");
  auto file = ReadFile(out + "/params/Output");
  ASSERT_TRUE(file);
  EXPECT_EQ(*file, "42");

  // A component that raises: non-zero exit, the traceback on stderr, no executor output.
  std::string bad_out = tmp.path() + "/bad";
  json::object bad_input = {{"inputs", {{"parameterValues", {{"a", "x"}, {"b", 1}}}}},
                            {"outputs", {{"outputFile", bad_out + "/output_metadata.json"}}}};
  std::vector<std::string> bad =
      *LocalLightweightCommand(Concat(executors[0].command, executors[0].args));
  for (std::string& arg : bad) {
    if (arg == "{{$}}") arg = Serialize(bad_input);
  }
  p.argv = bad;
  r = RunProcess(p);
  ASSERT_TRUE(r);
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(r->err.find("Traceback"), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("TypeError"), std::string::npos) << r->err;
  EXPECT_FALSE(FileExists(bad_out + "/output_metadata.json"));
}

}  // namespace
}  // namespace skiff::pipelines
