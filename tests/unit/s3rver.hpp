#pragma once
// S3rver, shared by the unit tests that need a real S3 server: the npm s3rver (tests/peers,
// installed by scripts/peers.sh, found through SKIFF_PEERS_DIR) on 127.0.0.1, with one bucket.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "http/s3_client.hpp"

extern char** environ;

namespace skiff::testing {

// One s3rver process: started with a bucket, its port read from its own "listening" line (it
// binds port 0 itself, so there is no race for a free port), stopped with SIGTERM (then SIGKILL)
// within bounded waits.
class S3rver {
 public:
  static Result<std::unique_ptr<S3rver>> Start(const std::string& work_dir,
                                               const std::string& bucket) {
    const char* peers = std::getenv("SKIFF_PEERS_DIR");
    if (peers == nullptr || *peers == '\0') {
      return FailedPrecondition(
          "SKIFF_PEERS_DIR is not set: run the tests with CTest, or set it "
          "to <repo>/tests/peers after running scripts/peers.sh");
    }
    std::string bin = std::string(peers) + "/node_modules/s3rver/bin/s3rver.js";
    if (!std::filesystem::exists(bin)) {
      return FailedPrecondition(bin + " is missing: run scripts/peers.sh (npm ci in " + peers +
                                ") to install the S3 test peer");
    }
    auto s = std::unique_ptr<S3rver>(new S3rver());
    s->log_ = work_dir + "/s3rver.log";
    std::string data = work_dir + "/s3rver-data";
    std::filesystem::create_directories(data);
    // s3rver encrypts its continuation tokens with DES, which OpenSSL 3 keeps in its legacy
    // provider: without the flag every paginated listing fails with a 500
    // (ERR_OSSL_EVP_UNSUPPORTED) on Node 17+.
    std::vector<std::string> args = {
        "node",      "--openssl-legacy-provider", bin,   "-d", data, "-p", "0", "-a",
        "127.0.0.1", "--configure-bucket",        bucket};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, s->log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawnp(&s->pid_, "node", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      s->pid_ = -1;
      return Unavailable("cannot start node (Node.js 20 is on the machine image): " +
                         std::string(std::strerror(rc)));
    }
    // "S3rver listening on 127.0.0.1:40723", usually within a second or two.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string log = s->Log();
      size_t at = log.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        size_t start = at + std::string_view("listening on 127.0.0.1:").size();
        size_t end = log.find_first_not_of("0123456789", start);
        if (end != std::string::npos && end > start) {
          s->port_ = static_cast<uint16_t>(std::stoi(log.substr(start, end - start)));
          return s;
        }
      }
      int status = 0;
      if (::waitpid(s->pid_, &status, WNOHANG) == s->pid_) {
        s->pid_ = -1;
        return Unavailable("s3rver exited during start-up:\n" + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return DeadlineExceeded("s3rver did not report a listening port within 30 s:\n" + s->Log());
  }

  ~S3rver() { Stop(); }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Requests in the log whose line holds `needle` (s3rver logs one line per response).
  int CountLogLines(std::string_view needle) const {
    std::istringstream in(Log());
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.find(needle) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  S3rver() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_;
};

inline http::S3Options S3rverOptions(const S3rver& s) {
  http::S3Options o;
  o.endpoint = s.Endpoint();
  o.region = "us-east-1";
  o.access_key_id = "S3RVER";  // s3rver's one account
  o.secret_access_key = "S3RVER";
  o.addressing = http::S3Addressing::kPath;
  return o;
}

}  // namespace skiff::testing
