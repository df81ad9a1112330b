#include "serving/runtimes/python_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/log.hpp"
#include "serving/runtimes/python_protocol.hpp"

namespace skiff::serving {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(), at least 0.
int PollTimeout(Deadline deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left + 1, 0, 60'000));
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A duplicate at 10 or above, close-on-exec, so that posix_spawn's dup2 onto 0-3 never meets a
// source descriptor equal to its target (which would leave close-on-exec set).
int MoveHigh(int fd) {
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return high;
}

Status SendAll(int fd, std::string_view bytes, Deadline deadline, int pidfd) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Unavailable(std::string("the worker closed its channel (") + std::strerror(errno) +
                         ")");
    }
    pollfd fds[2] = {{fd, POLLOUT, 0}, {pidfd, POLLIN, 0}};
    int r = ::poll(fds, pidfd >= 0 ? 2 : 1, PollTimeout(deadline));
    if (r < 0 && errno != EINTR) return Internal(std::string("poll: ") + std::strerror(errno));
    if (pidfd >= 0 && (fds[1].revents & POLLIN) && !(fds[0].revents & POLLOUT)) {
      return Unavailable("the worker exited");
    }
    if (r == 0 && steady_clock::now() >= deadline) return DeadlineExceeded("send timed out");
  }
  return Status::Ok();
}

}  // namespace

std::string SignalName(int sig) {
  switch (sig) {
    case SIGKILL:
      return "SIGKILL";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGTERM:
      return "SIGTERM";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGINT:
      return "SIGINT";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "signal " + std::to_string(sig);
  }
}

struct WorkerProcess::Impl {
  pid_t pid = -1;
  int channel = -1;  // our end of the socketpair; non-blocking
  int pidfd = -1;    // -1 when the kernel has no pidfd_open
  int stderr_fd = -1;
  int stop_fd = -1;  // eventfd that tells the reader thread to give up on the stream
  std::string log_name;
  size_t tail_limit = 0;
  std::thread reader;

  std::mutex mu;  // guards reaped, exit_description, tail, eof
  std::condition_variable cv;
  bool reaped = false;
  std::string exit_description;
  std::string tail;
  bool eof = false;

  // Drains the worker's output until EOF (or a stop request), logging whole lines and keeping
  // the last tail_limit bytes.
  void ReadOutput() {
    std::string line;
    char buf[4096];
    for (;;) {
      pollfd fds[2] = {{stderr_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents & POLLIN) break;
      ssize_t n = ::read(stderr_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard lock(mu);
      tail.append(buf, static_cast<size_t>(n));
      if (tail.size() > tail_limit) tail.erase(0, tail.size() - tail_limit);
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n' || line.size() >= 4096) {
          spdlog::info("{} (pid {}): {}", log_name, pid, line);
          line.clear();
          if (buf[i] == '\n') continue;
        }
        line.push_back(buf[i]);
      }
    }
    if (!line.empty()) spdlog::info("{} (pid {}): {}", log_name, pid, line);
    std::lock_guard lock(mu);
    eof = true;
    cv.notify_all();
  }

  // REQUIRES: mu held. Reaps the child if it has exited.
  bool TryReapLocked() {
    if (reaped) return true;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    reaped = true;
    if (r < 0) {
      exit_description = "ended (it could not be waited for)";
    } else if (WIFEXITED(status)) {
      exit_description = "exited with code " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      exit_description = "exited with signal " + std::to_string(WTERMSIG(status)) + " (" +
                         SignalName(WTERMSIG(status)) + ")";
    } else {
      exit_description = "ended";
    }
    return true;
  }
};

WorkerProcess::WorkerProcess(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), pid_(impl_->pid) {}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(const WorkerSpawnOptions& options) {
  SKIFF_CHECK(!options.argv.empty());
  int chan[2] = {-1, -1}, in[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&chan[0], &chan[1], &in[0], &in[1], &err[0], &err[1]}) CloseFd(*fd);
  };
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0 ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
      ::pipe2(err, O_CLOEXEC) != 0) {
    std::string e = std::strerror(errno);
    close_all();
    return Internal("cannot create the worker's channels: " + e);
  }
  chan[1] = MoveHigh(chan[1]);
  in[1] = MoveHigh(in[1]);
  err[1] = MoveHigh(err[1]);
  if (chan[1] < 0 || in[1] < 0 || err[1] < 0) {
    close_all();
    return Internal("cannot duplicate the worker's descriptors");
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], 0);
  posix_spawn_file_actions_adddup2(&actions, err[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_adddup2(&actions, chan[1], 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<std::string> env_strings;
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = options.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseFd(chan[1]);
  CloseFd(in[1]);
  CloseFd(err[1]);
  if (rc != 0) {
    close_all();
    if (rc == ENOENT) return NotFound(options.argv[0] + " does not exist");
    return Internal("cannot start " + options.argv[0] + ": " + std::strerror(rc));
  }

  auto impl = std::make_unique<Impl>();
  impl->pid = pid;
  impl->channel = chan[0];
  impl->stderr_fd = err[0];
  impl->log_name = options.log_name;
  impl->tail_limit = std::max<size_t>(options.stderr_tail_bytes, 256);
  // Before anything could reap pid. (A raw syscall: glibc 2.36's sys/pidfd.h lacks extern "C".)
  impl->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  impl->stop_fd = ::eventfd(0, EFD_CLOEXEC);
  ::fcntl(impl->channel, F_SETFL, ::fcntl(impl->channel, F_GETFL) | O_NONBLOCK);
  int stdin_fd = in[0];
  ::fcntl(stdin_fd, F_SETFL, ::fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
  Impl* raw = impl.get();
  impl->reader = std::thread([raw] { raw->ReadOutput(); });
  std::unique_ptr<WorkerProcess> process(new WorkerProcess(std::move(impl)));

  // The script fits in the socket buffer, so this normally returns at once; a worker that
  // dies first makes it fail, and the caller's handshake then reports why.
  Status fed = SendAll(stdin_fd, options.stdin_data, steady_clock::now() + std::chrono::seconds(30),
                       raw->pidfd);
  ::close(stdin_fd);
  if (!fed.ok()) spdlog::debug("{}: writing stdin: {}", options.log_name, fed.message());
  return process;
}

WorkerProcess::~WorkerProcess() {
  Kill();
  if (!WaitExit(steady_clock::now() + std::chrono::seconds(10))) {
    spdlog::error("{}: pid {} survived SIGKILL for 10s; waiting for it", impl_->log_name, pid_);
    std::lock_guard lock(impl_->mu);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    impl_->reaped = true;
  }
  {
    // The output ends once every process holding the pipe is gone; a descendant that left the
    // process group may keep it open, so the wait is bounded.
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return impl_->eof; });
  }
  uint64_t one = 1;
  if (impl_->stop_fd >= 0) (void)!::write(impl_->stop_fd, &one, sizeof one);
  if (impl_->reader.joinable()) impl_->reader.join();
  CloseFd(impl_->channel);
  CloseFd(impl_->pidfd);
  CloseFd(impl_->stderr_fd);
  CloseFd(impl_->stop_fd);
}

Status WorkerProcess::Send(std::string_view bytes, Deadline deadline) {
  return SendAll(impl_->channel, bytes, deadline, impl_->pidfd);
}

Result<WorkerFrame> WorkerProcess::Receive(Deadline deadline, uint64_t max_payload_bytes) {
  // Reads exactly `n` bytes into `out`.
  auto read_exact = [&](std::string& out, size_t n) -> Status {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::recv(impl_->channel, out.data() + done, n - done, MSG_DONTWAIT);
      if (r > 0) {
        done += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) return Unavailable("the worker closed its channel");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return Unavailable(std::string("the worker's channel failed: ") + std::strerror(errno));
      }
      pollfd fds[2] = {{impl_->channel, POLLIN, 0}, {impl_->pidfd, POLLIN, 0}};
      int p = ::poll(fds, impl_->pidfd >= 0 ? 2 : 1, PollTimeout(deadline));
      if (p < 0 && errno != EINTR) return Internal(std::string("poll: ") + std::strerror(errno));
      // Data the worker wrote before it exited is read first (it is still in the socket).
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) continue;
      if (impl_->pidfd >= 0 && (fds[1].revents & POLLIN)) return Unavailable("the worker exited");
      if (p == 0 && steady_clock::now() >= deadline) return DeadlineExceeded("receive timed out");
    }
    return Status::Ok();
  };
  std::string prefix;
  SKIFF_RETURN_IF_ERROR(read_exact(prefix, python_protocol::kPrefixBytes));
  SKIFF_ASSIGN_OR_RETURN(auto p, python_protocol::DecodePrefix(prefix, max_payload_bytes));
  WorkerFrame frame;
  SKIFF_RETURN_IF_ERROR(read_exact(frame.header, p.header_bytes));
  SKIFF_RETURN_IF_ERROR(read_exact(frame.payload, p.payload_bytes));
  return frame;
}

void WorkerProcess::Kill() {
  std::lock_guard lock(impl_->mu);
  // Only before reaping: afterwards the ids may belong to someone else.
  if (!impl_->reaped) ::kill(-pid_, SIGKILL);
}

std::optional<std::string> WorkerProcess::WaitExit(Deadline deadline) {
  for (;;) {
    {
      std::lock_guard lock(impl_->mu);
      if (impl_->TryReapLocked()) return impl_->exit_description;
    }
    if (steady_clock::now() >= deadline) return std::nullopt;
    if (impl_->pidfd >= 0) {
      pollfd fd = {impl_->pidfd, POLLIN, 0};
      ::poll(&fd, 1, PollTimeout(deadline));
    } else {
      // Kernels without pidfd_open (before 5.3): poll the child's status.
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
}

std::string WorkerProcess::StderrTail(std::chrono::milliseconds wait) {
  std::unique_lock lock(impl_->mu);
  if (wait.count() > 0) impl_->cv.wait_for(lock, wait, [&] { return impl_->eof; });
  return impl_->tail;
}

}  // namespace skiff::serving
