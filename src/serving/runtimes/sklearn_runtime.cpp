// SklearnRuntime::Load: find the pickle, convert it once with the embedded importer (cached by
// SHA-256 in the work directory), parse and verify the native file.

#include "serving/runtimes/sklearn_runtime.hpp"

#include <openssl/evp.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "serving/runtimes/sklearn_subprocess.hpp"

namespace skiff::serving {

namespace embedded {
extern const std::string_view k_sklearn_export_py;
}  // namespace embedded

namespace {

namespace stdfs = std::filesystem;

constexpr std::string_view kStatusPrefix = "SKIFF-SKLEARN-STATUS ";
constexpr const char* kFallback = "; it will be served by the Python worker runtime";

// KServe's sklearnserver MODEL_EXTENSIONS, and the names tried first.
constexpr const char* kExtensions[] = {".joblib", ".pkl", ".pickle"};
constexpr const char* kCanonical[] = {"model.joblib", "model.pkl", "model.pickle"};

bool HasModelExtension(const std::string& name) {
  for (const char* ext : kExtensions) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      return true;
    }
  }
  return false;
}

// SHA-256 of a file, streamed. Errors: NotFound, PermissionDenied, InvalidArgument (too big).
Result<std::string> Sha256File(const std::string& path, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int e = errno;
    if (e == ENOENT) return NotFound(path + " does not exist");
    return PermissionDenied("cannot read " + path + ": " + std::strerror(e));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  SKIFF_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  std::vector<char> buf(1 << 16);
  size_t total = 0;
  while (true) {
    const size_t got = std::fread(buf.data(), 1, buf.size(), f);
    if (got > 0) {
      total += got;
      if (total > max_bytes) {
        return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) +
                               " bytes, the limit for scikit-learn models");
      }
      SKIFF_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), got) == 1);
    }
    if (got < buf.size()) {
      if (std::ferror(f)) return PermissionDenied("error reading " + path);
      break;
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  SKIFF_CHECK(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string ImporterVersion() {
  static const std::string v = HexEncode(Sha256(embedded::k_sklearn_export_py)).substr(0, 12);
  return v;
}

std::string Seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", ms.count() / 1000.0);
  return buf;
}

// The last few lines of the importer's stderr, for error messages.
std::string Tail(const std::string& err, size_t max_chars = 600) {
  std::string t = err.size() > max_chars ? err.substr(err.size() - max_chars) : err;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

// Runs the importer for one pickle; on success the native file is at `out`.
Status Import(const SklearnOptions& options, const std::string& model_file, const std::string& out,
              std::chrono::milliseconds timeout) {
  const std::string file = stdfs::path(model_file).filename().string();
  std::vector<std::string> env = {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
                                  "MKL_NUM_THREADS=1"};
  auto run = sklearn::RunSubprocess(SklearnImporterArgv(options.python, {{model_file, out}}), env,
                                    timeout);
  if (!run) {
    return FailedPrecondition(run.error().message() +
                              ": the native scikit-learn runtime needs Python with scikit-learn "
                              "(Debian's python3-sklearn)");
  }
  if (run->timed_out) {
    return DeadlineExceeded("converting " + file + " with " + options.python +
                            " did not finish within the load time-out (" + Seconds(timeout) + ")");
  }
  // The status line.
  json::object status;
  bool have_status = false;
  size_t pos = 0;
  while (pos < run->out.size()) {
    size_t end = run->out.find('\n', pos);
    if (end == std::string::npos) end = run->out.size();
    std::string_view line(run->out.data() + pos, end - pos);
    if (line.substr(0, kStatusPrefix.size()) == kStatusPrefix) {
      auto parsed = ParseJsonObject(line.substr(kStatusPrefix.size()));
      if (parsed) {
        status = std::move(*parsed);
        have_status = true;
      }
    }
    pos = end + 1;
  }
  if (!have_status) {
    std::string how = run->term_signal ? "was killed by signal " + std::to_string(run->term_signal)
                                       : "exited with code " + std::to_string(run->exit_code);
    return Internal("the scikit-learn importer " + how + " while converting " + file + ": " +
                    Tail(run->err));
  }
  const json::value* ok = status.if_contains("ok");
  if (ok != nullptr && ok->is_bool() && ok->get_bool()) return Status::Ok();
  const std::string kind = GetString(status, "kind");
  const std::string estimator = GetString(status, "estimator");
  const std::string message = GetString(status, "message");
  if (kind == "unsupported") {
    return FailedPrecondition(file + ": " + estimator + " is not supported natively" +
                              (message.empty() ? "" : " (" + message + ")") + kFallback);
  }
  if (kind == "missing_code") {
    return FailedPrecondition(file + " needs Python code that the native importer cannot load (" +
                              message + ")" + kFallback);
  }
  if (kind == "load") {
    return InvalidArgument(file + " is not a valid joblib or pickle file (" + message +
                           "): save the model with joblib.dump(model, \"model.joblib\")");
  }
  return FailedPrecondition("the native importer could not convert " + file + " (" + message + ")" +
                            kFallback);
}

// Files converted from the same pickle by other importer versions are dead weight once this
// version has converted it.
void RemoveOtherVersions(const std::string& work_dir, const std::string& sha,
                         const std::string& keep) {
  const std::string prefix = "sklearn-" + sha + "-";
  std::error_code ec;
  for (stdfs::directory_iterator it(work_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0 && it->path().string() != keep) {
      std::error_code ignored;
      stdfs::remove(it->path(), ignored);
    }
  }
}

Result<std::shared_ptr<const sklearn::SklearnModel>> ParseFile(const std::string& path,
                                                               size_t max_bytes) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(path, max_bytes));
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<sklearn::SklearnModel> m,
                         sklearn::SklearnModel::Parse(text));
  return std::shared_ptr<const sklearn::SklearnModel>(std::move(m));
}

}  // namespace

Result<std::string> FindSklearnModelFile(const std::string& path) {
  std::error_code ec;
  const stdfs::file_status st = stdfs::status(path, ec);
  if (ec || !stdfs::exists(st)) {
    return NotFound("model path " + path +
                    " does not exist: put model.joblib (or model.pkl) there or fix storageUri");
  }
  if (stdfs::is_regular_file(st)) return path;
  if (!stdfs::is_directory(st)) return NotFound(path + " is neither a file nor a directory");
  for (const char* name : kCanonical) {
    const stdfs::path p = stdfs::path(path) / name;
    if (stdfs::is_regular_file(p, ec)) return p.string();
  }
  std::vector<std::string> found;
  for (stdfs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && HasModelExtension(it->path().filename().string())) {
      found.push_back(it->path().string());
    }
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return NotFound("no scikit-learn model file in " + path +
                    ": looked for model.joblib, model.pkl, model.pickle or one *.joblib, *.pkl "
                    "or *.pickle file; put the model there (joblib.dump(model, "
                    "\"model.joblib\")) or fix storageUri");
  }
  std::sort(found.begin(), found.end());
  std::string list;
  for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
  return FailedPrecondition("more than one model file in " + path + " (" + list +
                            "): keep one, or name it model.joblib");
}

std::string SklearnCachePath(const std::string& work_dir, std::string_view sha256_hex) {
  return (stdfs::path(work_dir) /
          ("sklearn-" + std::string(sha256_hex) + "-" + ImporterVersion() + ".json"))
      .string();
}

std::vector<std::string> SklearnImporterArgv(
    const std::string& python, const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<std::string> argv = {python, "-I", "-B", "-c",
                                   std::string(embedded::k_sklearn_export_py)};
  for (const auto& [model, out] : pairs) {
    argv.push_back(model);
    argv.push_back(out);
  }
  return argv;
}

SklearnRuntime::SklearnRuntime(SklearnOptions options) : options_(std::move(options)) {}

Result<std::shared_ptr<Model>> SklearnRuntime::Load(const LoadRequest& request) {
  SKIFF_ASSIGN_OR_RETURN(std::string model_file, FindSklearnModelFile(request.path));
  SKIFF_ASSIGN_OR_RETURN(std::string sha, Sha256File(model_file, options_.max_model_bytes));

  // Without a work directory, convert into a private temporary one.
  std::string work_dir = request.work_dir;
  std::unique_ptr<std::string, void (*)(std::string*)> temp_dir(nullptr, [](std::string* d) {
    std::error_code ec;
    stdfs::remove_all(*d, ec);
    delete d;
  });
  if (work_dir.empty()) {
    std::string tmpl = (stdfs::temp_directory_path() / "skiff-sklearn-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Internal("cannot create a temporary directory: " + std::string(strerror(errno)));
    }
    work_dir = tmpl;
    temp_dir.reset(new std::string(tmpl));
  } else {
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(work_dir, 0700));
  }
  const std::string cached = SklearnCachePath(work_dir, sha);

  std::shared_ptr<const sklearn::SklearnModel> model;
  if (FileExists(cached)) {
    auto parsed = ParseFile(cached, options_.max_model_bytes);
    if (parsed) model = std::move(*parsed);  // else convert again over the damaged file
  }
  if (!model) {
    SKIFF_RETURN_IF_ERROR(Import(options_, model_file, cached, request.timeout));
    auto parsed = ParseFile(cached, options_.max_model_bytes);
    if (!parsed) {
      return FailedPrecondition("the native importer converted " + model_file +
                                " into a file skiff cannot read (" + parsed.error().message() +
                                ")" + kFallback);
    }
    model = std::move(*parsed);
    RemoveOtherVersions(work_dir, sha, cached);
  }
  SKIFF_RETURN_IF_ERROR(model->Verify());
  return NewSklearnModel(request, std::move(model), options_.cheap_complexity);
}

}  // namespace skiff::serving
