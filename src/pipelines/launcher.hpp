#pragma once
// The task launcher: runs one pipeline task (a Pod node's command) as an isolated local process
// and reports how it ended. Issue 7, "Local executor".
//
// Isolation, per task:
//   - a new mount namespace (private propagation) where TaskProcessSpec::tmp_dir is
//     bind-mounted on /tmp, every hidden_dir is covered by an empty read-only tmpfs
//     (with read-only holes for exposed_dirs) and a fresh /proc shows only the task's own
//     processes;
//   - a new PID namespace. Its init (pid 1) is a small skiff-side reaper, which forks the
//     command (pid 2), reaps orphans, passes SIGTERM on to
//     every process of the task and reports the command's wait status. When the command ends,
//     the init exits and the kernel kills whatever the command left behind (as a container
//     ends when its main process does); killing the init kills the whole task;
//   - PR_SET_PDEATHSIG(SIGKILL) on the init: when skiff dies (even by SIGKILL) its tasks die.
//     The init is the child of the launcher's own long-lived thread (the death signal follows
//     the parent thread);
//   - the command runs without CAP_SYS_ADMIN (dropped from its bounding set), so it cannot
//     unmount what hides the other data;
//   - as root: unshare of mount + PID namespaces; as an ordinary user: inside a new user
//     namespace mapping only the user's own uid and gid (setgroups denied).
//   - stdin is /dev/null; no other descriptor of skiff reaches the task (close_range CLOEXEC);
//     a session of its own (no controlling terminal); default signal dispositions, empty mask.
//
// Completion without a thread per task: one launcher thread runs an epoll loop over pidfds,
// each task's report pipe and (with capture_stdout) its stdout pipe; it also forks. The
// command's stdout and stderr go straight to the log file (O_APPEND, so interleaved in the
// order written) unless stdout is captured, in which case the loop copies it to the log and to
// the bounded in-memory buffer as it arrives.
//
// The forker: the inits are not forked from skiff itself (that copied skiff's page tables for
// every task, and every page skiff wrote while an init lived then faulted to be copied) but
// cloned by skiff-task-forker, a small static program embedded in skiff and run from a memfd
// (pipelines/forker/, pipelines/task_child.hpp), that maps next to nothing. It is started from
// the launcher thread, and CLONE_PARENT makes each init the launcher thread's child all the same
// (it reaps them). The launcher hands it each task's plan through a shared mapping and the init's
// descriptors over a socket; one that died is replaced at the next start. Where a memfd cannot
// be executed, the same loop runs in a copy of skiff instead. The inits share the forker's memory
// (CLONE_VM, each on a stack of its own that the forker reuses once the kernel says the init has
// ended): no copy of an address space per task, and none to tear down. (In a user namespace, and
// on architectures other than x86-64 and AArch64, each init gets a copy, as from fork.) Neither
// the shared plan mapping nor an init's copy of its plan keeps a command line or environment once
// the command has exec'd: a task that reads its init's memory finds no other task's. As root,
// the forker sets the hidden and exposed dirs up once per set of them, in a template mount
// namespace, and each init enters a copy of it and adds only its /tmp and /proc (a template is
// made again when one of its dirs is another one now, or skiff's own mounts changed).
//
// Cost: about 1.1 ms of CPU per task (`true`, init and command) on a 2-core VM, about half of it
// `true` itself (its exec and the dynamic loader), the rest the kernel's namespace set-up and
// tear-down.
//
// Threading: TaskLauncher and TaskHandle are thread-safe. Start blocks until the task's init
// exists (about a millisecond): call it from the blocking pool. done() runs on the launcher's
// thread: it must be quick (hand work to another executor); it may call Start and Kill, never
// Shutdown or the destructor.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff::pipelines {

struct TaskProcessSpec {
  // argv[0] is looked up in the task's PATH (below) unless it contains a '/'. Required.
  std::vector<std::string> argv;
  // The task's complete environment. The launcher adds one thing: PATH is extra_path_dirs
  // followed by env's PATH, or by kDefaultTaskPath when env has none.
  std::map<std::string, std::string> env;
  // Host directory that is the task's /tmp: created (with its parents) if missing, and made
  // mode 0700. Required.
  std::string tmp_dir;
  // As the task sees it (normally under /tmp); created if missing. Empty: kDefaultWorkingDir.
  std::string working_dir;
  // Host path of the task's log: stdout and stderr interleaved in arrival order, appended to
  // (created 0640), readable while the task runs. A start failure is written to it too
  // ("skiff: sh: command not found in PATH (...)"). Required.
  std::string log_path;
  // stdout is also kept in memory (TaskExit::stdout_text), at most max_result_bytes of it
  // (Argo's outputs.result).
  bool capture_stdout = false;
  size_t max_result_bytes = 256 << 10;
  // 0: none. On expiry the task is killed as by TaskHandle::Kill and TaskExit::timed_out is set.
  int64_t timeout_ms = 0;
  // Host directories made invisible inside the task (an empty read-only tmpfs over each): other
  // namespaces' data, skiff's data dir. ROOT may be inside one of them. Missing ones are
  // skipped.
  std::vector<std::string> hidden_dirs;
  // Host directories inside a hidden dir that the task still sees, read-only, at the same path
  // (skiff's executor shim and bin dir under its data dir). At most 16; ones not inside a hidden
  // dir are left as they are; missing ones are skipped.
  std::vector<std::string> exposed_dirs;
  // Prepended to PATH, in order.
  std::vector<std::string> extra_path_dirs;
};

// The task's /tmp itself (ROOT/tmp on the host): it exists already, so a task that names no
// working directory costs no directory creation (on ext4 without a journal, where every new
// inode scans past the recently deleted ones, that was the largest part of a task's own CPU).
inline constexpr const char* kDefaultWorkingDir = "/tmp";

inline constexpr const char* kDefaultTaskPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct TaskExit {
  int exit_code = -1;  // when the command exited normally
  int signal = 0;      // when a signal ended it (the command, or the whole task on a kill)
  bool timed_out = false;
  bool killed = false;  // TaskHandle::Kill or Shutdown ended it
  // Non-empty when the command never ran: "sh: command not found in PATH (/usr/bin:/bin)",
  // "cannot hide /data: Permission denied"... exit_code is then -1.
  std::string start_error;
  std::string stdout_text;  // capture_stdout only; at most max_result_bytes
  bool stdout_truncated = false;
  pid_t pid = 0;                 // host pid of the task's init (what KillStale takes)
  int64_t start_time_ticks = 0;  // its /proc/PID/stat starttime
  bool ok() const {
    return start_error.empty() && !timed_out && !killed && signal == 0 && exit_code == 0;
  }
  // "exit code 2", "killed by signal 9", "timed out", "terminated", "failed to start: ...".
  std::string Describe() const;
};

// A started task. Destroying the handle neither kills nor detaches anything: the task runs on
// and done() is still called.
class TaskHandle {
 public:
  virtual ~TaskHandle() = default;
  // Terminates the task: SIGTERM to every process of it, SIGKILL to all after the launcher's
  // grace period. done() then reports killed = true. No-op once the task has ended.
  virtual void Kill() = 0;
  // Host pid of the task's init and its /proc starttime: persist them to KillStale the task
  // after a restart.
  virtual pid_t pid() const = 0;
  virtual int64_t start_time_ticks() const = 0;
};

struct LauncherOptions {
  // Between SIGTERM and SIGKILL on Kill, time-out and Shutdown.
  int64_t kill_grace_ms = 5000;
  // false: the forker is a copy of this process, as where a memfd cannot be executed (tests).
  bool forker_program = true;
};

class TaskLauncher {
 public:
  // Starts the launcher thread. One per process is enough.
  explicit TaskLauncher(LauncherOptions options = {});
  // Shutdown().
  ~TaskLauncher();
  TaskLauncher(const TaskLauncher&) = delete;
  TaskLauncher& operator=(const TaskLauncher&) = delete;

  // Starts the task. Errors (nothing started, done() never called): InvalidArgument for a spec
  // without argv/tmp_dir/log_path, FailedPrecondition when tasks cannot be isolated here (the
  // CheckIsolation message) or after Shutdown, and file-system errors preparing tmp_dir or the
  // log. Once started, done() is called exactly once, on the launcher thread, never inline from
  // Start; a command that cannot be executed is reported there (TaskExit::start_error).
  Result<std::unique_ptr<TaskHandle>> Start(const TaskProcessSpec& spec,
                                            std::function<void(TaskExit)> done);

  // Kills (SIGKILL) a task left from before a restart, with every process in it, if `pid` still
  // names that task's init (its /proc starttime equals start_time_ticks). Otherwise (gone, or
  // the pid reused) does nothing. Any thread; returns at once (the kernel finishes the kill).
  static void KillStale(pid_t pid, int64_t start_time_ticks);

  // Kills every running task (as Kill), waits for each done(), stops the thread. Later Starts
  // fail. Idempotent. Must not be called from done().
  void Shutdown();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Whether this machine can isolate tasks (mount + PID namespaces, directly as root or in a user
// namespace). FailedPrecondition naming what is missing when not. Probed once per process by
// forking a child that sets the namespaces up; later calls return the cached answer.
Status CheckIsolation();

// /proc/PID/stat starttime of `pid` (clock ticks since boot), or -1 when there is no such
// process.
int64_t ProcessStartTicks(pid_t pid);

}  // namespace skiff::pipelines
