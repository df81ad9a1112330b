#include "serving/runtimes/sklearn_subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace skiff::serving::sklearn {

namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Owns posix_spawn's attribute objects for the duration of one spawn.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

std::string NameOf(const std::string& env_entry) {
  return env_entry.substr(0, env_entry.find('='));
}

}  // namespace

Result<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& extra_env,
                                       std::chrono::milliseconds timeout, size_t max_output) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Internal("RunSubprocess needs an absolute program path");
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + strerror(errno));
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + strerror(errno));
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&s.actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&s.actions, err_w.get(), 2);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setflags(&s.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&s.attr, 0);  // its own group, so a time-out kills its children too
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);

  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    bool overridden = false;
    for (const std::string& x : extra_env) overridden |= NameOf(x) == NameOf(entry);
    if (!overridden) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argvp, envp;
  for (const std::string& a : argv) argvp.push_back(const_cast<char*>(a.c_str()));
  argvp.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &s.actions, &s.attr, argvp.data(), envp.data());
  out_w.Close();
  err_w.Close();
  if (rc != 0) {
    return FailedPrecondition("cannot run " + argv[0] + ": " + strerror(rc));
  }

  SubprocessResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return std::max<int64_t>(0, left.count());
  };
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  char buf[16384];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const int64_t left = remaining_ms();
    if (left == 0) {
      result.timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        fds[i].fd = -1;  // EOF; the Fd closes it
        continue;
      }
      if (i == 0) {
        const size_t room = max_output - std::min(max_output, result.out.size());
        result.out.append(buf, std::min(room, static_cast<size_t>(got)));
      } else {
        result.err.append(buf, static_cast<size_t>(got));
        if (result.err.size() > 2 * max_output) result.err.erase(0, result.err.size() - max_output);
      }
    }
  }
  if (result.err.size() > max_output) result.err.erase(0, result.err.size() - max_output);

  // Both pipes are closed (or time ran out): reap the child, killing it at the deadline.
  if (result.timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (true) {
    const pid_t w = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      status = 0;
      break;
    }
    if (result.timed_out) continue;
    if (remaining_ms() == 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the child is exiting
  }
  if (result.timed_out) ::kill(-pid, SIGKILL);  // stragglers left in its group
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace skiff::serving::sklearn
