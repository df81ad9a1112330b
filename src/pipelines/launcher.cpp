#include "pipelines/launcher.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/fs.hpp"
#include "core/log.hpp"
#include "pipelines/task_child.hpp"

namespace skiff::pipelines {

namespace embedded {
std::string_view TaskForkerProgram();  // forker/embedded.cpp
}  // namespace embedded

namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers.

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Moves `fd` above 2 (CLOEXEC), so that the dup2s onto 0, 1 and 2 in the child never clobber a
// source descriptor (a server started with a closed stdin gets 0 from its next open).
int High(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int h = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return h;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

long PidfdOpen(pid_t pid) { return ::syscall(SYS_pidfd_open, pid, 0); }
long PidfdSignal(int pidfd, int sig) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
}

// The child side (task_child.hpp).
using namespace task_child;

class PlanImage {
 public:
  PlanImage() { buf_.resize(sizeof(PlanHeader)); }
  PlanHeader& header() { return header_; }
  uint64_t String(std::string_view s) {
    uint64_t at = buf_.size();
    buf_.append(s);
    buf_.push_back('\0');
    return at;
  }
  // An array of string offsets (0: nullptr), as given.
  void Array(PlanHeader::Array which, const std::vector<uint64_t>& entries) {
    while (buf_.size() % 8 != 0) buf_.push_back('\0');
    header_.arrays[which] = buf_.size();
    header_.counts[which] = entries.size();
    buf_.append(reinterpret_cast<const char*>(entries.data()), entries.size() * sizeof(uint64_t));
  }
  // The strings, then a nullptr.
  void Strings(PlanHeader::Array which, const std::vector<std::string>& strings) {
    std::vector<uint64_t> entries;
    entries.reserve(strings.size() + 1);
    for (const auto& s : strings) entries.push_back(String(s));
    entries.push_back(0);
    Array(which, entries);
  }
  std::string Finish() {
    header_.size = buf_.size();
    ::memcpy(buf_.data(), &header_, sizeof header_);
    return std::move(buf_);
  }

 private:
  PlanHeader header_;
  std::string buf_;
};

constexpr int kForkerReplyMs = 10000;

// ---------------------------------------------------------------------------------------------
// Starting the forker.

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3: executable even where vm.memfd_noexec says otherwise
#endif

// A sealed memfd holding the skiff-task-forker program (forker/embedded.cpp), or none when it
// cannot be made.
Fd ForkerProgram() {
  std::string_view program = embedded::TaskForkerProgram();
  int raw = static_cast<int>(
      ::memfd_create("skiff-task-forker", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (raw < 0 && errno == EINVAL) {  // a kernel before MFD_EXEC
    raw = static_cast<int>(::memfd_create("skiff-task-forker", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  }
  Fd fd(High(raw));
  if (!fd ||
      WriteAll(fd.get(), program.data(), program.size()) != static_cast<ssize_t>(program.size())) {
    spdlog::debug("task launcher: cannot write the forker program: {}", strerror(errno));
    return Fd();
  }
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

// The forker's next answer, waiting at most kForkerReplyMs.
bool ReadReply(int sock, ForkReply& reply) {
  pollfd pfd{sock, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, kForkerReplyMs);
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && ::recv(sock, &reply, sizeof reply, 0) == static_cast<ssize_t>(sizeof reply);
}

// In the forked child: becomes the forker. Runs skiff-task-forker from `program` when it can
// (descriptors as forker/main.cpp expects them), else the same loop in this copy of skiff.
[[noreturn]] void ExecForker(int sock, int null_fd, int plans, int program, const char* shared,
                             pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // kept across the exec
  if (::getppid() != parent) ::_exit(0);
  // Copies above the ones the exec needs, so that the dup2s below clobber nothing still used.
  int s = ::fcntl(sock, F_DUPFD_CLOEXEC, 10), n = ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
  if (s < 0 || n < 0) ::_exit(1);
  if (program >= 0) {
    int p = ::fcntl(plans, F_DUPFD_CLOEXEC, 10), x = ::fcntl(program, F_DUPFD_CLOEXEC, 10);
    if (p >= 0 && x >= 0 && ::dup2(n, 0) == 0 && ::dup2(s, 3) == 3 && ::dup2(p, 4) == 4) {
      char name[] = "skiff-task-forker";
      char* argv[] = {name, nullptr};
      char* envp[] = {nullptr};
      ::fexecve(x, argv, envp);
    }
  }
  RunForker(s, n, shared, parent);
}

// ---------------------------------------------------------------------------------------------
// Isolation probe.

struct Isolation {
  Status status;
  bool userns = false;
};

// Forks a child with `flags` that sets up what a task needs; "" when it worked, else why not.
std::string ProbeOnce(bool userns) {
  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | (userns ? CLONE_NEWUSER : 0);
  std::string uid_map = std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1";
  std::string gid_map = std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1";
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  Fd rd(pipe_fds[0]), wr(pipe_fds[1]);
  pid_t pid = RawFork(flags);
  if (pid < 0) {
    return std::string("clone(") + (userns ? "CLONE_NEWUSER|" : "") +
           "CLONE_NEWNS|CLONE_NEWPID): " + std::strerror(errno);
  }
  if (pid == 0) {
    int32_t fail[2] = {0, 0};
    if (userns && ((!WriteProcFile("/proc/self/setgroups", "deny") && errno != ENOENT) ||
                   !WriteProcFile("/proc/self/uid_map", uid_map.c_str()) ||
                   !WriteProcFile("/proc/self/gid_map", gid_map.c_str()))) {
      fail[0] = 1;
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      fail[0] = 2;
    } else if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k") != 0) {
      fail[0] = 3;
    } else if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      fail[0] = 4;
    }
    fail[1] = errno;
    if (fail[0] != 0) {
      ssize_t ignored = WriteAll(wr.get(), fail, sizeof fail);
      (void)ignored;
    }
    ::_exit(fail[0]);
  }
  wr.reset();
  int32_t fail[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(rd.get(), fail, sizeof fail);
  } while (n < 0 && errno == EINTR);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof fail) && fail[0] != 0) {
    static const char* const kWhat[] = {"", "write the user namespace's uid/gid maps",
                                        "make mounts private", "mount a tmpfs", "mount /proc"};
    return std::string(kWhat[fail[0]]) + ": " + std::strerror(fail[1]);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the probe process failed";
  return "";
}

Isolation ProbeIsolation() {
  Isolation iso;
  int pfd = static_cast<int>(PidfdOpen(::getpid()));
  if (pfd < 0) {
    iso.status = FailedPrecondition(
        std::string("cannot run pipeline tasks: pidfd_open (Linux 5.3 or later) failed: ") +
        std::strerror(errno));
    return iso;
  }
  ::close(pfd);
  std::string as_root;
  if (::geteuid() == 0) {
    as_root = ProbeOnce(false);
    if (as_root.empty()) return iso;
  } else {
    as_root = "not root";
  }
  std::string in_userns = ProbeOnce(true);
  if (in_userns.empty()) {
    iso.userns = true;
    return iso;
  }
  iso.status = FailedPrecondition(
      "cannot isolate pipeline tasks (they need new mount and PID namespaces): as root: " +
      as_root + "; in a user namespace: " + in_userns +
      " (are user namespaces enabled? see sysctl user.max_user_namespaces and "
      "kernel.unprivileged_userns_clone, or run skiff as root)");
  return iso;
}

const Isolation& GetIsolation() {
  static const Isolation iso = ProbeIsolation();
  return iso;
}

// ---------------------------------------------------------------------------------------------
// Preparing a start (on the caller's thread).

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t colon = path.find(':', start);
    out.push_back(path.substr(start, colon == std::string::npos ? colon : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

// "/a/b/" -> "/a/b" (the prefix tests of hidden and exposed dirs compare these).
std::string Normalize(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string StepText(int step) {
  switch (step) {
    case kStepUserNs:
      return "set up the user namespace";
    case kStepPrivate:
      return "make the task's mounts private";
    case kStepHide:
      return "hide";
    case kStepTmp:
      return "mount the task's /tmp";
    case kStepProc:
      return "mount the task's /proc";
    case kStepWorkDir:
      return "create the working directory";
    case kStepChdir:
      return "enter the working directory";
    case kStepSignals:
      return "set up signals";
    case kStepFork:
      return "fork";
    case kStepStdio:
      return "set up stdin/stdout/stderr";
    case kStepCaps:
      return "drop CAP_SYS_ADMIN";
    case kStepExpose:
      return "expose";
    case kStepOomScore:
      return "set the OOM score";
  }
  return "start the task";
}

}  // namespace

std::string TaskExit::Describe() const {
  if (!start_error.empty()) return "failed to start: " + start_error;
  if (timed_out) return "timed out";
  if (killed) return "terminated";
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit code " + std::to_string(exit_code);
}

int64_t ProcessStartTicks(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  // "PID (comm) S ppid ...": comm may hold spaces and parentheses; fields resume after the
  // last ')'. starttime is field 22, the 20th after it.
  char* p = ::strrchr(buf, ')');
  if (p == nullptr) return -1;
  ++p;
  for (int field = 3; field < 22; ++field) {
    while (*p == ' ') ++p;
    while (*p != ' ' && *p != 0) ++p;
    if (*p == 0) return -1;
  }
  return std::strtoll(p, nullptr, 10);
}

Status CheckIsolation() { return GetIsolation().status; }

void TaskLauncher::KillStale(pid_t pid, int64_t start_time_ticks) {
  if (pid <= 1) return;
  // The pidfd pins the process checked: if the pid is reused after the check, the signal still
  // goes to the process whose start time matched (or nowhere).
  Fd pfd(static_cast<int>(PidfdOpen(pid)));
  if (!pfd) return;
  if (ProcessStartTicks(pid) != start_time_ticks) return;
  PidfdSignal(pfd.get(), SIGKILL);
}

// ---------------------------------------------------------------------------------------------
// The launcher.

class TaskLauncher::Impl : public std::enable_shared_from_this<TaskLauncher::Impl> {
 public:
  explicit Impl(LauncherOptions options) : options_(options) {}
  ~Impl() {
    StopForker();
    if (shared_ != nullptr) ::munmap(shared_, kPlanCapacity);
  }

  Status Init();
  // Starts the thread, which starts the forker first: returns once the forker exists.
  void StartThread() {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] { Run(&ready); });
    thread_id_ = thread_.get_id();
    started.wait();
  }
  void Run(std::promise<void>* started);
  Result<std::unique_ptr<TaskHandle>> Start(const TaskProcessSpec& spec,
                                            std::function<void(TaskExit)> done);
  void Kill(uint64_t id);
  void Shutdown();

 private:
  enum Kind : uint64_t { kWake = 0, kReport = 1, kOut = 2, kPidfd = 3 };

  struct Request {
    std::string image;              // a PlanImage
    int report_w = -1, out_w = -1;  // the child's ends (owned by Start)
    Fd report_r, out_r, log_fd;
    std::string argv0, path_value, working_dir, tmp_host;
    std::vector<std::string> hidden, exposed;
    bool capture = false;
    size_t max_result = 0;
    int64_t timeout_ms = 0;
    std::function<void(TaskExit)> done;
  };
  struct Spawned {
    uint64_t id;
    pid_t pid;
    int64_t ticks;
  };

  struct Task {
    uint64_t id = 0;
    pid_t pid = 0;
    int64_t ticks = 0;
    Fd pidfd, report_r, out_r, log_fd;
    Request req;  // messages need its strings; its fds have moved to the above
    std::string report_buf;
    std::string out;
    bool out_truncated = false;
    bool reaped = false;
    int init_status = 0;
    bool have_report = false;
    Report report;
    int64_t deadline_ms = 0;  // time-out; 0 none
    int64_t kill_at_ms = 0;   // SIGKILL after the grace period; 0 none
    bool term_sent = false, kill_sent = false;
    bool killed = false, timed_out = false;
  };

  struct Pending {
    Request req;
    std::promise<Result<Spawned>> promise;
  };

  // Forks the request's init through the forker and watches it, moving what it needs out of
  // `req`. Only the launcher thread may start a forker (`may_start_forker`): elsewhere, when
  // there is no live forker, it returns nullopt and leaves `req` as it was. REQUIRES: mu_ held.
  Result<std::optional<Spawned>> Spawn(Request& req, bool may_start_forker);
  // On the launcher thread only (the forker's death signal follows the thread that forked it).
  Status StartForker();
  // The init's pid; 0 when a forker is needed and `may_start_forker` is false.
  Result<pid_t> ForkInit(const Request& req, bool may_start_forker);  // REQUIRES: mu_ held
  void StopForker();
  void Wake();
  void BeginKill(Task& t);  // REQUIRES: mu_ held
  void OnReport(Task& t);
  void OnOut(Task& t);
  void OnPidfd(Task& t);
  bool Finished(const Task& t) const;
  TaskExit MakeExit(Task& t);
  bool Watch(int fd, uint64_t id, Kind kind);

  class Handle;

  const LauncherOptions options_;
  Fd epoll_, wake_, null_;
  std::thread thread_;
  std::thread::id thread_id_;
  // The forker: its pid (skiff's child), socket and the shared mapping (kPlanCapacity bytes) the
  // launcher writes each task's PlanImage to. Used on the launcher thread only.
  pid_t forker_pid_ = -1;
  Fd forker_sock_;
  char* shared_ = nullptr;
  Fd plans_fd_;    // the memfd behind shared_
  Fd program_fd_;  // a memfd holding skiff-task-forker; none: the forker runs in skiff's copy

  std::mutex mu_;  // guards everything below
  std::deque<std::shared_ptr<Pending>> queue_;
  std::unordered_map<uint64_t, Task> tasks_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;  // no new tasks
  bool quit_ = false;      // the loop exits
  bool joined_ = false;
};

class TaskLauncher::Impl::Handle : public TaskHandle {
 public:
  Handle(std::weak_ptr<Impl> impl, uint64_t id, pid_t pid, int64_t ticks)
      : impl_(std::move(impl)), id_(id), pid_(pid), ticks_(ticks) {}
  void Kill() override {
    if (auto impl = impl_.lock()) impl->Kill(id_);
  }
  pid_t pid() const override { return pid_; }
  int64_t start_time_ticks() const override { return ticks_; }

 private:
  std::weak_ptr<Impl> impl_;
  uint64_t id_;
  pid_t pid_;
  int64_t ticks_;
};

Status TaskLauncher::Impl::Init() {
  epoll_.reset(High(::epoll_create1(EPOLL_CLOEXEC)));
  wake_.reset(High(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
  null_.reset(High(::open("/dev/null", O_RDWR | O_CLOEXEC)));
  if (!epoll_ || !wake_ || !null_) return Internal(std::string("launcher: ") + strerror(errno));
  if (!Watch(wake_.get(), 0, kWake)) return Internal(std::string("epoll: ") + strerror(errno));
  return Status::Ok();
}

bool TaskLauncher::Impl::Watch(int fd, uint64_t id, Kind kind) {
  epoll_event ev;
  ::memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = (id << 2) | kind;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

void TaskLauncher::Impl::Wake() {
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
}

Result<std::unique_ptr<TaskHandle>> TaskLauncher::Impl::Start(const TaskProcessSpec& spec,
                                                              std::function<void(TaskExit)> done) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return InvalidArgument("task: empty command");
  }
  if (spec.tmp_dir.empty()) return InvalidArgument("task: no tmp_dir");
  if (spec.log_path.empty()) return InvalidArgument("task: no log_path");
  const std::string working_dir = spec.working_dir.empty() ? kDefaultWorkingDir : spec.working_dir;
  if (working_dir[0] != '/' || working_dir.find("/..") != std::string::npos) {
    return InvalidArgument("task: working directory " + working_dir +
                           " must be absolute, without '..'");
  }
  SKIFF_RETURN_IF_ERROR(GetIsolation().status);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return FailedPrecondition("task launcher is shut down");
  }

  Request req;
  PlanImage plan;
  plan.header().userns = GetIsolation().userns ? 1 : 0;
  plan.header().uid_map =
      plan.String(std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1");
  plan.header().gid_map =
      plan.String(std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1");

  // Files: the task's /tmp (0700) and the log.
  req.tmp_host = spec.tmp_dir;
  struct stat tmp_stat;
  if (::stat(req.tmp_host.c_str(), &tmp_stat) != 0 || !S_ISDIR(tmp_stat.st_mode) ||
      (tmp_stat.st_mode & 07777) != 0700) {  // else as the engine prepares it: one stat
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(req.tmp_host, 0700));
    if (::chmod(req.tmp_host.c_str(), 0700) != 0) {  // also when the engine created it first
      return ErrnoStatus("cannot chmod", req.tmp_host, errno);
    }
  }
  std::string log_dir = spec.log_path.substr(0, spec.log_path.rfind('/'));
  if (!log_dir.empty()) SKIFF_RETURN_IF_ERROR(EnsureDirectory(log_dir, 0755));
  req.log_fd.reset(High(
      ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640)));
  if (!req.log_fd) return ErrnoStatus("cannot open", spec.log_path, errno);

  // Pipes (CLOEXEC: the init keeps the report pipe, the command's exec closes it).
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + strerror(errno));
  req.report_r.reset(High(fds[0]));
  Fd report_w(High(fds[1]));
  Fd out_w;
  if (spec.capture_stdout) {
    if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + strerror(errno));
    req.out_r.reset(High(fds[0]));
    out_w.reset(High(fds[1]));
  }
  if (!req.report_r || !report_w || (spec.capture_stdout && (!req.out_r || !out_w))) {
    return Internal(std::string("pipe: ") + strerror(errno));
  }

  // Strings: argv, the environment with PATH, exec candidates, hidden dirs, dirs to create.
  std::string path;
  for (const auto& d : spec.extra_path_dirs) path += d + ":";
  auto env_path = spec.env.find("PATH");
  path += env_path != spec.env.end() ? env_path->second : std::string(kDefaultTaskPath);
  std::vector<std::string> argv = spec.argv;
  std::vector<std::string> envs;
  for (const auto& [k, v] : spec.env) {
    if (k != "PATH") envs.push_back(k + "=" + v);
  }
  envs.push_back("PATH=" + path);
  std::vector<std::string> candidates;
  if (spec.argv[0].find('/') != std::string::npos) {
    candidates.push_back(spec.argv[0]);
  } else {
    for (const auto& dir : SplitPath(path)) {
      candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + spec.argv[0]);
    }
  }
  std::vector<std::string> mkdirs;
  if (working_dir.rfind("/tmp/", 0) == 0) {
    for (size_t slash = 5; slash != std::string::npos;) {
      slash = working_dir.find('/', slash + 1);
      std::string prefix = working_dir.substr(0, slash);
      if (prefix.size() > 5) mkdirs.push_back(prefix);
    }
  }
  // Hidden dirs outermost first, nested ones dropped (covered already); each exposed
  // dir under the outermost hidden dir holding it, with the dirs to create in its cover.
  std::vector<std::string> sorted, hidden, exposed, expose_mkdirs;
  for (const auto& h : spec.hidden_dirs) sorted.push_back(Normalize(h));
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  for (const auto& h : sorted) {
    bool nested = std::any_of(hidden.begin(), hidden.end(), [&h](const std::string& outer) {
      return h == outer || h.rfind(outer + "/", 0) == 0;
    });
    if (!nested) hidden.push_back(h);  // a nested one is covered already
  }
  for (const auto& raw : spec.exposed_dirs) {
    std::string e = Normalize(raw);
    for (size_t i = 0; i < hidden.size(); ++i) {
      const std::string& h = hidden[i];
      if (e != h && e.rfind(h + "/", 0) != 0) continue;
      if (exposed.size() < kMaxExposed) {
        plan.header().exposed_under[exposed.size()] = static_cast<int32_t>(i);
        plan.header().expose_mkdirs_at[exposed.size()] = static_cast<int32_t>(expose_mkdirs.size());
      }
      for (size_t slash = h.size(); slash != std::string::npos && slash < e.size();) {
        slash = e.find('/', slash + 1);
        expose_mkdirs.push_back(e.substr(0, slash));
      }
      expose_mkdirs.push_back("");  // the end of this one's list (a nullptr below)
      exposed.push_back(e);
      break;
    }
  }
  if (exposed.size() > kMaxExposed) {
    return InvalidArgument("task: more than " + std::to_string(kMaxExposed) + " exposed dirs");
  }
  plan.Strings(PlanHeader::kArgv, argv);
  plan.Strings(PlanHeader::kEnvp, envs);
  plan.Strings(PlanHeader::kExecPaths, candidates);
  plan.Strings(PlanHeader::kHidden, hidden);
  plan.Strings(PlanHeader::kMkdirs, mkdirs);
  plan.Strings(PlanHeader::kExposed, exposed);
  std::vector<uint64_t> expose_entries;
  for (const auto& d : expose_mkdirs) expose_entries.push_back(d.empty() ? 0 : plan.String(d));
  expose_entries.push_back(0);  // Relocate wants every array non-empty
  plan.Array(PlanHeader::kExposeMkdirs, expose_entries);
  plan.header().working_dir = plan.String(working_dir);
  plan.header().tmp_host = plan.String(req.tmp_host);
  req.image = plan.Finish();
  if (req.image.size() > kPlanCapacity) {
    return InvalidArgument("task: command line and environment too large (" +
                           std::to_string(req.image.size()) + " bytes, at most " +
                           std::to_string(kPlanCapacity) + ")");
  }
  req.report_w = report_w.get();
  req.out_w = out_w.get();

  req.argv0 = spec.argv[0];
  req.path_value = path;
  req.working_dir = working_dir;
  req.hidden = hidden;
  req.exposed = exposed;
  req.capture = spec.capture_stdout;
  req.max_result = spec.max_result_bytes;
  req.timeout_ms = spec.timeout_ms;
  req.done = std::move(done);

  const bool has_deadline = req.timeout_ms > 0;
  Result<std::optional<Spawned>> spawned = Internal("not started");
  if (std::this_thread::get_id() == thread_id_) {
    // From a done() callback: the loop thread itself forks.
    std::lock_guard lock(mu_);
    spawned = Spawn(req, /*may_start_forker=*/true);
  } else {
    // While the forker runs, this thread forks (through it) rather than hand the request to the
    // launcher thread and wait for it: two thread switches less per task.
    std::lock_guard lock(mu_);
    if (stopping_) return FailedPrecondition("task launcher is shut down");
    spawned = Spawn(req, /*may_start_forker=*/false);
  }
  // A deadline the launcher thread does not know of yet: it recomputes its wait.
  if (spawned && *spawned && has_deadline) Wake();
  if (spawned && !*spawned) {
    // No forker: the launcher thread starts one (see StartForker) and forks.
    auto pending = std::make_shared<Pending>();
    pending->req = std::move(req);
    auto future = pending->promise.get_future();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return FailedPrecondition("task launcher is shut down");
      queue_.push_back(pending);
    }
    Wake();
    Result<Spawned> handed = future.get();
    if (!handed) return handed.error();
    spawned = std::optional<Spawned>(*handed);
  }
  // The child has its copies; ours of the child-side ends close here (report_w, out_w).
  if (!spawned) return spawned.error();
  const Spawned& s = **spawned;
  return std::unique_ptr<TaskHandle>(new Handle(weak_from_this(), s.id, s.pid, s.ticks));
}

Result<std::optional<TaskLauncher::Impl::Spawned>> TaskLauncher::Impl::Spawn(
    Request& req, bool may_start_forker) {
  if (stopping_) return FailedPrecondition("task launcher is shut down");
  SKIFF_ASSIGN_OR_RETURN(pid_t pid, ForkInit(req, may_start_forker));
  if (pid == 0) return std::optional<Spawned>();
  Task t;
  t.id = next_id_++;
  t.pid = pid;
  t.pidfd.reset(High(static_cast<int>(PidfdOpen(pid))));
  t.ticks = ProcessStartTicks(pid);
  t.report_r = std::move(req.report_r);
  t.out_r = std::move(req.out_r);
  t.log_fd = std::move(req.log_fd);
  if (req.timeout_ms > 0) t.deadline_ms = NowMs() + req.timeout_ms;
  req.image.clear();
  req.image.shrink_to_fit();
  t.req = std::move(req);
  ::fcntl(t.report_r.get(), F_SETFL, O_NONBLOCK);
  if (t.out_r) ::fcntl(t.out_r.get(), F_SETFL, O_NONBLOCK);
  // Only descriptor or memory exhaustion fails here: undo the start (killing the init ends the
  // whole task at once; it is our child, so the blocking reap is short).
  if (!t.pidfd || !Watch(t.report_r.get(), t.id, kReport) || !Watch(t.pidfd.get(), t.id, kPidfd) ||
      (t.out_r && !Watch(t.out_r.get(), t.id, kOut))) {
    int e = errno;
    for (const Fd* fd : {&t.report_r, &t.pidfd, &t.out_r}) {
      if (*fd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd->get(), nullptr);
    }
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return ResourceExhausted(std::string("cannot watch a task process: ") + strerror(e));
  }
  Spawned s{t.id, t.pid, t.ticks};
  tasks_.emplace(t.id, std::move(t));
  return std::optional<Spawned>(s);
}

Status TaskLauncher::Impl::StartForker() {
  if (shared_ == nullptr) {
    // A memfd, not an anonymous mapping: the forker program maps it after its exec.
    Fd fd(High(static_cast<int>(::memfd_create("skiff-task-plans", MFD_CLOEXEC))));
    if (!fd || ::ftruncate(fd.get(), kPlanCapacity) != 0) {
      return Internal(std::string("launcher: memfd for task plans: ") + strerror(errno));
    }
    void* mem = ::mmap(nullptr, kPlanCapacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (mem == MAP_FAILED) return Internal(std::string("launcher: mmap: ") + strerror(errno));
    shared_ = static_cast<char*>(mem);
    plans_fd_ = std::move(fd);
    if (options_.forker_program) program_fd_ = ForkerProgram();
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return Internal(std::string("launcher: socketpair: ") + strerror(errno));
  }
  Fd ours(High(sv[0])), theirs(High(sv[1]));
  const pid_t parent = ::getpid();
  pid_t pid = RawFork(0);
  if (pid < 0) {
    return Unavailable(std::string("cannot start skiff's task forker: fork: ") + strerror(errno));
  }
  if (pid == 0) {
    ExecForker(theirs.get(), null_.get(), plans_fd_.get(), program_fd_.get(), shared_, parent);
  }
  forker_pid_ = pid;
  forker_sock_ = std::move(ours);
  theirs.reset();
  // Ready once it says so (after its exec).
  ForkReply ready;
  if (!ReadReply(forker_sock_.get(), ready) || ready.pid != 0) {
    StopForker();
    return Unavailable("cannot start skiff's task forker: it did not say it was ready within " +
                       std::to_string(kForkerReplyMs / 1000) + " s");
  }
  return Status::Ok();
}

void TaskLauncher::Impl::StopForker() {
  forker_sock_.reset();
  if (forker_pid_ > 0) {
    ::kill(forker_pid_, SIGKILL);
    while (::waitpid(forker_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    forker_pid_ = -1;
  }
}

Result<pid_t> TaskLauncher::Impl::ForkInit(const Request& req, bool may_start_forker) {
  // A request the forker never got (it died since the last one) is sent again to a new forker;
  // one it got but did not answer is not (its init may exist).
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!forker_sock_) {
      if (!may_start_forker) return 0;
      SKIFF_RETURN_IF_ERROR(StartForker());
    }
    ::memcpy(shared_, req.image.data(), req.image.size());
    ForkRequest fr;
    fr.size = req.image.size();
    int fds[3] = {req.report_w, req.log_fd.get(), req.out_w};
    size_t nfds = req.out_w >= 0 ? 3 : 2;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)];
    ::memset(control, 0, sizeof control);
    iovec iov{&fr, sizeof fr};
    msghdr msg = ForkMessage(&iov, control, CMSG_SPACE(nfds * sizeof(int)));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    ::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    ssize_t n;
    do {
      n = ::sendmsg(forker_sock_.get(), &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof fr)) {
      spdlog::warn("task launcher: the forker process is gone ({}); starting a new one",
                   strerror(errno));
      StopForker();
      continue;
    }
    ForkReply reply;
    const bool answered = ReadReply(forker_sock_.get(), reply);
    // The forker has its copy: no later task's init finds this one's command and environment in
    // the mapping (the inits share the forker's memory, this mapping included).
    ::memset(shared_, 0, req.image.size());
    if (!answered) {
      StopForker();
      return Unavailable("cannot start a task process: skiff's task forker did not answer within " +
                         std::to_string(kForkerReplyMs / 1000) +
                         " s (a new one starts with the next task)");
    }
    if (reply.pid == 0) {  // not an answer the protocol has
      StopForker();
      return Internal("cannot start a task process: the forker process answered pid 0");
    }
    if (reply.pid < 0) {
      return Unavailable(std::string("cannot start a task process: clone: ") + strerror(reply.err));
    }
    return static_cast<pid_t>(reply.pid);
  }
  return Unavailable(
      "cannot start a task process: skiff's task forker exited twice in a row (see skiff's "
      "log)");
}

void TaskLauncher::Impl::BeginKill(Task& t) {
  if (t.term_sent || t.reaped) return;
  t.term_sent = true;
  PidfdSignal(t.pidfd.get(), SIGTERM);
  t.kill_at_ms = NowMs() + options_.kill_grace_ms;
}

void TaskLauncher::Impl::Kill(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second.reaped) return;
  it->second.killed = true;
  BeginKill(it->second);
  Wake();
}

void TaskLauncher::Impl::OnReport(Task& t) {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(t.report_r.get(), buf, sizeof buf);
    if (n > 0) {
      t.report_buf.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    break;  // EOF (or an error: treated alike)
  }
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, t.report_r.get(), nullptr);
  t.report_r.reset();
  // The first report counts: a setup or exec failure, or the command's exit.
  if (t.report_buf.size() >= sizeof(Report)) {
    ::memcpy(&t.report, t.report_buf.data(), sizeof(Report));
    t.have_report = true;
  }
}

void TaskLauncher::Impl::OnOut(Task& t) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(t.out_r.get(), buf, sizeof buf);
    if (n > 0) {
      ssize_t ignored = WriteAll(t.log_fd.get(), buf, static_cast<size_t>(n));
      (void)ignored;
      size_t room = t.req.max_result > t.out.size() ? t.req.max_result - t.out.size() : 0;
      if (static_cast<size_t>(n) > room) t.out_truncated = true;
      t.out.append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    break;
  }
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, t.out_r.get(), nullptr);
  t.out_r.reset();
}

void TaskLauncher::Impl::OnPidfd(Task& t) {
  int status = 0;
  pid_t w = ::waitpid(t.pid, &status, WNOHANG);
  if (w == 0 || (w < 0 && errno == EINTR)) return;  // not yet a zombie: readable again later
  t.reaped = true;
  t.init_status = w == t.pid ? status : 0;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, t.pidfd.get(), nullptr);
  t.pidfd.reset();
}

bool TaskLauncher::Impl::Finished(const Task& t) const {
  return t.reaped && !t.report_r && !t.out_r;
}

TaskExit TaskLauncher::Impl::MakeExit(Task& t) {
  TaskExit e;
  e.pid = t.pid;
  e.start_time_ticks = t.ticks;
  e.killed = t.killed;
  e.timed_out = t.timed_out;
  e.stdout_text = std::move(t.out);
  e.stdout_truncated = t.out_truncated;
  const Report& r = t.report;
  if (t.have_report && r.kind == Report::kSetupFailed) {
    std::string what = StepText(r.step);
    if (r.step == kStepHide && r.index >= 0 && static_cast<size_t>(r.index) < t.req.hidden.size()) {
      what += " " + t.req.hidden[static_cast<size_t>(r.index)];
    } else if (r.step == kStepExpose && r.index >= 0 &&
               static_cast<size_t>(r.index) < t.req.exposed.size()) {
      what += " " + t.req.exposed[static_cast<size_t>(r.index)];
    } else if (r.step == kStepWorkDir || r.step == kStepChdir) {
      what += " " + t.req.working_dir;
    } else if (r.step == kStepTmp) {
      what += " (" + t.req.tmp_host + ")";
    }
    e.start_error = "cannot " + what + ": " + std::strerror(r.err);
  } else if (t.have_report && r.kind == Report::kExecFailed) {
    const std::string& cmd = t.req.argv0;
    const bool bare = cmd.find('/') == std::string::npos;
    if (r.err == ENOENT) {
      e.start_error = bare ? cmd + ": command not found in PATH (" + t.req.path_value + ")"
                           : cmd + ": no such file or directory";
    } else if (r.err == EACCES) {
      e.start_error = cmd + ": permission denied";
    } else {
      e.start_error = cmd + ": cannot execute: " + std::strerror(r.err);
    }
  } else if (t.have_report && r.kind == Report::kExited) {
    if (WIFEXITED(r.status)) e.exit_code = WEXITSTATUS(r.status);
    if (WIFSIGNALED(r.status)) e.signal = WTERMSIG(r.status);
  } else if (WIFSIGNALED(t.init_status)) {
    e.signal = WTERMSIG(t.init_status);  // the init itself was killed (Kill, KillStale, OOM)
  } else {
    e.start_error = "the task's init process ended without a report";
  }
  if (!e.start_error.empty()) {
    std::string line = "skiff: " + e.start_error + "\n";
    ssize_t ignored = WriteAll(t.log_fd.get(), line.data(), line.size());
    (void)ignored;
  }
  return e;
}

void TaskLauncher::Impl::Run(std::promise<void>* started) {
  // No signal handler ever runs on this thread, and the forker and the inits it clones start
  // with every signal blocked (the inits unblock SIGTERM once its handler is set).
  sigset_t all;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  {
    std::lock_guard lock(mu_);
    if (Status s = StartForker(); !s.ok()) {
      spdlog::warn("task launcher: {} (tried again for the first task)", s.ToString());
    }
  }
  started->set_value();
  epoll_event events[64];
  for (;;) {
    int timeout = -1;
    {
      std::lock_guard lock(mu_);
      int64_t now = NowMs(), next = -1;
      for (auto& [id, t] : tasks_) {
        for (int64_t at :
             {t.term_sent ? int64_t{0} : t.deadline_ms, t.kill_sent ? int64_t{0} : t.kill_at_ms}) {
          if (at > 0 && (next < 0 || at < next)) next = at;
        }
      }
      if (next >= 0) timeout = static_cast<int>(std::max<int64_t>(0, next - now));
    }
    int n = ::epoll_wait(epoll_.get(), events, 64, timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("task launcher: epoll_wait: {}", strerror(errno));
    }
    std::vector<std::pair<std::function<void(TaskExit)>, TaskExit>> finished;
    std::vector<std::shared_ptr<Pending>> pending;
    bool quit = false;
    {
      std::lock_guard lock(mu_);
      for (int i = 0; i < n; ++i) {
        uint64_t id = events[i].data.u64 >> 2;
        auto kind = static_cast<Kind>(events[i].data.u64 & 3);
        if (kind == kWake) {
          uint64_t v;
          ssize_t ignored = ::read(wake_.get(), &v, sizeof v);
          (void)ignored;
          continue;
        }
        auto it = tasks_.find(id);
        if (it == tasks_.end()) continue;
        Task& t = it->second;
        if (kind == kReport && t.report_r) OnReport(t);
        if (kind == kOut && t.out_r) OnOut(t);
        if (kind == kPidfd && t.pidfd) OnPidfd(t);
      }
      int64_t now = NowMs();
      for (auto it = tasks_.begin(); it != tasks_.end();) {
        Task& t = it->second;
        if (!t.reaped && !t.term_sent && t.deadline_ms > 0 && now >= t.deadline_ms) {
          t.timed_out = true;
          BeginKill(t);
        }
        if (!t.reaped && t.term_sent && !t.kill_sent && now >= t.kill_at_ms) {
          t.kill_sent = true;
          PidfdSignal(t.pidfd.get(), SIGKILL);
        }
        if (Finished(t)) {
          finished.emplace_back(std::move(t.req.done), MakeExit(t));
          it = tasks_.erase(it);
        } else {
          ++it;
        }
      }
      pending.assign(queue_.begin(), queue_.end());
      queue_.clear();
      for (auto& p : pending) {
        Result<std::optional<Spawned>> spawned = Spawn(p->req, /*may_start_forker=*/true);
        p->promise.set_value(spawned ? Result<Spawned>(**spawned) : spawned.error());
      }
      quit = quit_ && tasks_.empty();
    }
    for (auto& [done, exit] : finished) {
      if (done) done(std::move(exit));
    }
    if (quit) {
      std::lock_guard lock(mu_);
      StopForker();
      return;
    }
  }
}

void TaskLauncher::Impl::Shutdown() {
  SKIFF_CHECK(std::this_thread::get_id() != thread_id_);  // never from done()
  std::unique_lock lock(mu_);
  if (joined_) return;
  stopping_ = true;
  for (auto& [id, t] : tasks_) {
    t.killed = true;
    BeginKill(t);
  }
  quit_ = true;
  Wake();
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  lock.lock();
  joined_ = true;
}

// ---------------------------------------------------------------------------------------------

TaskLauncher::TaskLauncher(LauncherOptions options) : impl_(std::make_shared<Impl>(options)) {
  Status s = impl_->Init();
  SKIFF_CHECK(s.ok());
  impl_->StartThread();
}

TaskLauncher::~TaskLauncher() { impl_->Shutdown(); }

Result<std::unique_ptr<TaskHandle>> TaskLauncher::Start(const TaskProcessSpec& spec,
                                                        std::function<void(TaskExit)> done) {
  return impl_->Start(spec, std::move(done));
}

void TaskLauncher::Shutdown() { impl_->Shutdown(); }

}  // namespace skiff::pipelines
