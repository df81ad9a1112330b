// The task launcher with real processes: isolation (private /tmp, hidden dirs, PID namespace),
// logs, captured stdout, kills (Kill, time-out, KillStale, skiff's own death) proven by the
// task's processes no longer existing, and many tasks without leaks.

#include "pipelines/launcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "unit/wait_until.hpp"

namespace skiff::pipelines {
namespace {

using skiff::testing::WaitUntil;
using namespace std::chrono_literals;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A process counts as gone once it is missing or a zombie (a zombie whose parent is gone waits
// for the host's init to reap it, which some container inits never do).
bool Alive(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
  char state = stat[close_paren + 2];
  return state != 'Z' && state != 'X';
}

std::string PidNs(pid_t pid) {
  char buf[256];
  std::string link = "/proc/" + std::to_string(pid) + "/ns/pid";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Host pids of every process in the PID namespace whose init is `init`.
std::vector<pid_t> TaskProcesses(pid_t init) {
  std::string ns = PidNs(init);
  std::vector<pid_t> out;
  if (ns.empty()) return out;
  DIR* d = ::opendir("/proc");
  while (dirent* e = ::readdir(d)) {
    pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
    if (p > 0 && Alive(p) && PidNs(p) == ns) out.push_back(p);
  }
  ::closedir(d);
  return out;
}

// Pids of this process's children (every thread's).
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc/self/task");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(ReadAll(std::string("/proc/self/task/") + e->d_name + "/children"));
    for (pid_t p; in >> p;) out.push_back(p);
  }
  ::closedir(d);
  return out;
}

pid_t ParentOf(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(close_paren + 2));
  char state;
  pid_t ppid = -1;
  in >> state >> ppid;
  return ppid;
}

int CountFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own
}

// Collects one TaskExit.
struct Waiter {
  std::mutex mu;
  std::optional<TaskExit> exit;
  std::atomic<int> calls{0};
  std::function<void(TaskExit)> Callback() {
    return [this](TaskExit e) {
      std::lock_guard lock(mu);
      exit = std::move(e);
      ++calls;
    };
  }
  bool Done() { return calls.load() > 0; }
  TaskExit Wait() {
    EXPECT_TRUE(WaitUntil([this] { return Done(); }, 30s)) << "task did not end";
    std::lock_guard lock(mu);
    return exit.value_or(TaskExit{});
  }
};

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status iso = CheckIsolation();
    // Tasks cannot run without isolation: a machine without it fails here, loudly.
    if (!iso.ok()) FAIL() << iso.message();
    // Outside /tmp, so that hiding dirs is not confused with the task's own /tmp.
    char tmpl[] = "/var/tmp/skiff-launcher-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
  }
  void TearDown() override {
    if (!base_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(base_, ec);
    }
  }

  TaskProcessSpec Spec(const std::string& name, std::vector<std::string> argv) {
    TaskProcessSpec spec;
    spec.argv = std::move(argv);
    spec.tmp_dir = base_ + "/" + name + "/tmp";
    spec.log_path = base_ + "/logs/" + name + ".log";
    spec.env = {{"HOME", "/tmp"}};
    return spec;
  }

  TaskExit Run(TaskLauncher& launcher, const TaskProcessSpec& spec) {
    Waiter w;
    auto handle = launcher.Start(spec, w.Callback());
    EXPECT_TRUE(handle) << (handle ? "" : handle.error().message());
    if (!handle) return {};
    return w.Wait();
  }

  std::string base_;
};

TEST_F(LauncherTest, ExitCodesAndSignals) {
  TaskLauncher launcher;
  TaskExit ok = Run(launcher, Spec("t", {"true"}));
  EXPECT_TRUE(ok.ok()) << ok.Describe();
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_GT(ok.pid, 0);
  EXPECT_GT(ok.start_time_ticks, 0);

  TaskExit three = Run(launcher, Spec("t", {"sh", "-c", "exit 3"}));
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(three.signal, 0);
  EXPECT_FALSE(three.ok());
  EXPECT_EQ(three.Describe(), "exit code 3");

  TaskExit killed = Run(launcher, Spec("t", {"sh", "-c", "kill -9 $$"}));
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_FALSE(killed.killed);  // not by Kill()
  EXPECT_EQ(killed.Describe(), "killed by signal 9");
}

TEST_F(LauncherTest, LogHasStdoutAndStderrInterleaved) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"sh", "-c", "echo one; echo two >&2; echo three; echo four >&2"});
  TaskExit e = Run(launcher, spec);
  EXPECT_TRUE(e.ok()) << e.Describe();
  EXPECT_EQ(ReadAll(spec.log_path), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(e.stdout_text, "");  // not captured

  // A second run appends.
  Run(launcher, Spec("t", {"sh", "-c", "echo five"}));
  EXPECT_EQ(ReadAll(spec.log_path), "one\ntwo\nthree\nfour\nfive\n");
}

TEST_F(LauncherTest, LogIsReadableWhileTheTaskRuns) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"sh", "-c", "echo started; exec sleep 100"});
  spec.capture_stdout = true;
  Waiter w;
  auto h = launcher.Start(spec, w.Callback());
  ASSERT_TRUE(h);
  EXPECT_TRUE(WaitUntil([&] { return ReadAll(spec.log_path) == "started\n"; }));
  EXPECT_FALSE(w.Done());
  (*h)->Kill();
  TaskExit e = w.Wait();
  EXPECT_TRUE(e.killed);
  EXPECT_EQ(e.stdout_text, "started\n");
}

TEST_F(LauncherTest, CaptureStdoutKeepsStdoutOnlyAndBounded) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"sh", "-c", "echo out1; echo err1 >&2; echo out2"});
  spec.capture_stdout = true;
  TaskExit e = Run(launcher, spec);
  EXPECT_EQ(e.stdout_text, "out1\nout2\n");
  EXPECT_FALSE(e.stdout_truncated);
  std::string log = ReadAll(spec.log_path);
  EXPECT_NE(log.find("out1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("out2\n"), std::string::npos) << log;
  EXPECT_EQ(log.size(), 15u);

  auto big = Spec("big", {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"});
  big.capture_stdout = true;
  big.max_result_bytes = 1000;
  TaskExit b = Run(launcher, big);
  EXPECT_TRUE(b.ok()) << b.Describe();
  EXPECT_EQ(b.stdout_text, std::string(1000, 'x'));
  EXPECT_TRUE(b.stdout_truncated);
  EXPECT_EQ(ReadAll(big.log_path).size(), 100000u);  // the log has all of it
}

TEST_F(LauncherTest, TmpIsTheTasksOwn) {
  TaskLauncher launcher;
  auto a = Spec("a", {"sh", "-c", "echo from-a > /tmp/x"});
  TaskExit ea = Run(launcher, a);
  ASSERT_TRUE(ea.ok()) << ea.Describe() << ReadAll(a.log_path);
  EXPECT_EQ(ReadAll(a.tmp_dir + "/x"), "from-a\n");
  struct stat st;
  ASSERT_EQ(::stat(a.tmp_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  // Another task sees its own (empty) /tmp, not a's and not the host's.
  ASSERT_TRUE(std::ofstream("/tmp/skiff-launcher-host-file").good());
  auto b = Spec("b", {"sh", "-c", "echo start; ls -A /tmp; cat /tmp/x"});
  TaskExit eb = Run(launcher, b);
  EXPECT_NE(eb.exit_code, 0);
  std::string log = ReadAll(b.log_path);
  EXPECT_EQ(log.substr(0, 11), "start\ncat: ") << log;
  EXPECT_EQ(log.find("from-a"), std::string::npos) << log;
  EXPECT_EQ(log.find("skiff-launcher-host-file"), std::string::npos) << log;
  ::unlink("/tmp/skiff-launcher-host-file");
}

TEST_F(LauncherTest, HiddenDirsAreEmptyAndReadOnly) {
  TaskLauncher launcher;
  std::string data = base_ + "/data";
  std::string other_ns = data + "/other-namespace";
  std::filesystem::create_directories(other_ns);
  std::ofstream(other_ns + "/secret") << "top secret";
  // The task's own root lies inside the hidden data dir, as skiff's task dirs do.
  auto spec =
      Spec("unused", {"sh", "-c",
                      "echo \"ls:[$(ls -A " + data + ")]\"; cat " + other_ns + "/secret; touch " +
                          data + "/new && echo wrote; echo mine > /tmp/mine"});
  spec.tmp_dir = data + "/tasks/t1/tmp";
  spec.hidden_dirs = {data, base_ + "/does-not-exist"};
  TaskExit e = Run(launcher, spec);
  std::string log = ReadAll(spec.log_path);
  EXPECT_TRUE(e.ok()) << e.Describe() << log;  // the last command, the /tmp write, succeeded
  EXPECT_EQ(log.find("top secret"), std::string::npos) << log;
  EXPECT_NE(log.find("ls:[]\n"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrote"), std::string::npos) << log;
  EXPECT_NE(log.find("No such file"), std::string::npos) << log;
  EXPECT_EQ(ReadAll(spec.tmp_dir + "/mine"), "mine\n");
  EXPECT_FALSE(std::filesystem::exists(data + "/new"));
  // Unmounting the cover is refused (no CAP_SYS_ADMIN in the task).
  auto umount = Spec("u", {"sh", "-c", "umount " + data + " || echo refused"});
  umount.hidden_dirs = {data};
  Run(launcher, umount);
  EXPECT_NE(ReadAll(umount.log_path).find("refused"), std::string::npos)
      << ReadAll(umount.log_path);
}

// The forker sets hidden and exposed dirs up once, in a template mount namespace that each init
// copies (task_child.cpp). A hidden dir made, or made anew, after a task ran is hidden all the
// same from the next task, an exposed dir made later is exposed, and a mount skiff makes later
// is seen by the next task, as when every init set its mounts up itself.
TEST_F(LauncherTest, DirsAndMountsMadeAfterEarlierTasksAreSeenAsTheyAreNow) {
  TaskLauncher launcher;
  const std::string data = base_ + "/data", shown = data + "/shown";
  auto look = [&](const std::string& name) {
    auto spec = Spec(name, {"sh", "-c",
                            "cat " + data + "/secret " + shown + "/file " + base_ +
                                "/mnt/mounted 2>/dev/null; true"});
    spec.hidden_dirs = {data};
    spec.exposed_dirs = {shown};
    TaskExit e = Run(launcher, spec);
    EXPECT_TRUE(e.ok()) << e.Describe();
    return ReadAll(spec.log_path);
  };
  EXPECT_EQ(look("none"), "");  // neither dir exists yet

  std::filesystem::create_directories(data);
  std::ofstream(data + "/secret") << "secret-1\n";
  EXPECT_EQ(look("made"), "");

  std::filesystem::create_directories(shown);
  std::ofstream(shown + "/file") << "shown-1\n";
  EXPECT_EQ(look("exposed"), "shown-1\n");

  // Removed and made anew, in the same order. ext4 hands the lowest free inode number out: the
  // new dirs get the removed ones' numbers, unless something holds them (skiff must). They must
  // not be taken for the removed dirs, whose template's cover went with them.
  std::filesystem::remove_all(data);
  std::filesystem::create_directory(data);
  std::ofstream(data + "/secret") << "secret-2\n";
  std::filesystem::create_directory(shown);
  std::ofstream(shown + "/file") << "shown-2\n";
  EXPECT_EQ(look("remade"), "shown-2\n");

  if (::geteuid() != 0) return;  // templates are made as root only; so are mounts here
  const std::string mnt = base_ + "/mnt";
  std::filesystem::create_directories(mnt);
  ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
  std::ofstream(mnt + "/mounted") << "mounted\n";
  std::string with_mount = look("mounted");
  ::umount2(mnt.c_str(), MNT_DETACH);
  EXPECT_EQ(with_mount, "shown-2\nmounted\n");
  EXPECT_EQ(look("unmounted"), "shown-2\n");
}

TEST_F(LauncherTest, ExposedDirsInsideAHiddenDirAreVisibleReadOnly) {
  TaskLauncher launcher;
  std::string data = base_ + "/data";
  std::string bin = data + "/pipelines/bin";
  std::filesystem::create_directories(bin);
  std::filesystem::create_directories(data + "/pipelines/other");
  std::ofstream(data + "/secret") << "secret";
  std::ofstream(bin + "/hello") << "#!/bin/sh\necho hello from $0\n";
  ::chmod((bin + "/hello").c_str(), 0755);
  auto spec = Spec("unused", {"sh", "-c",
                              "hello; echo \"data:[$(ls -A " + data + ")]\"; echo \"p:[$(ls -A " +
                                  data + "/pipelines)]\"; touch " + bin +
                                  "/new || echo refused; cat " + data + "/secret"});
  spec.tmp_dir = data + "/tasks/t1/tmp";
  // Nested hidden dirs, listed inner first: the outer one covers, the exposed dir stays.
  spec.hidden_dirs = {data + "/pipelines", data + "/"};
  spec.exposed_dirs = {bin + "/", base_ + "/not-hidden", data + "/missing"};
  spec.extra_path_dirs = {bin};
  TaskExit e = Run(launcher, spec);
  std::string log = ReadAll(spec.log_path);
  EXPECT_EQ(e.start_error, "") << log;
  EXPECT_NE(log.find("hello from " + bin + "/hello\n"), std::string::npos) << log;
  EXPECT_NE(log.find("data:[pipelines]\n"), std::string::npos) << log;
  EXPECT_NE(log.find("p:[bin]\n"), std::string::npos) << log;
  EXPECT_NE(log.find("refused\n"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret\n"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(bin + "/new"));
}

// A data dir under /tmp (skiff started in /tmp): the task's own /tmp covers it, so the exposed
// dirs are exposed again inside the task's /tmp, in a read-only tmpfs on the hidden dir as
// outside /tmp. Only the dirs above the hidden one are made in the task's /tmp on the host.
TEST_F(LauncherTest, ExposedDirsOfADataDirUnderTmpAreVisibleReadOnly) {
  char tmpl[] = "/tmp/skiff-launcher-data-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string top = tmpl, data = top + "/data", bin = data + "/pipelines/bin",
                    shim = data + "/pipelines/kfp-executor";
  std::filesystem::create_directories(bin);
  std::filesystem::create_directories(shim);
  std::ofstream(data + "/secret") << "secret";
  std::ofstream(shim + "/shim.py") << "shim\n";
  std::ofstream(bin + "/hello") << "#!/bin/sh\necho hello from $0\n";
  ::chmod((bin + "/hello").c_str(), 0755);
  TaskLauncher launcher;
  auto spec =
      Spec("t", {"sh", "-c",
                 "hello; cat " + shim + "/shim.py; echo \"data:[$(ls -A " + data +
                     ")]\"; echo \"p:[$(ls -A " + data + "/pipelines | tr '\\n' ' ')]\"; " +
                     "for f in " + data + "/new " + bin + "/new " + data +
                     "/pipelines/new; do touch $f 2>/dev/null && echo wrote $f; done; " + "cat " +
                     data + "/secret 2>/dev/null; echo mine > /tmp/mine && echo tmp-ok"});
  spec.tmp_dir = data + "/runs/r/t";
  spec.hidden_dirs = {data};
  spec.exposed_dirs = {bin, shim};
  spec.extra_path_dirs = {bin};
  for (int run = 0; run < 2; ++run) {  // twice: the second from the template the first made
    std::filesystem::remove_all(spec.tmp_dir);
    std::filesystem::remove(spec.log_path);
    TaskExit e = Run(launcher, spec);
    std::string log = ReadAll(spec.log_path);
    EXPECT_TRUE(e.ok()) << e.Describe() << "\n" << log;
    EXPECT_EQ(log, "hello from " + bin + "/hello\nshim\ndata:[pipelines]\np:[bin kfp-executor ]\n" +
                       "tmp-ok\n");
    // On the host: the task's /tmp holds the dirs down to the hidden one, empty, and its file.
    std::vector<std::string> entries;
    for (const auto& d : std::filesystem::recursive_directory_iterator(spec.tmp_dir)) {
      entries.push_back(d.path().string().substr(spec.tmp_dir.size()));
    }
    std::sort(entries.begin(), entries.end());
    EXPECT_EQ(entries, (std::vector<std::string>{"/mine", top.substr(4), top.substr(4) + "/data"}));
  }
  EXPECT_FALSE(std::filesystem::exists(bin + "/new"));
  EXPECT_FALSE(std::filesystem::exists(data + "/new"));
  std::error_code ec;
  std::filesystem::remove_all(top, ec);
}

TEST_F(LauncherTest, TaskHasItsOwnSessionWithoutTerminal) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"sh", "-c",
                         "ps -o sid= -p $$ 2>/dev/null || cut -d' ' -f6 /proc/$$/stat; "
                         "(: </dev/tty) 2>/dev/null && echo has-tty || echo no-tty"});
  TaskExit e = Run(launcher, spec);
  std::string log = ReadAll(spec.log_path);
  EXPECT_TRUE(e.ok()) << log;
  EXPECT_NE(log.find("no-tty\n"), std::string::npos) << log;
  EXPECT_EQ(std::atoi(log.c_str()), 1) << log;  // the session of the task's init
}

TEST_F(LauncherTest, SignalsStartAtTheirDefaults) {
  // A server ignores SIGPIPE and blocks SIGTERM in its threads; its tasks must not inherit that.
  struct sigaction ign, old_pipe;
  ::memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  // A CI runner may ignore glibc's reserved signal 32, which glibc's sigaction() cannot reset.
  unsigned long kernel_ign[4] = {reinterpret_cast<unsigned long>(SIG_IGN)}, old_32[4] = {};
  ASSERT_EQ(::syscall(SYS_rt_sigaction, 32, kernel_ign, old_32, sizeof(unsigned long)), 0);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, &old_mask);
  TaskLauncher launcher;  // its thread starts with this thread's mask
  auto spec = Spec("t", {"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"});
  TaskExit e = Run(launcher, spec);
  ::syscall(SYS_rt_sigaction, 32, old_32, nullptr, sizeof(unsigned long));
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_TRUE(e.ok()) << e.Describe();
  EXPECT_EQ(ReadAll(spec.log_path), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_F(LauncherTest, OnlyTheTasksProcessesAreVisible) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"});
  TaskExit e = Run(launcher, spec);
  EXPECT_TRUE(e.ok()) << e.Describe();
  // The command is pid 2 (the init is 1); /proc lists init, sh, ls, grep only.
  std::string log = ReadAll(spec.log_path);
  EXPECT_EQ(log.substr(0, 2), "2\n") << log;
  EXPECT_LE(std::atoi(log.substr(2).c_str()), 4) << log;
}

TEST_F(LauncherTest, WorkingDirAndSetupFailures) {
  TaskLauncher launcher;
  // By default the task's /tmp itself: nothing is created for it.
  auto spec = Spec("t", {"pwd"});
  Run(launcher, spec);
  EXPECT_EQ(ReadAll(spec.log_path), "/tmp\n");
  EXPECT_TRUE(std::filesystem::is_empty(spec.tmp_dir));

  auto work = Spec("w", {"pwd"});
  work.working_dir = "/tmp/work";
  Run(launcher, work);
  EXPECT_EQ(ReadAll(work.log_path), "/tmp/work\n");
  EXPECT_TRUE(std::filesystem::is_directory(work.tmp_dir + "/work"));

  auto deep = Spec("d", {"pwd"});
  deep.working_dir = "/tmp/a/b/c";
  Run(launcher, deep);
  EXPECT_EQ(ReadAll(deep.log_path), "/tmp/a/b/c\n");
  EXPECT_TRUE(std::filesystem::is_directory(deep.tmp_dir + "/a/b/c"));

  auto missing = Spec("m", {"pwd"});
  missing.working_dir = "/no/such/dir";
  TaskExit e = Run(launcher, missing);
  EXPECT_EQ(e.start_error,
            "cannot enter the working directory /no/such/dir: No such file or directory");
  EXPECT_NE(ReadAll(missing.log_path).find(e.start_error), std::string::npos);

  auto file_hidden = Spec("f", {"true"});
  std::ofstream(base_ + "/a-file") << "x";
  file_hidden.hidden_dirs = {base_ + "/a-file"};
  TaskExit ef = Run(launcher, file_hidden);
  EXPECT_EQ(ef.start_error, "cannot hide " + base_ + "/a-file: Not a directory");
  EXPECT_EQ(ef.Describe(), "failed to start: " + ef.start_error);

  auto bad = Spec("b", {"pwd"});
  bad.working_dir = "/tmp/../etc";
  EXPECT_EQ(launcher.Start(bad, nullptr).error().code(), Code::kInvalidArgument);
}

TEST_F(LauncherTest, EnvironmentIsExactlyTheSpecsPlusPath) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"env"});
  spec.env = {{"FOO", "bar baz"}, {"EMPTY", ""}};
  spec.extra_path_dirs = {"/opt/skiff/bin"};
  Run(launcher, spec);
  std::set<std::string> lines;
  std::istringstream in(ReadAll(spec.log_path));
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{"FOO=bar baz", "EMPTY=",
                                          std::string("PATH=/opt/skiff/bin:") + kDefaultTaskPath}));

  auto own_path = Spec("p", {"env"});
  own_path.env = {{"PATH", "/usr/bin:/bin"}};
  Run(launcher, own_path);
  EXPECT_EQ(ReadAll(own_path.log_path), "PATH=/usr/bin:/bin\n");
}

TEST_F(LauncherTest, MissingCommandIsNamedInErrorAndLog) {
  TaskLauncher launcher;
  auto spec = Spec("t", {"no-such-command-xyz", "arg"});
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  TaskExit e = Run(launcher, spec);
  EXPECT_EQ(e.start_error, "no-such-command-xyz: command not found in PATH (/usr/bin:/bin)");
  EXPECT_EQ(e.exit_code, -1);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(ReadAll(spec.log_path),
            "skiff: no-such-command-xyz: command not found in PATH (/usr/bin:/bin)\n");

  auto path = Spec("p", {"/no/such/binary"});
  TaskExit ep = Run(launcher, path);
  EXPECT_EQ(ep.start_error, "/no/such/binary: no such file or directory");

  std::string plain = base_ + "/not-executable";
  std::ofstream(plain) << "echo hi\n";
  ::chmod(plain.c_str(), 0644);
  auto not_exec = Spec("n", {plain});
  TaskExit en = Run(launcher, not_exec);
  EXPECT_EQ(en.start_error, plain + ": permission denied");
}

TEST_F(LauncherTest, NoDescriptorLeaksIntoTheTask) {
  TaskLauncher launcher;
  int leak = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(leak, 3);
  auto spec = Spec("t", {"ls", "/proc/self/fd"});
  Run(launcher, spec);
  ::close(leak);
  EXPECT_EQ(ReadAll(spec.log_path), "0\n1\n2\n3\n");  // 3: ls's own directory handle
}

// Waits until the task `init` runs at least `n` processes (init included); returns them.
std::vector<pid_t> WaitForProcesses(pid_t init, size_t n) {
  std::vector<pid_t> procs;
  EXPECT_TRUE(WaitUntil([&] {
    procs = TaskProcesses(init);
    return procs.size() >= n;
  }));
  return procs;
}

bool AllGone(const std::vector<pid_t>& pids) {
  return std::none_of(pids.begin(), pids.end(), Alive);
}

TEST_F(LauncherTest, KillEndsEveryProcessOfTheTask) {
  TaskLauncher launcher;
  Waiter w;
  auto h = launcher.Start(Spec("t", {"sh", "-c", "sleep 100 & sleep 100"}), w.Callback());
  ASSERT_TRUE(h);
  auto procs = WaitForProcesses((*h)->pid(), 4);  // init, sh, two sleeps
  ASSERT_EQ(procs.size(), 4u);
  EXPECT_EQ(ProcessStartTicks((*h)->pid()), (*h)->start_time_ticks());
  std::thread([&] { (*h)->Kill(); }).join();  // from another thread
  TaskExit e = w.Wait();
  EXPECT_TRUE(e.killed);
  EXPECT_FALSE(e.timed_out);
  EXPECT_EQ(e.signal, SIGTERM);  // SIGTERM reached the command (no SIGKILL needed)
  EXPECT_EQ(e.Describe(), "terminated");
  EXPECT_TRUE(AllGone(procs));
  (*h)->Kill();  // after the end: nothing
  EXPECT_EQ(w.calls.load(), 1);
}

TEST_F(LauncherTest, KillEscalatesToSigkillAfterTheGracePeriod) {
  TaskLauncher launcher(LauncherOptions{.kill_grace_ms = 200});
  Waiter w;
  auto h =
      launcher.Start(Spec("t", {"sh", "-c", "trap '' TERM; sleep 100 & sleep 100"}), w.Callback());
  ASSERT_TRUE(h);
  auto procs = WaitForProcesses((*h)->pid(), 4);
  (*h)->Kill();
  TaskExit e = w.Wait();
  EXPECT_TRUE(e.killed);
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_TRUE(AllGone(procs));
}

TEST_F(LauncherTest, TimeoutKillsTheWholeTask) {
  TaskLauncher launcher;
  Waiter w;
  auto spec = Spec("t", {"sh", "-c", "sleep 100 & sleep 100"});
  spec.timeout_ms = 300;
  auto h = launcher.Start(spec, w.Callback());
  ASSERT_TRUE(h);
  auto procs = WaitForProcesses((*h)->pid(), 4);
  TaskExit e = w.Wait();
  EXPECT_TRUE(e.timed_out);
  EXPECT_FALSE(e.killed);
  EXPECT_EQ(e.Describe(), "timed out");
  EXPECT_TRUE(AllGone(procs));
}

TEST_F(LauncherTest, KillStaleKillsOnlyTheSameProcess) {
  TaskLauncher launcher;
  Waiter w;
  auto h = launcher.Start(Spec("t", {"sh", "-c", "sleep 100 & sleep 100"}), w.Callback());
  ASSERT_TRUE(h);
  pid_t pid = (*h)->pid();
  int64_t ticks = (*h)->start_time_ticks();
  auto procs = WaitForProcesses(pid, 4);
  TaskLauncher::KillStale(pid, ticks + 1);  // a different process under a reused pid: spared
  TaskLauncher::KillStale(999999999, ticks);
  EXPECT_EQ(TaskProcesses(pid).size(), 4u);
  EXPECT_FALSE(w.Done());
  TaskLauncher::KillStale(pid, ticks);
  TaskExit e = w.Wait();
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_FALSE(e.killed);
  EXPECT_TRUE(AllGone(procs));
}

// A task started by a process that dies without cleaning up (skiff killed with SIGKILL, its
// launcher never shut down): the task dies with it (PR_SET_PDEATHSIG), and after a "restart"
// KillStale on the recorded pid is harmless.
TEST_F(LauncherTest, TasksDieWithSkiff) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string root = base_ + "/orphan";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(60);                                  // bound the child whatever happens
    TaskLauncher* launcher = new TaskLauncher();  // never destroyed
    TaskProcessSpec spec;
    spec.argv = {"sh", "-c", "sleep 100 & sleep 100"};
    spec.tmp_dir = root + "/tmp";
    spec.log_path = root + ".log";
    auto h = launcher->Start(spec, nullptr);
    int64_t msg[2] = {h ? (*h)->pid() : -1, h ? (*h)->start_time_ticks() : -1};
    if (::write(fds[1], msg, sizeof msg) != sizeof msg) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  int64_t msg[2] = {0, 0};
  ASSERT_EQ(::read(fds[0], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  ::close(fds[0]);
  ASSERT_GT(msg[0], 0);
  auto procs = WaitForProcesses(static_cast<pid_t>(msg[0]), 4);
  ASSERT_EQ(procs.size(), 4u);
  ::kill(child, SIGKILL);
  int status;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WaitUntil([&] { return AllGone(procs); })) << "tasks outlived their launcher";
  TaskLauncher::KillStale(static_cast<pid_t>(msg[0]), msg[1]);
}

// Tasks are cloned by a small forker process that the launcher starts (launcher.cpp); each task's
// init is the launcher's own child all the same (CLONE_PARENT), and a forker that died (the
// OOM killer, kill -9) is replaced at the next start, whose task runs.
TEST_F(LauncherTest, TasksComeFromAForkerThatIsReplacedWhenItDies) {
  TaskLauncher launcher;
  std::vector<pid_t> before = Children();
  ASSERT_EQ(before.size(), 1u) << "the forker";
  const pid_t forker = before[0];
  // The small static program embedded in skiff, not a copy of this process.
  char exe[256] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(forker) + "/exe").c_str(), exe, sizeof exe - 1),
            0);
  EXPECT_NE(std::string(exe).find("skiff-task-forker"), std::string::npos) << exe;

  Waiter w;
  auto spec = Spec("child", {"sleep", "100"});
  auto h = launcher.Start(spec, w.Callback());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(ParentOf((*h)->pid()), ::getpid());
  (*h)->Kill();
  EXPECT_TRUE(w.Wait().killed);

  ASSERT_EQ(::kill(forker, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !Alive(forker); }));
  // Asked for from a thread that then ends (as the engine's workers may): the new forker is
  // started by the launcher's own thread all the same (its death signal follows the thread that
  // forked it: one started by the asking thread would be killed as that thread ends).
  auto after = Spec("after", {"sh", "-c", "echo ran"});
  TaskExit e;
  std::thread([&] { e = Run(launcher, after); }).join();
  EXPECT_TRUE(e.ok()) << e.Describe();
  EXPECT_EQ(ReadAll(after.log_path), "ran\n");
  std::vector<pid_t> now = Children();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], forker);
  TaskExit again = Run(launcher, Spec("again", {"true"}));
  EXPECT_TRUE(again.ok()) << again.Describe();
  EXPECT_TRUE(Alive(now[0])) << "the new forker died with the thread that asked for a task";
  EXPECT_EQ(Children(), now);
}

// Where a memfd cannot be executed the forker is a copy of skiff running the same loop: tasks
// run, isolated, all the same.
TEST_F(LauncherTest, TheForkerMayBeACopyOfThisProcess) {
  TaskLauncher launcher(LauncherOptions{.forker_program = false});
  std::vector<pid_t> kids = Children();
  ASSERT_EQ(kids.size(), 1u);
  char exe[256] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(kids[0]) + "/exe").c_str(), exe, sizeof exe - 1),
            0);
  char self[256] = {};
  ASSERT_GT(::readlink("/proc/self/exe", self, sizeof self - 1), 0);
  EXPECT_STREQ(exe, self);
  auto spec = Spec("copy", {"sh", "-c", "echo $$; touch mine; ls /tmp"});
  TaskExit e = Run(launcher, spec);
  EXPECT_TRUE(e.ok()) << e.Describe();
  // Its own PID namespace (the command is pid 2) and its own /tmp (with its own file only).
  EXPECT_EQ(ReadAll(spec.log_path), "2\nmine\n");
}

TEST_F(LauncherTest, AnEnvironmentTooLargeIsRefused) {
  TaskLauncher launcher;
  auto spec = Spec("big", {"true"});
  spec.env["BIG"] = std::string(9 << 20, 'x');
  auto h = launcher.Start(spec, nullptr);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code(), Code::kInvalidArgument);
  EXPECT_NE(h.error().message().find("too large"), std::string::npos) << h.error().message();
  TaskExit e = Run(launcher, Spec("small", {"true"}));  // the launcher goes on
  EXPECT_TRUE(e.ok()) << e.Describe();
}

TEST_F(LauncherTest, StartErrors) {
  TaskLauncher launcher;
  auto no_argv = Spec("t", {});
  EXPECT_EQ(launcher.Start(no_argv, nullptr).error().code(), Code::kInvalidArgument);
  auto no_log = Spec("t", {"true"});
  no_log.log_path.clear();
  EXPECT_EQ(launcher.Start(no_log, nullptr).error().code(), Code::kInvalidArgument);
  launcher.Shutdown();
  launcher.Shutdown();  // idempotent
  auto after = launcher.Start(Spec("t", {"true"}), nullptr);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), Code::kFailedPrecondition);
}

TEST_F(LauncherTest, ShutdownKillsRunningTasksAndWaitsForDone) {
  TaskLauncher launcher(LauncherOptions{.kill_grace_ms = 200});
  Waiter a, b;
  auto ha = launcher.Start(Spec("a", {"sleep", "100"}), a.Callback());
  auto hb = launcher.Start(Spec("b", {"sh", "-c", "trap '' TERM; sleep 100"}), b.Callback());
  ASSERT_TRUE(ha && hb);
  auto procs = WaitForProcesses((*hb)->pid(), 3);
  launcher.Shutdown();
  EXPECT_TRUE(a.Done());
  EXPECT_TRUE(b.Done());
  EXPECT_TRUE(a.exit->killed);
  EXPECT_TRUE(b.exit->killed);
  EXPECT_TRUE(AllGone(procs));
}

TEST_F(LauncherTest, DoneMayStartTheNextTask) {
  TaskLauncher launcher;
  Waiter second;
  std::atomic<bool> started{false};
  auto next = Spec("second", {"sh", "-c", "echo second"});
  Waiter first;
  auto h = launcher.Start(Spec("first", {"true"}), [&](TaskExit) {
    auto h2 = launcher.Start(next, second.Callback());
    started = h2.has_value();
  });
  ASSERT_TRUE(h);
  TaskExit e = second.Wait();
  EXPECT_TRUE(started);
  EXPECT_TRUE(e.ok());
  EXPECT_EQ(ReadAll(next.log_path), "second\n");
}

// The inits share the forker's memory (no address space copied and torn down per task) and run
// on stacks the forker reuses once the kernel says they have ended: many tasks one after the
// other leave the forker's mappings as the first left them.
TEST_F(LauncherTest, InitsShareTheForkersMemoryAndReuseItsStacks) {
  TaskLauncher launcher;
  std::vector<pid_t> kids = Children();
  ASSERT_EQ(kids.size(), 1u) << "the forker";
  const pid_t forker = kids[0];
  Waiter w;
  auto h = launcher.Start(Spec("shared", {"sleep", "100"}), w.Callback());
  ASSERT_TRUE(h) << h.error().message();
  if (::geteuid() == 0) {  // in a user namespace each init gets a copy
    EXPECT_EQ(::syscall(SYS_kcmp, forker, (*h)->pid(), KCMP_VM, 0, 0), 0)
        << "not the same memory: " << std::strerror(errno);
  }
  (*h)->Kill();
  EXPECT_TRUE(w.Wait().killed);
  auto mappings = [forker] {
    std::string maps = ReadAll("/proc/" + std::to_string(forker) + "/maps");
    return std::count(maps.begin(), maps.end(), '\n');
  };
  ASSERT_TRUE(Run(launcher, Spec("first", {"true"})).ok());
  const auto after_first = mappings();
  for (int i = 0; i < 20; ++i) {
    TaskExit e = Run(launcher, Spec("again", {"true"}));
    ASSERT_TRUE(e.ok()) << e.Describe();
  }
  EXPECT_EQ(mappings(), after_first);
}

// The inits share the forker's memory, and the OOM killer kills every process of the memory it
// chose: it must never choose them (-1000, where the forker may lower its score: it needs
// CAP_SYS_RESOURCE). The command has skiff's own score (which a test may set, as systemd does
// for a service).
TEST_F(LauncherTest, CommandsHaveSkiffsOomScoreAndInitsCannotBeChosen) {
  const std::string original = ReadAll("/proc/self/oom_score_adj");
  const bool can_lower = static_cast<bool>(std::ofstream("/proc/self/oom_score_adj") << "-1\n") &&
                         ReadAll("/proc/self/oom_score_adj") == "-1\n";
  if (can_lower) std::ofstream("/proc/self/oom_score_adj") << "123\n";
  const std::string own = ReadAll("/proc/self/oom_score_adj");
  std::string log;
  {
    TaskLauncher launcher;
    auto spec =
        Spec("oom", {"sh", "-c", "cat /proc/self/oom_score_adj; cat /proc/1/oom_score_adj"});
    TaskExit e = Run(launcher, spec);
    EXPECT_TRUE(e.ok()) << e.Describe();
    log = ReadAll(spec.log_path);
  }
  std::ofstream("/proc/self/oom_score_adj") << original;
  EXPECT_EQ(ReadAll("/proc/self/oom_score_adj"), original);
  EXPECT_EQ(log, own + (can_lower ? "-1000\n" : own)) << log;
  if (can_lower) {
    EXPECT_EQ(own, "123\n");
  }
}

// Concurrent tasks' inits and commands share one address space until each command's exec (and
// with it the C library's errno): each must still act on its own errors, never another's: exec's
// ENOENT while it searches PATH, a missing hidden dir (skipped).
TEST_F(LauncherTest, ConcurrentTasksReadTheirOwnErrors) {
  TaskLauncher launcher;
  constexpr int kTasks = 48;
  const std::string path = "/no/a:/no/b:/no/c:/no/d:/no/e:/usr/bin:/bin";
  std::vector<std::unique_ptr<Waiter>> waiters;
  std::vector<std::unique_ptr<TaskHandle>> handles;
  for (int i = 0; i < kTasks; ++i) {
    const std::string name = "c" + std::to_string(i);
    auto spec = Spec(name, {i % 2 ? std::string("true") : "no-such-command-" + name});
    spec.env["PATH"] = path;
    spec.hidden_dirs = {base_ + "/missing-" + name};
    waiters.push_back(std::make_unique<Waiter>());
    auto h = launcher.Start(spec, waiters.back()->Callback());
    ASSERT_TRUE(h) << h.error().message();
    handles.push_back(std::move(*h));
  }
  for (int i = 0; i < kTasks; ++i) {
    TaskExit e = waiters[static_cast<size_t>(i)]->Wait();
    if (i % 2) {
      EXPECT_TRUE(e.ok()) << i << ": " << e.Describe();
    } else {
      EXPECT_EQ(e.start_error, "no-such-command-c" + std::to_string(i) +
                                   ": command not found in PATH (" + path + ")");
    }
  }
}

// A task may read its init's memory (it runs as the same user, with CAP_SYS_PTRACE): it finds no
// other task's command line or environment there, not even of the task started right after it,
// whose plan went through the same shared mapping and the same forker.
TEST_F(LauncherTest, AnInitsMemoryHoldsNoOtherTasksEnvironment) {
  ASSERT_EQ(::access("/usr/bin/python3", X_OK), 0)
      << "/usr/bin/python3 is missing: run scripts/deps.sh test";
  TaskLauncher launcher;
  // The marker is never whole in this task's own plan. A control string that is in every
  // init's memory (the forker's code) proves the reading works.
  const std::string scan = R"(
import os, time
marker = ("SECRET" + "-OF-" + "ANOTHER-TASK").encode()
deadline = time.time() + 30
while not os.path.exists("/tmp/go") and time.time() < deadline:
    time.sleep(0.01)
found = control = 0
try:
    maps = open("/proc/1/maps").readlines()
except PermissionError:  # in a user namespace: the init's memory cannot be read at all
    maps = None
    print("unreadable")
for line in maps or []:
    parts = line.split()
    if not parts[1].startswith("r") or parts[-1].startswith("[v"):
        continue
    lo, hi = (int(x, 16) for x in parts[0].split("-"))
    try:
        with open("/proc/1/mem", "rb", buffering=0) as mem:
            mem.seek(lo)
            data = mem.read(hi - lo)
    except OSError:
        continue
    found += marker in data
    control += b"/proc/self/setgroups" in data
if maps is not None:
    print("found", found, "control", control > 0)
)";
  Waiter scanner;
  auto b = Spec("scanner", {"/usr/bin/python3", "-c", scan});
  auto hb = launcher.Start(b, scanner.Callback());
  ASSERT_TRUE(hb) << hb.error().message();
  auto a = Spec("other", {"true"});
  a.env["TOKEN"] = "SECRET-OF-ANOTHER-TASK";
  ASSERT_TRUE(Run(launcher, a).ok());
  std::ofstream(b.tmp_dir + "/go") << "";
  TaskExit e = scanner.Wait();
  EXPECT_TRUE(e.ok()) << e.Describe() << ReadAll(b.log_path);
  EXPECT_EQ(ReadAll(b.log_path), ::geteuid() == 0 ? "found 0 control True\n" : "unreadable\n");
}

TEST_F(LauncherTest, ManyTasksAllEndWithoutLeaks) {
  const int fds_before = CountFds();
  constexpr int kTasks = 200;
  std::atomic<int> done{0}, ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  {
    TaskLauncher launcher;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> starters;
    for (int s = 0; s < 4; ++s) {
      starters.emplace_back([&, s] {
        for (int i = s; i < kTasks; i += 4) {
          auto spec = Spec("many/" + std::to_string(i),
                           i % 2 ? std::vector<std::string>{"true"}
                                 : std::vector<std::string>{"echo", std::to_string(i)});
          spec.capture_stdout = i % 2 == 0;
          auto h = launcher.Start(spec, [&, i](TaskExit e) {
            bool good = e.ok() && (i % 2 || e.stdout_text == std::to_string(i) + "\n");
            if (good) {
              ++ok;
            } else {
              std::lock_guard lock(mu);
              failures.push_back(std::to_string(i) + ": " + e.Describe());
            }
            ++done;
          });
          if (!h) {
            std::lock_guard lock(mu);
            failures.push_back(h.error().message());
            ++done;
          }
        }
      });
    }
    for (auto& t : starters) t.join();
    EXPECT_TRUE(WaitUntil([&] { return done.load() == kTasks; }, 60s)) << done.load();
    auto wall = std::chrono::steady_clock::now() - t0;
    std::printf("[ measured ] %d tasks, 4 starters: %.1f ms wall, %.2f ms per task\n", kTasks,
                std::chrono::duration<double, std::milli>(wall).count(),
                std::chrono::duration<double, std::milli>(wall).count() / kTasks);

    // Sequential latency of one `true`: Start -> done().
    auto s0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) Run(launcher, Spec("seq", {"true"}));
    std::printf(
        "[ measured ] start `true` -> done(): %.2f ms each (sequential)\n",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count() /
            20);
  }
  EXPECT_EQ(ok.load(), kTasks) << (failures.empty() ? "" : failures[0]);
  EXPECT_EQ(CountFds(), fds_before);
  int status;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);  // no zombie, no child left
  EXPECT_EQ(errno, ECHILD);
}

TEST(LauncherIsolation, CheckIsolationAnswersTheSameEachTime) {
  Status a = CheckIsolation();
  Status b = CheckIsolation();
  EXPECT_EQ(a.ok(), b.ok());
  if (!a.ok()) {
    EXPECT_EQ(a.code(), Code::kFailedPrecondition);
    EXPECT_NE(a.message().find("namespace"), std::string::npos);
  }
}

}  // namespace
}  // namespace skiff::pipelines
