#pragma once
// Helpers for serving tests that train or check models with Debian's /usr/bin/python3
// (scikit-learn, XGBoost): a temporary directory and a bounded Python run.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace skiff::serving::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = base + "/skiff-serving-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct PythonRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `script` (written to dir/name) with /usr/bin/python3 in `dir`, bounded by `timeout`
// (coreutils timeout kills it), and returns its exit code and output.
inline PythonRun RunPython(const std::string& dir, const std::string& name,
                           const std::string& script, int timeout_seconds = 300) {
  WriteText(dir + "/" + name, script);
  std::string cmd = "cd '" + dir + "' && timeout -s KILL " + std::to_string(timeout_seconds) +
                    " /usr/bin/python3 '" + name + "' 2>&1";
  PythonRun run;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return run;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) run.output.append(buf.data(), n);
  int status = pclose(p);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

// Runs `script` once per build of the test binary and returns the directory holding its
// outputs (or an error text): ctest runs every test in its own process, so suite-level training
// is cached in <test binary dir>/python-cache/<name>-<hash of script>. Concurrent first runs
// each train into a private directory and the first rename wins.
struct CachedRun {
  std::string dir;
  std::string error;
};
inline CachedRun RunPythonCached(const std::string& name, const std::string& script,
                                 int timeout_seconds = 300) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path cache = (ec ? fs::temp_directory_path() : exe.parent_path()) / "python-cache";
  char hash[32];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(script));
  const fs::path final_dir = cache / (name + "-" + hash);
  if (fs::exists(final_dir / ".done")) return {final_dir.string(), ""};
  fs::create_directories(cache, ec);
  std::string tmpl = (final_dir.string() + ".tmp-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr)
    return {"", "cannot create a directory in " + cache.string()};
  PythonRun run = RunPython(tmpl, "script.py", script, timeout_seconds);
  if (run.exit_code != 0) {
    fs::remove_all(tmpl, ec);
    return {"", "/usr/bin/python3 failed (" + std::to_string(run.exit_code) + "):\n" + run.output};
  }
  WriteText(tmpl + "/.done", "");
  fs::rename(tmpl, final_dir, ec);
  if (ec) fs::remove_all(tmpl, ec);  // another process got there first
  return {final_dir.string(), ""};
}

// A little-endian binary file of T values, as numpy's tofile() writes it.
template <class T>
std::vector<T> ReadBinary(const std::string& path) {
  std::string bytes = ReadText(path);
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace skiff::serving::testing
