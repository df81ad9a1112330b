#include "sklearn_test_util.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "serving/runtimes/sklearn_runtime.hpp"
#include "serving/runtimes/sklearn_subprocess.hpp"

namespace skiff::serving {
namespace embedded {
extern const std::string_view k_sklearn_export_py;
}  // namespace embedded

namespace sklearn_test {

namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

std::string TrainScript() {
  return std::string(SKIFF_TEST_SOURCE_DIR) + "/tests/unit/serving/sklearn_train.py";
}

std::string Tail(const std::string& s) { return s.size() > 2000 ? s.substr(s.size() - 2000) : s; }

// An exclusive flock held for the object's life; waits at most `wait`.
class FileLock {
 public:
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path,
                                                   std::chrono::seconds wait) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Internal("open " + path + ": " + strerror(errno));
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::close(fd);
        return DeadlineExceeded("another test process held " + path + " for too long");
      }
      std::this_thread::sleep_for(50ms);  // bounded by the deadline above
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

Result<std::vector<std::string>> CaseNames(const std::string& root) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(root + "/manifest.json"));
  SKIFF_ASSIGN_OR_RETURN(json::value doc, ParseJson(text));
  std::vector<std::string> names;
  for (const json::value& c : doc.at("cases").as_array()) {
    names.emplace_back(c.at("name").as_string());
  }
  return names;
}

// Trains every model into `dir` and converts them all into dir/work with one importer run.
Status Train(const std::string& dir) {
  auto train = sklearn::RunSubprocess({kPython, TrainScript(), dir}, {"OMP_NUM_THREADS=1"}, 300s);
  if (!train) return train.error();
  if (train->timed_out || train->exit_code != 0) {
    return Internal("sklearn_train.py failed (exit " + std::to_string(train->exit_code) +
                    (train->timed_out ? ", timed out" : "") + "): " + Tail(train->err));
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<std::string> names, CaseNames(dir));
  const std::string work = dir + "/work";
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(work, 0700));
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& name : names) {
    const std::string model = dir + "/" + name + "/model.joblib";
    SKIFF_ASSIGN_OR_RETURN(std::string bytes, ReadFile(model, size_t{1} << 30));
    pairs.emplace_back(model, SklearnCachePath(work, HexEncode(Sha256(bytes))));
  }
  auto conv = sklearn::RunSubprocess(SklearnImporterArgv(kPython, pairs), {}, 300s);
  if (!conv) return conv.error();
  size_t ok = 0;
  std::string failures;
  for (size_t pos = 0; pos < conv->out.size();) {
    size_t end = conv->out.find('\n', pos);
    if (end == std::string::npos) end = conv->out.size();
    std::string line = conv->out.substr(pos, end - pos);
    if (line.find("\"ok\": true") != std::string::npos) {
      ++ok;
    } else if (!line.empty()) {
      failures += line + "\n";
    }
    pos = end + 1;
  }
  if (ok != pairs.size() || conv->timed_out) {
    return Internal("the importer converted " + std::to_string(ok) + " of " +
                    std::to_string(pairs.size()) + " models:\n" + failures + Tail(conv->err));
  }
  return Status::Ok();
}

Result<Fixture> Load(const std::string& root) {
  Fixture fx;
  fx.root = root;
  fx.work_dir = root + "/work";
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(root + "/manifest.json", size_t{1} << 30));
  SKIFF_ASSIGN_OR_RETURN(json::value doc, ParseJson(text));
  for (const json::value& v : doc.at("cases").as_array()) {
    const json::object& o = v.as_object();
    Case c;
    c.name = std::string(o.at("name").as_string());
    c.family = std::string(o.at("family").as_string());
    c.dir = root + "/" + c.name;
    c.classifier = o.at("task").as_string() == "classifier";
    c.rows = o.at("rows").as_int64();
    c.n_features = o.at("n_features").as_int64();
    c.x = DecodeF64(o.at("x").as_string());
    c.label_type = std::string(o.at("label_type").as_string());
    c.n_targets = o.at("n_targets").as_int64();
    c.targets_2d = o.at("targets_2d").as_bool();
    const json::value& pred = o.at("predict");
    if (pred.is_string()) {
      c.values = DecodeF64(pred.as_string());
    } else {
      for (const json::value& p : pred.as_array()) {
        if (p.is_string()) {
          c.str_labels.emplace_back(p.as_string());
        } else if (p.is_bool()) {
          c.int_labels.push_back(p.as_bool() ? 1 : 0);
        } else {
          c.int_labels.push_back(p.as_int64());
        }
      }
    }
    if (o.at("proba").is_string()) c.proba = DecodeF64(o.at("proba").as_string());
    fx.cases.push_back(std::move(c));
  }
  for (const json::value& v : doc.at("pairwise").as_array()) {
    fx.pairwise.emplace_back(DecodeF64(v.at("x").as_string()),
                             DecodeF64(v.at("sum").as_string()).at(0));
  }
  return fx;
}

Result<Fixture> Build() {
  SKIFF_ASSIGN_OR_RETURN(std::string script, ReadFile(TrainScript()));
  const std::string key =
      HexEncode(Sha256(script + "\n--\n" + std::string(embedded::k_sklearn_export_py)))
          .substr(0, 16);
  const std::string base = (stdfs::temp_directory_path() /
                            ("skiff-sklearn-test-" + std::to_string(::getuid()) + "-" + key))
                               .string();
  SKIFF_ASSIGN_OR_RETURN(auto lock, FileLock::Acquire(base + ".lock", 400s));
  if (!FileExists(base + "/complete")) {
    std::error_code ec;
    stdfs::remove_all(base, ec);
    const std::string tmp = base + ".tmp-" + std::to_string(::getpid());
    stdfs::remove_all(tmp, ec);
    stdfs::create_directories(tmp, ec);
    if (ec) return Internal("mkdir " + tmp + ": " + ec.message());
    SKIFF_RETURN_IF_ERROR(Train(tmp));
    SKIFF_RETURN_IF_ERROR(WriteFileAtomic(tmp + "/complete", "ok\n", 0600));
    stdfs::rename(tmp, base, ec);
    if (ec) return Internal("rename " + tmp + ": " + ec.message());
  }
  return Load(base);
}

}  // namespace

const Case* Fixture::Find(const std::string& name) const {
  for (const Case& c : cases) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const Result<Fixture>& SharedFixture() {
  static const Result<Fixture>* fixture = new Result<Fixture>(Build());
  return *fixture;
}

std::vector<double> DecodeF64(std::string_view base64) {
  auto bytes = Base64Decode(base64);
  std::vector<double> out;
  if (!bytes) return out;
  out.resize(bytes->size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), bytes->data(), out.size() * sizeof(double));
  return out;
}

Tensor Input(const std::vector<double>& x, int64_t rows, int64_t n_features) {
  return Tensor::FromDoubles("input-0", {rows, n_features}, x);
}

std::string TempDir(const std::string& tag) {
  std::string tmpl = (stdfs::temp_directory_path() / ("skiff-sklearn-" + tag + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

}  // namespace sklearn_test
}  // namespace skiff::serving
