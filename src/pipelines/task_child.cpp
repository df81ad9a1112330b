#include "pipelines/task_child.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>

namespace skiff::pipelines::task_child {

// Turns a PlanImage copied to `image` (8-aligned, `size` bytes, writable) into `p`'s pointers,
// in place. Async-signal-safe. False when the image is malformed.
bool Relocate(char* image, size_t size, ChildPlan& p) {
  PlanHeader h;
  if (size < sizeof h) return false;
  ::memcpy(&h, image, sizeof h);
  if (h.size != size || image[size - 1] != '\0') return false;
  char* const* arrays[PlanHeader::kArrays];
  for (int i = 0; i < PlanHeader::kArrays; ++i) {
    uint64_t at = h.arrays[i];
    if (at % 8 != 0 || at > size || h.counts[i] == 0 ||
        h.counts[i] > (size - at) / sizeof(uint64_t)) {
      return false;
    }
    for (uint64_t k = 0; k < h.counts[i]; ++k) {
      uint64_t off;
      ::memcpy(&off, image + at + k * sizeof off, sizeof off);
      if (off >= size) return false;
      char* ptr = off == 0 ? nullptr : image + off;
      ::memcpy(image + at + k * sizeof ptr, &ptr, sizeof ptr);
    }
    arrays[i] = reinterpret_cast<char* const*>(image + at);
  }
  for (uint64_t off : {h.tmp_host, h.uid_map, h.gid_map, h.working_dir}) {
    if (off == 0 || off >= size) return false;
  }
  for (size_t j = 0; j < kMaxExposed; ++j) {
    if (h.exposed_under[j] < 0 ||
        static_cast<uint64_t>(h.exposed_under[j]) >= h.counts[PlanHeader::kHidden] ||
        h.expose_mkdirs_at[j] < 0 ||
        static_cast<uint64_t>(h.expose_mkdirs_at[j]) >= h.counts[PlanHeader::kExposeMkdirs]) {
      return false;
    }
    p.exposed_under[j] = h.exposed_under[j];
    p.expose_mkdirs_at[j] = h.expose_mkdirs_at[j];
  }
  p.userns = h.userns != 0;
  p.tmp_host = image + h.tmp_host;
  p.uid_map = image + h.uid_map;
  p.gid_map = image + h.gid_map;
  p.working_dir = image + h.working_dir;
  p.argv = arrays[PlanHeader::kArgv];
  p.envp = arrays[PlanHeader::kEnvp];
  p.exec_paths = arrays[PlanHeader::kExecPaths];
  p.hidden = arrays[PlanHeader::kHidden];
  p.mkdirs = arrays[PlanHeader::kMkdirs];
  p.exposed = arrays[PlanHeader::kExposed];
  p.expose_mkdirs = arrays[PlanHeader::kExposeMkdirs];
  return true;
}

// ---------------------------------------------------------------------------------------------
// The child side. Only async-signal-safe calls from here to the exec.

ssize_t WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w;
    done += static_cast<size_t>(w);
  }
  return static_cast<ssize_t>(done);
}

bool WriteProcFile(const char* path, const char* data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = ::strlen(data);
  ssize_t w = ::write(fd, data, n);
  int e = errno;
  ::close(fd);
  errno = e;
  return w == static_cast<ssize_t>(n);
}

pid_t RawFork(unsigned long flags) {
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0));
}

namespace {

// System calls that return -errno and leave errno alone. An init shares the forker's memory
// (CLONE_VM, below), and with it the forker's thread-local storage, errno included: every init
// and every command before its exec would write the same errno. The init and the command make
// their calls through Sys, so that an error they read is their own. Where the architecture has no
// such call here, the inits get a copy of the forker's memory instead (kSharedMemoryInits).
#if defined(__x86_64__)
constexpr bool kSharedMemoryInits = true;
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
constexpr bool kSharedMemoryInits = true;
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 asm("x8") = n;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  register long x5 asm("x5") = f;
  asm volatile("svc 0"
               : "+r"(x0)
               : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
               : "memory", "cc");
  return x0;
}
#else
constexpr bool kSharedMemoryInits = false;
long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long r = ::syscall(n, a, b, c, d, e, f);
  return r < 0 ? -errno : r;
}
#endif

template <typename T>
long A(T v) {  // a system call argument
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}

// The error of a Sys result, or 0.
int Err(long r) { return r < 0 && r > -4096 ? static_cast<int>(-r) : 0; }

long SysOpen(const char* path, int flags) {
  return Sys(SYS_openat, AT_FDCWD, A(path), flags | O_CLOEXEC, 0);
}
long SysClose(int fd) { return Sys(SYS_close, fd); }
long SysMount(const char* source, const char* target, const char* type, unsigned long flags,
              const char* data) {
  return Sys(SYS_mount, A(source), A(target), A(type), A(flags), A(data));
}
long SysMkdir(const char* path, int mode) { return Sys(SYS_mkdirat, AT_FDCWD, A(path), mode); }

// Every write of `n` bytes, or the error.
int SysWriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n) {
    long w = Sys(SYS_write, fd, A(p + done), A(n - done));
    if (Err(w) == EINTR) continue;
    if (Err(w) != 0) return Err(w);
    if (w == 0) return EIO;
    done += static_cast<size_t>(w);
  }
  return 0;
}

[[noreturn]] void SysExit(int code) {
  for (;;) Sys(SYS_exit_group, code);
}

[[noreturn]] void ChildFail(int report_w, Report::Kind kind, Step step, int index, int err) {
  Report r;
  r.kind = kind;
  r.step = step;
  r.index = index;
  r.err = err;
  SysWriteAll(report_w, &r, sizeof r);
  SysExit(127);
}

// 0, or the error.
int SysWriteProcFile(const char* path, const char* data) {
  long fd = SysOpen(path, O_WRONLY);
  if (Err(fd) != 0) return Err(fd);
  size_t n = ::strlen(data);
  long w = Sys(SYS_write, fd, A(data), A(n));
  SysClose(static_cast<int>(fd));
  if (Err(w) != 0) return Err(w);
  return w == static_cast<long>(n) ? 0 : EIO;
}

int DupTo(int src, int dst) {
  if (src == dst) return Err(Sys(SYS_fcntl, dst, F_SETFD, 0));
  return Err(Sys(SYS_dup3, src, dst, 0));
}

// The init of the task's PID namespace: sends SIGTERM on to every other process of it.
void InitOnTerm(int) { Sys(SYS_kill, -1, SIGTERM); }

// Every signal back to SIG_DFL, the C library's reserved real-time ones (32, 33) included: glibc's
// sigaction() refuses those, yet a parent may have set them to SIG_IGN and exec keeps that. Done
// once, by the forker: the inits inherit the defaults, the SIGTERM handler an init sets is reset
// by the command's exec.
void ResetSignalDispositions() {
  unsigned long dfl[4] = {};  // the kernel's struct sigaction, all zero: SIG_DFL, no flags, no mask
  for (int sig = 1; sig <= kKernelSignals; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      ::syscall(SYS_rt_sigaction, sig, dfl, nullptr, sizeof(unsigned long));
    }
  }
}

[[noreturn]] void RunCommand(const ChildPlan& p) {
  sigset_t none;
  ::sigemptyset(&none);
  if (int e = Err(Sys(SYS_rt_sigprocmask, SIG_SETMASK, A(&none), 0, kKernelSignals / 8))) {
    ChildFail(p.report_w, Report::kSetupFailed, kStepSignals, 0, e);
  }
  int e = DupTo(p.null_fd, 0);
  if (e == 0) e = DupTo(p.out_w >= 0 ? p.out_w : p.log_fd, 1);
  if (e == 0) e = DupTo(p.log_fd, 2);
  if (e != 0) ChildFail(p.report_w, Report::kSetupFailed, kStepStdio, 0, e);
  if (int e2 = Err(Sys(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0))) {
    ChildFail(p.report_w, Report::kSetupFailed, kStepCaps, 0, e2);
  }
  if (p.oom_score_adj != nullptr) {
    if (int e2 = SysWriteProcFile("/proc/self/oom_score_adj", p.oom_score_adj)) {
      ChildFail(p.report_w, Report::kSetupFailed, kStepOomScore, 0, e2);
    }
  }
  // Whatever another thread of skiff opened without O_CLOEXEC stays out of the task. The report
  // pipe is CLOEXEC already and stays open until the exec succeeds.
  Sys(SYS_close_range, 3, A(~0U), CLOSE_RANGE_CLOEXEC);
  int err = ENOENT;
  for (char* const* c = p.exec_paths; *c != nullptr; ++c) {
    int x = Err(Sys(SYS_execve, A(*c), A(p.argv), A(p.envp)));
    if (x == EACCES) {
      err = EACCES;  // as execvp: keep looking, report EACCES if nothing else runs
    } else if (x != ENOENT && x != ENOTDIR) {
      err = x;
      break;
    }
  }
  ChildFail(p.report_w, Report::kExecFailed, kStepFork, 0, err);
}

int CommandMain(void* plan) { RunCommand(*static_cast<const ChildPlan*>(plan)); }

// Closes every descriptor but `keep` (ascending, -1 entries ignored): the init never execs, so
// CLOEXEC does not protect it from holding other tasks' pipe ends (which would delay their EOF
// until this task ends).
void CloseAllBut(int* keep, int n) {
  for (int i = 1; i < n; ++i) {  // insertion sort: async-signal-safe, n is tiny
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
      int tmp = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = tmp;
    }
  }
  unsigned lo = 0;
  for (int i = 0; i < n; ++i) {
    if (keep[i] < 0) continue;
    unsigned fd = static_cast<unsigned>(keep[i]);
    if (fd > lo) Sys(SYS_close_range, lo, fd - 1, 0);
    lo = fd + 1;
  }
  Sys(SYS_close_range, lo, A(~0U), 0);
}

// "/proc/self/fd/FD" into buf (at least 32 bytes), without allocating.
void FdPath(char* buf, int fd) {
  const char prefix[] = "/proc/self/fd/";
  ::memcpy(buf, prefix, sizeof prefix - 1);
  char digits[12];
  int n = 0;
  for (int v = fd; n == 0 || v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  char* out = buf + sizeof prefix - 1;
  while (n > 0) *out++ = digits[--n];
  *out = 0;
}

// Bind-mounts the directory open as `fd` on `target`, read-only, keeping the source's own
// flags (a user namespace may not clear them). 0, or the error.
int BindReadOnly(int fd, const char* target) {
  struct statfs sf;
  char source[32];
  FdPath(source, fd);
  unsigned long keep = 0;
  if (Err(Sys(SYS_fstatfs, fd, A(&sf))) == 0) {
    keep = static_cast<unsigned long>(sf.f_flags) &
           (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  }
  if (int e = Err(SysMount(source, target, nullptr, MS_BIND | MS_REC, nullptr))) return e;
  return Err(SysMount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr));
}

// What failed: a step of Report's, the index of the dir, the error.
struct Failure {
  Step step = kStepPrivate;
  int index = 0;
  int err = 0;
};

// Whether one of the exposed dirs (those open in exposed_fd) is `dir` itself: its bind mount then
// covers the tmpfs there, and `dir` names the bind (a remount of it would change the flags of
// the exposed dir's own file system).
bool ExposedAt(const ChildPlan& p, const int* exposed_fd, const char* dir) {
  for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
    if (exposed_fd[j] >= 0 && ::strcmp(p.exposed[j], dir) == 0) return true;
  }
  return false;
}

// Covers `dir` with a small empty tmpfs (where a hidden dir's exposed dirs are then made). 0, or
// the error.
int Cover(const char* dir) {
  return Err(SysMount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=16k,nr_inodes=1024,mode=0755"));
}

// Makes the cover on `dir` read-only once its exposed dirs are in, unless one is `dir` itself
// (ExposedAt). 0, or the error.
int SealCover(const ChildPlan& p, const int* exposed_fd, const char* dir) {
  if (ExposedAt(p, exposed_fd, dir)) return 0;
  return Err(SysMount(nullptr, dir, nullptr,
                      MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
}

// In a new mount namespace: makes every mount private, covers each hidden dir with an empty
// read-only tmpfs and binds the exposed dirs inside read-only (their descriptors in exposed_fd,
// -1 for a missing one). False, with `f` set, on failure.
bool HideAndExpose(const ChildPlan& p, const int* exposed_fd, Failure& f) {
  if (int e = Err(SysMount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr))) {
    f = {kStepPrivate, 0, e};
    return false;
  }
  for (int i = 0; p.hidden[static_cast<size_t>(i)] != nullptr; ++i) {
    const char* dir = p.hidden[static_cast<size_t>(i)];
    if (int e = Cover(dir)) {
      if (e == ENOENT) continue;
      f = {kStepHide, i, e};
      return false;
    }
    for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
      if (p.exposed_under[j] != i || exposed_fd[j] < 0) continue;
      for (char* const* d = p.expose_mkdirs + p.expose_mkdirs_at[j]; *d != nullptr; ++d) {
        int e = Err(SysMkdir(*d, 0755));
        if (e != 0 && e != EEXIST) {
          f = {kStepExpose, static_cast<int>(j), e};
          return false;
        }
      }
      if (int e = BindReadOnly(exposed_fd[j], p.exposed[j])) {
        f = {kStepExpose, static_cast<int>(j), e};
        return false;
      }
    }
    if (int e = SealCover(p, exposed_fd, dir)) {
      f = {kStepHide, i, e};
      return false;
    }
  }
  return true;
}

// Opens the exposed dirs (O_PATH) into exposed_fd, -1 for a missing one (or, with only_tmp, one
// not under /tmp). False, with `f` set, on failure.
bool OpenExposed(const ChildPlan& p, bool only_tmp, int* exposed_fd, Failure& f) {
  for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
    exposed_fd[j] = -1;
    if (only_tmp && ::strncmp(p.exposed[j], "/tmp/", 5) != 0) continue;
    long fd = SysOpen(p.exposed[j], O_PATH | O_DIRECTORY);
    int e = Err(fd);
    if (e != 0 && e != ENOENT) {
      f = {kStepExpose, static_cast<int>(j), e};
      return false;
    }
    if (e == 0) exposed_fd[j] = static_cast<int>(fd);
  }
  return true;
}

// Exposes again, inside the task's own /tmp, the exposed dirs under /tmp (open in exposed_fd;
// closes every descriptor there). As outside /tmp, the hidden dir holding one is covered with a
// read-only tmpfs that holds the path down to it: only the dirs above the hidden one are made in
// the task's /tmp (on ext4, creating inodes is much of what starting a task costs). 0, or the
// error with `f.index` set.
int ExposeUnderTmp(const ChildPlan& p, const int* exposed_fd, Failure& f) {
  int covers[kMaxExposed];  // indexes of the hidden dirs covered
  size_t covered = 0;
  int err = 0;
  for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
    if (exposed_fd[j] < 0) continue;
    if (err == 0 && ::strncmp(p.exposed[j], "/tmp/", 5) == 0) {
      f.index = static_cast<int>(j);
      const int h = p.exposed_under[j];
      const size_t top = ::strlen(p.hidden[h]);  // the hidden dir: exposed[j]'s prefix
      char path[PATH_MAX];
      size_t n = ::strlen(p.exposed[j]);
      if (n >= sizeof path) err = ENAMETOOLONG;
      if (err == 0) ::memcpy(path, p.exposed[j], n + 1);
      const bool cover = top > 5 && top < n;  // not /tmp itself, not the exposed dir
      bool is_covered = false;
      for (size_t c = 0; c < covered; ++c) is_covered = is_covered || covers[c] == h;
      for (size_t k = is_covered ? top + 1 : 5; err == 0 && k <= n; ++k) {
        if (path[k] != '/' && path[k] != '\0') continue;
        char c = path[k];
        path[k] = '\0';
        int e = Err(SysMkdir(path, 0755));
        if (e != 0 && e != EEXIST) err = e;
        if (err == 0 && k == top && cover && !is_covered) {
          err = Cover(path);
          covers[covered++] = h;
        }
        path[k] = c;
      }
      if (err == 0) err = BindReadOnly(exposed_fd[j], p.exposed[j]);
    }
    SysClose(exposed_fd[j]);
  }
  for (size_t c = 0; err == 0 && c < covered; ++c)
    err = SealCover(p, exposed_fd, p.hidden[covers[c]]);
  return err;
}

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

[[noreturn]] void RunInit(const ChildPlan& p) {
  const int rep = p.report_w;
  int keep[] = {p.report_w, p.out_w, p.log_fd, p.null_fd, p.template_ns};
  CloseAllBut(keep, 5);
  if (p.userns) {
    int e = SysWriteProcFile("/proc/self/setgroups", "deny");
    if (e != 0 && e != ENOENT) ChildFail(rep, Report::kSetupFailed, kStepUserNs, 0, e);
    e = SysWriteProcFile("/proc/self/uid_map", p.uid_map);
    if (e == 0) e = SysWriteProcFile("/proc/self/gid_map", p.gid_map);
    if (e != 0) ChildFail(rep, Report::kSetupFailed, kStepUserNs, 0, e);
  }
  Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  Failure f;
  int exposed_fd[kMaxExposed];
  long root_tmp = -1;
  if (p.template_ns >= 0) {
    // Still in skiff's mount namespace (cloned without a new one): a detached copy of ROOT/tmp,
    // then a copy of the template, where it becomes /tmp.
    root_tmp =
        Sys(SYS_open_tree, AT_FDCWD, A(p.tmp_host), OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
    if (int e = Err(root_tmp)) ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, e);
    if (int e = Err(Sys(SYS_setns, p.template_ns, CLONE_NEWNS))) {
      ChildFail(rep, Report::kSetupFailed, kStepPrivate, 0, e);
    }
    if (int e = Err(Sys(SYS_unshare, CLONE_NEWNS))) {
      ChildFail(rep, Report::kSetupFailed, kStepPrivate, 0, e);
    }
    SysClose(p.template_ns);
    if (!OpenExposed(p, /*only_tmp=*/true, exposed_fd, f)) {
      ChildFail(rep, Report::kSetupFailed, f.step, f.index, f.err);
    }
    if (int e = Err(
            Sys(SYS_move_mount, root_tmp, A(""), AT_FDCWD, A("/tmp"), MOVE_MOUNT_F_EMPTY_PATH))) {
      ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, e);
    }
  } else {
    // Hidden dirs first, while their host paths still resolve (a hidden dir may be under /tmp);
    // ROOT/tmp is opened before, so it may lie inside a hidden dir (skiff's data dir holds the
    // task dirs). Opened here, not before the fork: a bind mount's source must be in the
    // caller's mount namespace.
    root_tmp = SysOpen(p.tmp_host, O_PATH | O_DIRECTORY);
    if (int e = Err(root_tmp)) ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, e);
    if (!OpenExposed(p, /*only_tmp=*/false, exposed_fd, f) || !HideAndExpose(p, exposed_fd, f)) {
      ChildFail(rep, Report::kSetupFailed, f.step, f.index, f.err);
    }
    char tmp_source[32];
    FdPath(tmp_source, static_cast<int>(root_tmp));
    if (int e = Err(SysMount(tmp_source, "/tmp", nullptr, MS_BIND | MS_REC, nullptr))) {
      ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, e);
    }
  }
  SysClose(static_cast<int>(root_tmp));
  // Exposed dirs under /tmp (a data dir under /tmp) are covered by the task's own /tmp now:
  // expose them again at the same path inside it.
  if (int e = ExposeUnderTmp(p, exposed_fd, f); e != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepExpose, f.index, e);
  }
  if (int e = Err(SysMount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr))) {
    ChildFail(rep, Report::kSetupFailed, kStepProc, 0, e);
  }
  for (char* const* d = p.mkdirs; *d != nullptr; ++d) {
    int e = Err(SysMkdir(*d, 0755));
    if (e != 0 && e != EEXIST) ChildFail(rep, Report::kSetupFailed, kStepWorkDir, 0, e);
  }
  if (int e = Err(Sys(SYS_chdir, A(p.working_dir)))) {
    ChildFail(rep, Report::kSetupFailed, kStepChdir, 0, e);
  }
  // A session of its own: no controlling terminal (a Ctrl-C meant for skiff does not reach the
  // task; /dev/tty is not skiff's terminal) and its own process group.
  if (int e = Err(Sys(SYS_setsid))) ChildFail(rep, Report::kSetupFailed, kStepSignals, 0, e);
  // glibc's sigaction, for the restorer the kernel needs; it writes errno only when it fails.
  struct sigaction term;
  ::memset(&term, 0, sizeof term);
  term.sa_handler = InitOnTerm;
  term.sa_flags = SA_RESTART;
  ::sigfillset(&term.sa_mask);
  sigset_t only_term;
  ::sigemptyset(&only_term);
  ::sigaddset(&only_term, SIGTERM);
  if (::sigaction(SIGTERM, &term, nullptr) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepSignals, 0, EINVAL);
  }
  if (int e = Err(Sys(SYS_rt_sigprocmask, SIG_UNBLOCK, A(&only_term), 0, kKernelSignals / 8))) {
    ChildFail(rep, Report::kSetupFailed, kStepSignals, 0, e);
  }
  // The command shares the init's memory until its exec, as posix_spawn does: no copy of the
  // address space for it. The init is suspended until the exec succeeded or the command ended.
  // The kernel clears command_tid then (and when the command dies before its exec), which tells
  // the forker that the command's stack is free.
  __atomic_store_n(p.command_tid, 1, __ATOMIC_RELEASE);
  pid_t cmd =
      ::clone(CommandMain, p.command_stack, CLONE_VM | CLONE_VFORK | CLONE_CHILD_CLEARTID | SIGCHLD,
              const_cast<ChildPlan*>(&p), nullptr, nullptr, p.command_tid);
  if (cmd < 0) {
    __atomic_store_n(p.command_tid, 0, __ATOMIC_RELEASE);
    ChildFail(rep, Report::kSetupFailed, kStepFork, 0, EAGAIN);
  }
  // The command and its environment are not needed any more: no other process of the forker's
  // memory keeps them.
  if (p.image != nullptr) ::memset(p.image, 0, p.image_size);
  // The init keeps only the report pipe: the stdout pipe must reach EOF when the task ends.
  for (int fd : {p.out_w, p.log_fd, p.null_fd}) {
    if (fd >= 0) SysClose(fd);
  }
  for (;;) {
    int status = 0;
    long w = Sys(SYS_wait4, -1, A(&status), 0, 0);
    if (w == cmd) {
      Report r;
      r.kind = Report::kExited;
      r.status = status;
      SysWriteAll(rep, &r, sizeof r);
      SysExit(0);  // the kernel kills what the command left behind
    }
    if (Err(w) != 0 && Err(w) != EINTR) SysExit(0);
  }
}

int InitMain(void* plan) { RunInit(*static_cast<const ChildPlan*>(plan)); }

// Where each init runs: a mapping of the forker's that holds the init's plan, its stack and its
// command's stack (the inits share the forker's memory: no copy of it per task, no tear-down).
// A slot is free again once the kernel has cleared both tids (CLONE_CHILD_CLEARTID): the init's
// when it ends, the command's at its exec or end (a command whose init was killed may outlive
// it for a moment, on its stack here).
struct Slot {
  int tid = 0;
  int command_tid = 0;
  size_t size = 0;  // of the mapping
  ChildPlan plan;
};

constexpr size_t kPage = 4096;
constexpr size_t kStack = 64 << 10;  // each of the two stacks (the init needs a few KB)
// The mapping: the Slot, a guard page, the init's stack, a guard page, the command's stack, the
// plan's image.
constexpr size_t kSlotFixed = kPage + kPage + kStack + kPage + kStack;
constexpr size_t kMaxSlots = 1 << 16;

bool SlotFree(const Slot* s) {
  return __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE) == 0 &&
         __atomic_load_n(&s->command_tid, __ATOMIC_ACQUIRE) == 0;
}

Slot* NewSlot(size_t image_size) {
  size_t size = kSlotFixed + ((image_size + kPage - 1) / kPage) * kPage;
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  char* base = static_cast<char*>(mem);
  ::mprotect(base + kPage, kPage, PROT_NONE);
  ::mprotect(base + 2 * kPage + kStack, kPage, PROT_NONE);
  Slot* s = new (mem) Slot;
  s->size = size;
  return s;
}

// A free slot with room for `image_size` bytes, from `slots` (`*count` used) or new; nullptr
// when none can be had.
Slot* TakeSlot(Slot** slots, size_t* count, size_t image_size) {
  const size_t need = kSlotFixed + image_size;
  for (size_t i = 0; i < *count; ++i) {
    if (!SlotFree(slots[i])) continue;
    if (slots[i]->size >= need) return slots[i];
    Slot* bigger = NewSlot(image_size);
    if (bigger == nullptr) return nullptr;
    ::munmap(slots[i], slots[i]->size);
    slots[i] = bigger;
    return bigger;
  }
  if (*count == kMaxSlots) return nullptr;
  Slot* s = NewSlot(image_size);
  if (s != nullptr) slots[(*count)++] = s;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Template mount namespaces: hiding and exposing dirs took most of an init's mount calls (a
// tmpfs per hidden dir, two binds per exposed one, each torn down again at the task's end). The
// forker sets them up once per set of hidden and exposed dirs, in a namespace of their own, and
// each init enters a copy of it. A template is used while its dirs are the same ones (device
// and inode) and skiff's own mounts have not changed since it was made (a poll on
// /proc/self/mountinfo says so); else it is made again. The forker holds an O_PATH descriptor of
// each dir a template was made for: a dir removed and made anew cannot get the removed one's
// inode number while it is held (the template's cover went with the removed dir). As root only:
// in a user namespace each init sets the mounts up itself.

constexpr size_t kTemplates = 8;
constexpr size_t kTemplateKey = 8 << 10;
constexpr size_t kTemplateDirs = 32;

struct Template {
  int ns = -1;
  size_t key_len = 0;
  size_t ndirs = 0;
  uint64_t dirs[2 * kTemplateDirs] = {};  // device and inode of each hidden and exposed dir
  int pins[kTemplateDirs] = {};           // an O_PATH descriptor of each (-1: not there)
  char key[kTemplateKey] = {};            // the hidden dirs, then the exposed ones
};

// Closes `t`'s namespace and pins: it is not used again.
void Drop(Template& t) {
  if (t.ns >= 0) ::close(t.ns);
  t.ns = -1;
  for (size_t i = 0; i < t.ndirs; ++i) {
    if (t.pins[i] >= 0) ::close(t.pins[i]);
  }
  t.ndirs = 0;
}

// Opens `p`'s hidden and exposed dirs into `pins`. False (and none left open) when one is not
// the dir `probe` (TemplateOf's, for `p`) saw: it was replaced since.
bool Pin(const ChildPlan& p, const Template& probe, int* pins) {
  size_t i = 0;
  for (char* const* list : {p.hidden, p.exposed}) {
    for (char* const* d = list; *d != nullptr; ++d, ++i) {
      pins[i] = -1;
      const uint64_t* id = probe.dirs + 2 * i;
      struct stat st;
      bool same = id[0] == 0 && id[1] == 0;  // not there when probed
      if (!same) {
        pins[i] = ::open(*d, O_PATH | O_CLOEXEC);
        same =
            pins[i] >= 0 && ::fstat(pins[i], &st) == 0 && st.st_dev == id[0] && st.st_ino == id[1];
      }
      if (!same) {
        for (size_t j = 0; j <= i; ++j) {
          if (pins[j] >= 0) ::close(pins[j]);
        }
        return false;
      }
    }
  }
  return true;
}

struct Templates {
  bool supported = false;  // open_tree and move_mount (Linux 5.2) work here
  int mountinfo = -1;      // skiff's /proc/self/mountinfo: POLLPRI when its mounts changed
  size_t next = 0;         // the one to replace next
  Template t[kTemplates];
  Template probe;  // the request's
};

// The key and dirs of `p`'s hidden and exposed dirs into `out`. False when they do not fit.
bool TemplateOf(const ChildPlan& p, Template& out) {
  out.key_len = 0;
  out.ndirs = 0;
  for (char* const* list : {p.hidden, p.exposed}) {
    for (char* const* d = list; *d != nullptr; ++d) {
      size_t n = ::strlen(*d) + 1;
      if (out.key_len + n + 1 > kTemplateKey || out.ndirs == kTemplateDirs) return false;
      ::memcpy(out.key + out.key_len, *d, n);
      out.key_len += n;
      struct stat st;
      bool there = Err(Sys(SYS_newfstatat, AT_FDCWD, A(*d), A(&st), 0)) == 0;
      out.dirs[2 * out.ndirs] = there ? st.st_dev : 0;
      out.dirs[2 * out.ndirs + 1] = there ? st.st_ino : 0;
      ++out.ndirs;
    }
    out.key[out.key_len++] = '\1';
  }
  return true;
}

bool SameTemplate(const Template& a, const Template& b) {
  return a.key_len == b.key_len && a.ndirs == b.ndirs && ::memcmp(a.key, b.key, a.key_len) == 0 &&
         ::memcmp(a.dirs, b.dirs, 2 * a.ndirs * sizeof a.dirs[0]) == 0;
}

// A new template namespace for `p`, or -1 (the init then sets the mounts up itself, and reports
// what fails). A child in a new mount namespace sets it up and waits while the forker opens it.
int MakeTemplate(const ChildPlan& p) {
  int ready[2], hold[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return -1;
  if (::pipe2(hold, O_CLOEXEC) != 0) {
    ::close(ready[0]);
    ::close(ready[1]);
    return -1;
  }
  pid_t pid = RawFork(CLONE_NEWNS);
  if (pid == 0) {
    SysClose(ready[0]);
    SysClose(hold[1]);
    Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    int exposed_fd[kMaxExposed];
    Failure f;
    char ok = OpenExposed(p, /*only_tmp=*/false, exposed_fd, f) && HideAndExpose(p, exposed_fd, f);
    SysWriteAll(ready[1], &ok, 1);
    char byte;
    if (ok) Sys(SYS_read, hold[0], A(&byte), 1);  // until the forker closes its end
    SysExit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char ok = 0;
  int ns = -1;
  if (pid > 0) {
    while (::read(ready[0], &ok, 1) < 0 && errno == EINTR) {
    }
    if (ok == 1) {
      char path[48] = "/proc/";
      char* end = path + 6;
      char digits[12];
      int n = 0;
      for (int v = pid; n == 0 || v > 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
      while (n > 0) *end++ = digits[--n];
      ::memcpy(end, "/ns/mnt", 8);
      ns = ::open(path, O_RDONLY | O_CLOEXEC);
    }
  }
  ::close(hold[1]);
  ::close(ready[0]);
  if (pid > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  return ns;
}

// The template namespace for `p` (made if needed), or -1.
int TemplateFor(Templates& ts, const ChildPlan& p) {
  if (!ts.supported || p.userns) return -1;
  pollfd changed{ts.mountinfo, POLLPRI, 0};
  if (::poll(&changed, 1, 0) > 0) {  // skiff's mounts changed: every template is stale
    for (Template& t : ts.t) Drop(t);
  }
  if (!TemplateOf(p, ts.probe)) return -1;
  for (Template& t : ts.t) {
    if (t.ns >= 0 && SameTemplate(t, ts.probe)) return t.ns;
  }
  Template& t = ts.t[ts.next];
  ts.next = (ts.next + 1) % kTemplates;
  Drop(t);
  if (!Pin(p, ts.probe, t.pins)) return -1;
  t.ndirs = ts.probe.ndirs;  // so that Drop closes the pins
  t.ns = MakeTemplate(p);
  if (t.ns < 0) {
    Drop(t);
    return -1;
  }
  t.key_len = ts.probe.key_len;
  t.ndirs = ts.probe.ndirs;
  ::memcpy(t.key, ts.probe.key, t.key_len);
  ::memcpy(t.dirs, ts.probe.dirs, 2 * t.ndirs * sizeof t.dirs[0]);
  return t.ns;
}

void InitTemplates(Templates& ts) {
  long tree = Sys(SYS_open_tree, AT_FDCWD, A("/"), OPEN_TREE_CLONE | O_CLOEXEC);
  if (Err(tree) != 0) return;
  SysClose(static_cast<int>(tree));
  ts.mountinfo = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  ts.supported = ts.mountinfo >= 0 && ::geteuid() == 0;
}

}  // namespace

msghdr ForkMessage(iovec* iov, char* control, size_t control_len) {
  msghdr msg;
  ::memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = control_len;
  return msg;
}

[[noreturn]] void RunForker(int sock, int null_fd, const char* shared, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) ::_exit(0);
  int keep[] = {sock, null_fd};
  CloseAllBut(keep, 2);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null_fd, fd);  // received descriptors land above 2
  ResetSignalDispositions();
  // The inits share this process's memory: were one of them (or this) the OOM killer's choice, it
  // would kill all of them (every process of a memory). None is (-1000, as container runtimes
  // do for their shims); each command sets skiff's own score back before its exec (a vfork
  // child's score is its own).
  char oom_score[16] = {};
  const char* restore_oom = nullptr;
  if (kSharedMemoryInits) {
    long fd = SysOpen("/proc/self/oom_score_adj", O_RDONLY);
    long n = Err(fd) == 0 ? Sys(SYS_read, fd, A(oom_score), sizeof oom_score - 1) : -EIO;
    if (Err(fd) == 0) SysClose(static_cast<int>(fd));
    if (n > 0 && SysWriteProcFile("/proc/self/oom_score_adj", "-1000") == 0) {
      restore_oom = oom_score;
    }
  }
  void* table = ::mmap(nullptr, kMaxSlots * sizeof(Slot*), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (table == MAP_FAILED) ::_exit(1);
  Slot** slots = static_cast<Slot**>(table);
  size_t nslots = 0;
  void* tmem = ::mmap(nullptr, sizeof(Templates), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (tmem == MAP_FAILED) ::_exit(1);
  Templates& templates = *new (tmem) Templates;
  InitTemplates(templates);
  ForkReply ready;
  ready.pid = 0;
  if (::send(sock, &ready, sizeof ready, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof ready)) {
    ::_exit(0);
  }
  for (;;) {
    ForkRequest req;
    alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
    iovec iov{&req, sizeof req};
    msghdr msg = ForkMessage(&iov, control, sizeof control);
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);  // the launcher closed its end, or is gone
    int fds[3] = {-1, -1, -1};
    size_t nfds = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; ++i) {
        int fd;
        ::memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
        if (nfds < 3) {
          fds[nfds++] = fd;
        } else {
          ::close(fd);
        }
      }
    }
    ForkReply reply;
    reply.err = EINVAL;
    if (n == static_cast<ssize_t>(sizeof req) && nfds >= 2 && req.size <= kPlanCapacity) {
      Slot* slot = TakeSlot(slots, &nslots, req.size);
      reply.err = ENOMEM;
      if (slot != nullptr) {
        char* base = reinterpret_cast<char*>(slot);
        char* image = base + kSlotFixed;
        ::memcpy(image, shared, req.size);
        ChildPlan& plan = slot->plan;
        plan = ChildPlan();
        reply.err = EINVAL;
        if (Relocate(image, req.size, plan)) {
          plan.report_w = fds[0];
          plan.log_fd = fds[1];
          plan.out_w = fds[2];
          plan.null_fd = null_fd;
          plan.command_stack = base + kSlotFixed;  // its top
          plan.command_tid = &slot->command_tid;
          // In a user namespace, or without Sys: a copy of this memory, as fork() makes.
          const bool share = kSharedMemoryInits && !plan.userns;
          plan.image = share ? image : nullptr;
          plan.image_size = req.size;
          plan.template_ns = TemplateFor(templates, plan);
          plan.oom_score_adj = share ? restore_oom : nullptr;
          // With a template the init makes its mount namespace itself (a copy of the template's).
          int flags = CLONE_PARENT | CLONE_NEWPID | SIGCHLD | (plan.userns ? CLONE_NEWUSER : 0) |
                      (plan.template_ns >= 0 ? 0 : CLONE_NEWNS) |
                      (share ? CLONE_VM | CLONE_CHILD_CLEARTID : 0);
          __atomic_store_n(&slot->tid, share ? 1 : 0, __ATOMIC_RELEASE);
          pid_t pid = ::clone(InitMain, base + 2 * kPage + kStack, flags, &plan, nullptr, nullptr,
                              &slot->tid);
          reply.pid = pid;
          reply.err = pid < 0 ? errno : 0;  // errno: only other inits' failures may race this
          if (pid < 0) __atomic_store_n(&slot->tid, 0, __ATOMIC_RELEASE);
        }
      }
    }
    for (size_t i = 0; i < nfds; ++i) ::close(fds[i]);
    ssize_t w;
    do {
      w = ::send(sock, &reply, sizeof reply, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w != static_cast<ssize_t>(sizeof reply)) ::_exit(0);
  }
}

}  // namespace skiff::pipelines::task_child
