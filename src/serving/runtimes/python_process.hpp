#pragma once
// One Python worker process as the "python" runtime runs it: spawned with posix_spawn in its
// own process group, with a Unix socketpair on its file descriptor 3 for framed messages
// (python_protocol.hpp), its stdin fed once and closed, and its stdout and stderr captured by a
// reader thread that logs each line and keeps a bounded tail for error messages. Every other
// descriptor is closed in the child (close-on-exec everywhere, plus closefrom(4)).
//
// Lifetime: the destructor kills the whole process group (SIGKILL), reaps the child (no
// zombies) and joins the reader thread, all with bounds. A worker also exits by itself when
// skiff dies, because its channel then reads EOF.
//
// Threading: Send/Receive/WaitExit are called by one thread at a time (the one that owns the
// worker for a request); Kill, pid and StderrTail may be called from any thread.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::serving {

using Deadline = std::chrono::steady_clock::time_point;

struct WorkerSpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program's absolute path
  // The child's whole environment (nothing is inherited).
  std::map<std::string, std::string> env;
  std::string stdin_data;  // written to the child's stdin, which is then closed
  size_t stderr_tail_bytes = 16 << 10;
  std::string log_name;  // prefixes logged output lines: "python model m worker 1"
};

struct WorkerFrame {
  std::string header;  // JSON text
  std::string payload;
};

class WorkerProcess {
 public:
  // Errors: NotFound when argv[0] does not exist, Internal for other spawn failures.
  static Result<std::unique_ptr<WorkerProcess>> Spawn(const WorkerSpawnOptions& options);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Writes all of `bytes` to the channel. Unavailable when the worker has gone (closed its end
  // or exited), DeadlineExceeded at the deadline.
  Status Send(std::string_view bytes, Deadline deadline);
  // Reads one frame. Unavailable when the worker has gone, DeadlineExceeded at the deadline,
  // Internal/ResourceExhausted for a malformed or oversized frame.
  Result<WorkerFrame> Receive(Deadline deadline, uint64_t max_payload_bytes);

  // SIGKILL to the worker's process group (the worker and anything it started). Idempotent.
  void Kill();
  // Waits until the worker has exited, reaps it and describes how it ended ("exited with code
  // 1", "was killed by signal 9 (SIGKILL)"); nullopt if it is still running at the deadline.
  std::optional<std::string> WaitExit(Deadline deadline);

  // The last stderr_tail_bytes of the worker's stdout/stderr, after waiting up to `wait` for
  // the streams to end (so that a dead worker's last words are in).
  std::string StderrTail(std::chrono::milliseconds wait = std::chrono::milliseconds(0));

 private:
  struct Impl;
  explicit WorkerProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  pid_t pid_ = -1;
};

// "SIGKILL", "SIGSEGV", ... ("signal N" for others).
std::string SignalName(int sig);

}  // namespace skiff::serving
