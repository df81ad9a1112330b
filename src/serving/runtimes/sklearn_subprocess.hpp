#pragma once
// Runs a short-lived child process (the scikit-learn importer) with a deadline, capturing its
// stdout and stderr. Blocking: call from the blocking pool. Thread-safe (posix_spawn, pipes
// created close-on-exec so concurrent spawns do not inherit each other's pipe ends).

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff::serving::sklearn {

struct SubprocessResult {
  int exit_code = -1;   // when the child exited
  int term_signal = 0;  // when a signal ended it (SIGKILL after a time-out included)
  bool timed_out = false;
  std::string out;  // stdout, the first max_output bytes
  std::string err;  // stderr, the last max_output bytes
};

// Runs argv[0] (an absolute path) with argv, stdin from /dev/null, the parent's environment
// plus `extra_env` ("NAME=value"), in its own process group. At the deadline the whole group is
// killed (SIGKILL) and reaped: the call never outlives `timeout` by more than a moment.
// Errors: FailedPrecondition when the program cannot be started (the message names it).
Result<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& extra_env,
                                       std::chrono::milliseconds timeout,
                                       size_t max_output = 1 << 20);

}  // namespace skiff::serving::sklearn
