#pragma once
// The child side of the task launcher (launcher.hpp): what runs between the clone of a task's
// init and the exec of its command, and the forker that clones the inits. Only libc, and only
// async-signal-safe calls: this file is compiled into skiff (whose forker, forked from a
// multi-threaded process, may call nothing else) and, alone, into the small static program
// skiff-task-forker (src/pipelines/forker/main.cpp) that skiff runs as its forker.

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace skiff::pipelines::task_child {

// The steps the child reports a failure of (Report::step).
enum Step : int32_t {
  kStepUserNs = 1,
  kStepPrivate,
  kStepHide,
  kStepTmp,
  kStepProc,
  kStepWorkDir,
  kStepChdir,
  kStepSignals,
  kStepFork,
  kStepStdio,
  kStepCaps,
  kStepExpose,
  kStepOomScore,
};

// At most this many exposed dirs (the child keeps their descriptors in a fixed array).
constexpr size_t kMaxExposed = 16;
constexpr int kKernelSignals = 64;  // _NSIG of Linux on every architecture skiff builds for

// What the child writes on the report pipe (one write of a few bytes: atomic).
struct Report {
  enum Kind : int32_t { kSetupFailed = 1, kExecFailed = 2, kExited = 3 };
  int32_t kind = 0;
  int32_t step = 0;
  int32_t index = 0;  // kStepHide: which hidden dir
  int32_t err = 0;
  int32_t status = 0;  // kExited: the command's wait status
};

// Everything the init and the command need, as plain pointers (between fork and exec only
// async-signal-safe calls on these, no allocation). Built by the launcher as a PlanImage, turned
// back into pointers by the forker in its own copy (Relocate).
struct ChildPlan {
  bool userns = false;
  int report_w = -1;
  int log_fd = -1;
  int out_w = -1;  // capture_stdout: stdout's pipe; else stdout goes to log_fd
  int null_fd = -1;
  const char* tmp_host = nullptr;  // TaskProcessSpec::tmp_dir
  const char* uid_map = nullptr;
  const char* gid_map = nullptr;
  const char* working_dir = nullptr;
  char* const* argv = nullptr;  // each array nullptr-terminated
  char* const* envp = nullptr;
  char* const* exec_paths = nullptr;
  char* const* hidden = nullptr;
  char* const* mkdirs = nullptr;
  // Exposed dirs: path j is exposed[j], under hidden[exposed_under[j]]; the dirs to create in
  // that hidden dir's cover for it are expose_mkdirs[expose_mkdirs_at[j]...] up to a nullptr.
  char* const* exposed = nullptr;
  char* const* expose_mkdirs = nullptr;
  int exposed_under[kMaxExposed] = {};
  int expose_mkdirs_at[kMaxExposed] = {};
  // Set by the forker: the top of the command's stack, the word the kernel clears when the
  // command has exec'd (or ended), and the image the plan points into when the init shares the
  // forker's memory (it wipes it once the command has exec'd), else nullptr.
  char* command_stack = nullptr;
  int* command_tid = nullptr;
  // A mount namespace with the hidden and exposed dirs set up already (the forker's, for plans
  // with the same ones): the init enters a copy of it instead of mounting them itself. -1: none.
  int template_ns = -1;
  // Written to the command's /proc/self/oom_score_adj before its exec, or nullptr: the forker
  // and the inits, which share one address space, are never the OOM killer's choice (it would
  // kill every process of that memory, every task's init), the command gets skiff's score back.
  const char* oom_score_adj = nullptr;
  char* image = nullptr;
  size_t image_size = 0;
};

// A ChildPlan without its descriptors as one position-independent buffer: strings and arrays of
// string offsets (0 for nullptr) after this header, every offset from the buffer's start.
struct PlanHeader {
  uint64_t size = 0;  // of the whole image
  int32_t userns = 0;
  int32_t exposed_under[kMaxExposed] = {};
  int32_t expose_mkdirs_at[kMaxExposed] = {};
  uint64_t tmp_host = 0, uid_map = 0, gid_map = 0, working_dir = 0;
  enum Array { kArgv, kEnvp, kExecPaths, kHidden, kMkdirs, kExposed, kExposeMkdirs, kArrays };
  uint64_t arrays[kArrays] = {};
  uint64_t counts[kArrays] = {};  // entries of each, terminators included
};

// The plan's largest image (argv and environment included: the kernel's own limit for them is
// usually 2 MiB).
constexpr size_t kPlanCapacity = 8 << 20;

// ---------------------------------------------------------------------------------------------
// The forker: a process started from the launcher thread when the launcher starts, that clones
// each task's init on request: skiff-task-forker (forker/main.cpp), or, where a memfd cannot be
// executed, a copy of skiff running the same loop. Cloning from skiff itself copied skiff's page
// tables for every task, and every page skiff wrote while a task's init was alive then faulted
// to be copied: most of what a task cost. CLONE_PARENT makes each init skiff's child all the
// same (reaped by the launcher; its death signal follows the launcher thread).
//
// Protocol over a SOCK_SEQPACKET pair: the launcher copies the task's PlanImage into a shared
// mapping and sends a ForkRequest with the init's descriptors (report pipe, log, stdout pipe)
// as SCM_RIGHTS; the forker copies the image into its private mapping, relocates it, clones
// and answers a ForkReply. One request at a time (the launcher waits for each answer). Before
// the first, the forker says it is ready with a ForkReply of pid 0.

struct ForkRequest {
  uint64_t size = 0;  // of the image in the shared mapping
};
struct ForkReply {
  int32_t pid = -1;  // the init, or -1
  int32_t err = 0;   // clone's errno, or EINVAL for a malformed request
};

// The message of either end of the protocol: one iovec (`iov`), and `control_len` bytes of
// `control` for the descriptors.
msghdr ForkMessage(iovec* iov, char* control, size_t control_len);

// Turns a PlanImage copied to `image` (8-aligned, `size` bytes, writable) into `p`'s pointers,
// in place. False when the image is malformed.
bool Relocate(char* image, size_t size, ChildPlan& p);

ssize_t WriteAll(int fd, const void* data, size_t n);
bool WriteProcFile(const char* path, const char* data);
// fork() as a raw clone with `flags` | SIGCHLD (no atfork handlers, safe in a forked child).
pid_t RawFork(unsigned long flags);

// The forker's loop on `sock` (see above), until the launcher closes its end. `null_fd` is
// /dev/null; `shared` the launcher's mapping of kPlanCapacity bytes; `parent` the pid the
// forker's parent must have (else it exits: its parent died before it could ask for its death
// signal).
[[noreturn]] void RunForker(int sock, int null_fd, const char* shared, pid_t parent);

}  // namespace skiff::pipelines::task_child
