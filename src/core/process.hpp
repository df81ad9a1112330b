#pragma once
// Running a child process to completion: argv (no shell), optional stdin text, captured and
// bounded stdout/stderr, a deadline after which the whole process group is killed, and no
// zombies. Blocking: call from the blocking pool or start-up code.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff {

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is the program (a path, or a name looked up in PATH)
  std::string stdin_text;         // written to the child's stdin, which is then closed
  std::optional<std::map<std::string, std::string>> env;  // replaces the environment when set
  std::string working_dir;                                // empty = inherit
  std::chrono::milliseconds timeout{60'000};
  size_t max_output_bytes = 4 << 20;  // per stream; more is dropped (and noted)
};

struct ProcessResult {
  int exit_code = -1;  // when the child exited normally
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string out;
  std::string err;
  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit code 2", "killed by signal 9", "timed out after 60s": for error messages.
  std::string Describe() const;
};

// Errors only when the process cannot be started (NotFound for a missing program); a child
// that fails is a successful call with a non-ok ProcessResult.
Result<ProcessResult> RunProcess(const ProcessOptions& options);

}  // namespace skiff
