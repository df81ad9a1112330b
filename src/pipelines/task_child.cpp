#include "pipelines/task_child.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
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
    if (h.exposed_under[j] < 0 || h.expose_mkdirs_at[j] < 0 ||
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

[[noreturn]] void ChildFail(int report_w, Report::Kind kind, Step step, int index, int err) {
  Report r;
  r.kind = kind;
  r.step = step;
  r.index = index;
  r.err = err;
  ssize_t ignored = WriteAll(report_w, &r, sizeof r);
  (void)ignored;
  ::_exit(127);
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

bool DupTo(int src, int dst) {
  if (src == dst) return ::fcntl(dst, F_SETFD, 0) == 0;
  return ::dup2(src, dst) == dst;
}

// The init of the task's PID namespace: sends SIGTERM on to every other process of it.
void InitOnTerm(int) {
  int e = errno;
  ::kill(-1, SIGTERM);
  errno = e;
}

pid_t RawFork(unsigned long flags) {
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0));
}

// Every signal back to SIG_DFL, the C library's reserved real-time ones (32, 33) included: glibc's
// sigaction() refuses those, yet a parent may have set them to SIG_IGN and exec keeps that.
void ResetSignalDispositions() {
  unsigned long dfl[4] = {};  // the kernel's struct sigaction, all zero: SIG_DFL, no flags, no mask
  for (int sig = 1; sig <= kKernelSignals; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      ::syscall(SYS_rt_sigaction, sig, dfl, nullptr, sizeof(unsigned long));
    }
  }
}

[[noreturn]] void RunCommand(const ChildPlan& p) {
  ResetSignalDispositions();
  sigset_t none;
  ::sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    ChildFail(p.report_w, Report::kSetupFailed, kStepSignals, 0, errno);
  }
  if (!DupTo(p.null_fd, 0) || !DupTo(p.out_w >= 0 ? p.out_w : p.log_fd, 1) || !DupTo(p.log_fd, 2)) {
    ChildFail(p.report_w, Report::kSetupFailed, kStepStdio, 0, errno);
  }
  if (::prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0) {
    ChildFail(p.report_w, Report::kSetupFailed, kStepCaps, 0, errno);
  }
  // Whatever another thread of skiff opened without O_CLOEXEC stays out of the task. The report
  // pipe is CLOEXEC already and stays open until the exec succeeds.
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  int err = ENOENT;
  for (char* const* c = p.exec_paths; *c != nullptr; ++c) {
    ::execve(*c, p.argv, p.envp);
    int e = errno;
    if (e == EACCES) {
      err = EACCES;  // as execvp: keep looking, report EACCES if nothing else runs
    } else if (e != ENOENT && e != ENOTDIR) {
      err = e;
      break;
    }
  }
  ChildFail(p.report_w, Report::kExecFailed, kStepFork, 0, err);
}

int CommandMain(void* plan) { RunCommand(*static_cast<const ChildPlan*>(plan)); }

// The command's stack until its exec (RunCommand needs little; a failure report less).
constexpr size_t kCommandStack = 64 << 10;

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
    if (fd > lo) ::syscall(SYS_close_range, lo, fd - 1, 0U);
    lo = fd + 1;
  }
  ::syscall(SYS_close_range, lo, ~0U, 0U);
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
// flags (a user namespace may not clear them).
bool BindReadOnly(int fd, const char* target) {
  struct statfs sf;
  char source[32];
  FdPath(source, fd);
  unsigned long keep = 0;
  if (::fstatfs(fd, &sf) == 0) {
    keep = static_cast<unsigned long>(sf.f_flags) &
           (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  }
  return ::mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) == 0 &&
         ::mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr) == 0;
}

[[noreturn]] void RunInit(const ChildPlan& p) {
  const int rep = p.report_w;
  int keep[] = {p.report_w, p.out_w, p.log_fd, p.null_fd};
  CloseAllBut(keep, 4);
  if (p.userns) {
    if (!WriteProcFile("/proc/self/setgroups", "deny") && errno != ENOENT) {
      ChildFail(rep, Report::kSetupFailed, kStepUserNs, 0, errno);
    }
    if (!WriteProcFile("/proc/self/uid_map", p.uid_map) ||
        !WriteProcFile("/proc/self/gid_map", p.gid_map)) {
      ChildFail(rep, Report::kSetupFailed, kStepUserNs, 0, errno);
    }
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepPrivate, 0, errno);
  }
  // Hidden dirs first, while their host paths still resolve (a hidden dir may be under /tmp);
  // ROOT/tmp is opened before, so it may lie inside a hidden dir (skiff's data dir holds the
  // task dirs). Opened here, not before the fork: a bind mount's source must be in the
  // caller's mount namespace.
  int root_tmp = ::open(p.tmp_host, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_tmp < 0) ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, errno);
  char tmp_source[32];
  FdPath(tmp_source, root_tmp);
  int exposed_fd[kMaxExposed];
  for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
    exposed_fd[j] = ::open(p.exposed[j], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (exposed_fd[j] < 0 && errno != ENOENT) {
      ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), errno);
    }
  }
  for (int i = 0; p.hidden[static_cast<size_t>(i)] != nullptr; ++i) {
    const char* dir = p.hidden[static_cast<size_t>(i)];
    if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=16k,nr_inodes=1024,mode=0755") != 0) {
      if (errno == ENOENT) continue;
      ChildFail(rep, Report::kSetupFailed, kStepHide, i, errno);
    }
    for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
      if (p.exposed_under[j] != i || exposed_fd[j] < 0) continue;
      for (char* const* d = p.expose_mkdirs + p.expose_mkdirs_at[j]; *d != nullptr; ++d) {
        if (::mkdir(*d, 0755) != 0 && errno != EEXIST) {
          ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), errno);
        }
      }
      if (!BindReadOnly(exposed_fd[j], p.exposed[j])) {
        ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), errno);
      }
    }
    if (::mount(nullptr, dir, nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
      ChildFail(rep, Report::kSetupFailed, kStepHide, i, errno);
    }
  }
  if (::mount(tmp_source, "/tmp", nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepTmp, 0, errno);
  }
  ::close(root_tmp);
  // Exposed dirs under /tmp (a data dir under /tmp) are covered by the task's own /tmp now:
  // expose them again at the same path inside it (their parents are created in ROOT/tmp).
  for (size_t j = 0; p.exposed[j] != nullptr; ++j) {
    if (exposed_fd[j] < 0) continue;
    if (::strncmp(p.exposed[j], "/tmp/", 5) == 0) {
      char path[PATH_MAX];
      size_t n = ::strlen(p.exposed[j]);
      if (n >= sizeof path) {
        ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), ENAMETOOLONG);
      }
      ::memcpy(path, p.exposed[j], n + 1);
      for (size_t k = 5; k <= n; ++k) {
        if (path[k] != '/' && path[k] != '\0') continue;
        char c = path[k];
        path[k] = '\0';
        if (::mkdir(path, 0755) != 0 && errno != EEXIST) {
          ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), errno);
        }
        path[k] = c;
      }
      if (!BindReadOnly(exposed_fd[j], p.exposed[j])) {
        ChildFail(rep, Report::kSetupFailed, kStepExpose, static_cast<int>(j), errno);
      }
    }
    ::close(exposed_fd[j]);
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepProc, 0, errno);
  }
  for (char* const* d = p.mkdirs; *d != nullptr; ++d) {
    if (::mkdir(*d, 0755) != 0 && errno != EEXIST) {
      ChildFail(rep, Report::kSetupFailed, kStepWorkDir, 0, errno);
    }
  }
  if (::chdir(p.working_dir) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepChdir, 0, errno);
  }
  // A session of its own: no controlling terminal (a Ctrl-C meant for skiff does not reach the
  // task; /dev/tty is not skiff's terminal) and its own process group.
  if (::setsid() < 0) ChildFail(rep, Report::kSetupFailed, kStepSignals, 0, errno);
  struct sigaction term;
  ::memset(&term, 0, sizeof term);
  term.sa_handler = InitOnTerm;
  term.sa_flags = SA_RESTART;
  ::sigfillset(&term.sa_mask);
  sigset_t only_term;
  ::sigemptyset(&only_term);
  ::sigaddset(&only_term, SIGTERM);
  if (::sigaction(SIGTERM, &term, nullptr) != 0 ||
      ::sigprocmask(SIG_UNBLOCK, &only_term, nullptr) != 0) {
    ChildFail(rep, Report::kSetupFailed, kStepSignals, 0, errno);
  }
  // The command shares the init's memory until its exec, as posix_spawn does: no copy of the
  // address space for it. The init is suspended until the exec succeeded or the command ended.
  void* stack = ::mmap(nullptr, kCommandStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) ChildFail(rep, Report::kSetupFailed, kStepFork, 0, errno);
  pid_t cmd = ::clone(CommandMain, static_cast<char*>(stack) + kCommandStack,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&p));
  if (cmd < 0) ChildFail(rep, Report::kSetupFailed, kStepFork, 0, errno);
  // The init keeps only the report pipe: the stdout pipe must reach EOF when the task ends.
  for (int fd : {p.out_w, p.log_fd, p.null_fd}) {
    if (fd >= 0) ::close(fd);
  }
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(-1, &status, 0);
    if (w == cmd) {
      Report r;
      r.kind = Report::kExited;
      r.status = status;
      ssize_t ignored = WriteAll(rep, &r, sizeof r);
      (void)ignored;
      ::_exit(0);  // the kernel kills what the command left behind
    }
    if (w < 0 && errno != EINTR) ::_exit(0);
  }
}

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
  void* mem =
      ::mmap(nullptr, kPlanCapacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) ::_exit(1);
  char* image = static_cast<char*>(mem);
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
    ChildPlan plan;
    if (n == static_cast<ssize_t>(sizeof req) && nfds >= 2 && req.size <= kPlanCapacity) {
      ::memcpy(image, shared, req.size);
      if (Relocate(image, req.size, plan)) {
        plan.report_w = fds[0];
        plan.log_fd = fds[1];
        plan.out_w = fds[2];
        plan.null_fd = null_fd;
        unsigned long flags =
            CLONE_PARENT | CLONE_NEWNS | CLONE_NEWPID | (plan.userns ? CLONE_NEWUSER : 0);
        pid_t pid = RawFork(flags);
        if (pid == 0) RunInit(plan);  // its CloseAllBut closes the socket
        reply.pid = pid;
        reply.err = pid < 0 ? errno : 0;
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
