// RunProcess: argv without a shell, stdin, captured output, exit status, time-outs that kill the
// whole process group, bounded output.

#include "core/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

namespace skiff {
namespace {

using namespace std::chrono_literals;

ProcessOptions Opts(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  return o;
}

TEST(RunProcess, PassesStdinAndCapturesOutput) {
  ProcessOptions o = Opts({"cat"});
  o.stdin_text = "hello\nworld\n";
  auto r = RunProcess(o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->out, "hello\nworld\n");
}

TEST(RunProcess, ReportsExitCodeAndStderr) {
  auto r = RunProcess(Opts({"/bin/sh", "-c", "echo oops >&2; exit 3"}));
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_EQ(r->Describe(), "exit code 3");
}

TEST(RunProcess, ArgumentsAreNotInterpretedByAShell) {
  auto r = RunProcess(Opts({"echo", "$HOME; rm -rf /"}));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "$HOME; rm -rf /\n");
}

TEST(RunProcess, TimeoutKillsTheProcessGroup) {
  auto start = std::chrono::steady_clock::now();
  // The shell's child (sleep) must die too, or the pipes would stay open.
  ProcessOptions o = Opts({"/bin/sh", "-c", "sleep 30 & sleep 30"});
  o.timeout = 300ms;
  auto r = RunProcess(o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunProcess, OutputIsBounded) {
  ProcessOptions o = Opts({"/bin/sh", "-c", "head -c 100000 /dev/zero"});
  o.max_output_bytes = 1000;
  auto r = RunProcess(o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(RunProcess, MissingProgramIsNotFound) {
  auto r = RunProcess(Opts({"/nonexistent/program"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(RunProcess, EnvironmentCanBeReplaced) {
  ProcessOptions o = Opts({"/bin/sh", "-c", "echo \"$ONLY\"; echo \"$HOME\""});
  o.env = std::map<std::string, std::string>{{"ONLY", "this"}};
  auto r = RunProcess(o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "this\n\n");
}

}  // namespace
}  // namespace skiff
