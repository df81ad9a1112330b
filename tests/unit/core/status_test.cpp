#include "core/status.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.reason(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(Status::Ok(), Status());
}

TEST(StatusTest, CodesAreNumberedAsGrpc) {
  EXPECT_EQ(static_cast<int>(Code::kOk), 0);
  EXPECT_EQ(static_cast<int>(Code::kCancelled), 1);
  EXPECT_EQ(static_cast<int>(Code::kInvalidArgument), 3);
  EXPECT_EQ(static_cast<int>(Code::kNotFound), 5);
  EXPECT_EQ(static_cast<int>(Code::kAlreadyExists), 6);
  EXPECT_EQ(static_cast<int>(Code::kPermissionDenied), 7);
  EXPECT_EQ(static_cast<int>(Code::kResourceExhausted), 8);
  EXPECT_EQ(static_cast<int>(Code::kAborted), 10);
  EXPECT_EQ(static_cast<int>(Code::kInternal), 13);
  EXPECT_EQ(static_cast<int>(Code::kUnavailable), 14);
  EXPECT_EQ(static_cast<int>(Code::kUnauthenticated), 16);
}

TEST(StatusTest, HelpersSetCodeMessageAndReason) {
  struct Case {
    Status status;
    Code code;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {InvalidArgument("m"), Code::kInvalidArgument, ""},
      {Invalid("m"), Code::kInvalidArgument, "Invalid"},
      {NotFound("m"), Code::kNotFound, ""},
      {AlreadyExists("m"), Code::kAlreadyExists, ""},
      {Conflict("m"), Code::kAborted, "Conflict"},
      {PermissionDenied("m"), Code::kPermissionDenied, ""},
      {Unauthenticated("m"), Code::kUnauthenticated, ""},
      {ResourceExhausted("m"), Code::kResourceExhausted, ""},
      {TooLarge("m"), Code::kResourceExhausted, "TooLarge"},
      {FailedPrecondition("m"), Code::kFailedPrecondition, ""},
      {Expired("m"), Code::kOutOfRange, "Expired"},
      {Unavailable("m"), Code::kUnavailable, ""},
      {DeadlineExceeded("m"), Code::kDeadlineExceeded, ""},
      {Internal("m"), Code::kInternal, ""},
      {Unimplemented("m"), Code::kUnimplemented, ""},
      {Cancelled("m"), Code::kCancelled, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
    EXPECT_EQ(c.status.reason(), c.reason);
  }
}

TEST(StatusTest, CodeNames) {
  EXPECT_EQ(CodeName(Code::kOk), "OK");
  EXPECT_EQ(CodeName(Code::kInvalidArgument), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeName(Code::kNotFound), "NOT_FOUND");
  EXPECT_EQ(CodeName(Code::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(CodeName(Code::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(CodeName(Code::kDataLoss), "DATA_LOSS");
  EXPECT_EQ(CodeName(static_cast<Code>(999)), "UNKNOWN");
}

TEST(StatusTest, ToStringAndStream) {
  Status s = NotFound("pod \"x\" not found");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: pod \"x\" not found");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), s.ToString());
}

TEST(StatusTest, WithPrefixKeepsCodeAndReason) {
  Status s = Invalid("spec.replicas must be >= 0").WithPrefix("deployment \"web\"");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.reason(), "Invalid");
  EXPECT_EQ(s.message(), "deployment \"web\": spec.replicas must be >= 0");
  // Prefixes nest outward.
  EXPECT_EQ(s.WithPrefix("apply").message(),
            "apply: deployment \"web\": spec.replicas must be >= 0");
}

TEST(StatusTest, WithPrefixOnOkIsOk) {
  Status s = Status::Ok().WithPrefix("anything");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, Equality) {
  EXPECT_EQ(NotFound("a"), NotFound("a"));
  EXPECT_NE(NotFound("a"), NotFound("b"));
  EXPECT_NE(NotFound("a"), Internal("a"));
  // The reason takes part: Invalid (422) is not a plain InvalidArgument (400).
  EXPECT_NE(Invalid("a"), InvalidArgument("a"));
}

struct HttpCase {
  Status status;
  int http;
};

void PrintTo(const HttpCase& c, std::ostream* os) { *os << c.status << " -> " << c.http; }

class HttpStatusForTest : public testing::TestWithParam<HttpCase> {};

TEST_P(HttpStatusForTest, Maps) {
  EXPECT_EQ(HttpStatusFor(GetParam().status), GetParam().http) << GetParam().status;
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpStatusForTest,
    testing::Values(HttpCase{Status::Ok(), 200}, HttpCase{Invalid("x"), 422},
                    HttpCase{InvalidArgument("x"), 400}, HttpCase{Conflict("x"), 409},
                    HttpCase{AlreadyExists("x"), 409}, HttpCase{Expired("x"), 410},
                    HttpCase{Unauthenticated("x"), 401}, HttpCase{PermissionDenied("x"), 403},
                    HttpCase{NotFound("x"), 404}, HttpCase{ResourceExhausted("x"), 429},
                    HttpCase{TooLarge("x"), 413},
                    HttpCase{Status(Code::kResourceExhausted, "x", "TooLarge"), 413},
                    HttpCase{Internal("x"), 500}, HttpCase{Status(Code::kUnknown, "x"), 500},
                    HttpCase{Status(Code::kDataLoss, "x"), 500}, HttpCase{Unimplemented("x"), 501},
                    HttpCase{Unavailable("x"), 503}, HttpCase{DeadlineExceeded("x"), 504},
                    HttpCase{Cancelled("x"), 499}, HttpCase{FailedPrecondition("x"), 400},
                    HttpCase{Status(Code::kAborted, "x"), 409},
                    HttpCase{Status(Code::kOutOfRange, "x"), 400},
                    HttpCase{Status(static_cast<Code>(77), "x"), 500}));

// --- Result and the propagation macros ---

Result<int> ParsePositive(int v) {
  if (v <= 0) return InvalidArgument("not positive: " + std::to_string(v));
  return v;
}

Result<int> Doubled(int v) {
  SKIFF_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return x * 2;
}

Result<int> SumOfDoubled(int a, int b) {
  // Two uses in one function need distinct temporaries (__LINE__).
  SKIFF_ASSIGN_OR_RETURN(int x, Doubled(a));
  SKIFF_ASSIGN_OR_RETURN(int y, Doubled(b));
  return x + y;
}

Status CheckBoth(int a, int b, int* calls) {
  ++*calls;
  SKIFF_RETURN_IF_ERROR(ParsePositive(a));
  ++*calls;
  SKIFF_RETURN_IF_ERROR(ParsePositive(b).has_value() ? Status::Ok() : NotFound("b"));
  ++*calls;
  return Status::Ok();
}

Result<std::unique_ptr<int>> MakeBox(int v) {
  if (v < 0) return Internal("negative");
  return std::make_unique<int>(v);
}

Result<int> Unbox(int v) {
  std::unique_ptr<int> box;
  SKIFF_ASSIGN_OR_RETURN(box, MakeBox(v));  // assigns to an existing move-only variable
  return *box;
}

TEST(ResultTest, ValueAndError) {
  Result<int> ok = ParsePositive(3);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 3);
  EXPECT_EQ(ok.value(), 3);
  EXPECT_TRUE(ToStatus(ok).ok());

  Result<int> bad = ParsePositive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "not positive: -1");
  EXPECT_EQ(ToStatus(bad), bad.error());
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Doubled(4), 8);
  EXPECT_EQ(*SumOfDoubled(1, 2), 6);
  Result<int> r = SumOfDoubled(1, -5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), InvalidArgument("not positive: -5"));
  r = SumOfDoubled(-7, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "not positive: -7");
}

TEST(ResultTest, AssignOrReturnMovesMoveOnlyValues) {
  EXPECT_EQ(*Unbox(9), 9);
  Result<int> r = Unbox(-1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Internal("negative"));
}

TEST(ResultTest, ReturnIfErrorStopsAtFirstError) {
  int calls = 0;
  EXPECT_TRUE(CheckBoth(1, 2, &calls).ok());
  EXPECT_EQ(calls, 3);
  calls = 0;
  Status s = CheckBoth(0, 2, &calls);
  EXPECT_EQ(s, InvalidArgument("not positive: 0"));
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_EQ(CheckBoth(1, 0, &calls), NotFound("b"));
  EXPECT_EQ(calls, 2);
}

TEST(ResultTest, ReturnIfErrorAcceptsVoidResult) {
  auto f = [](bool fail) -> Status {
    auto step = [&]() -> Result<void> {
      if (fail) return Unavailable("down");
      return {};
    };
    SKIFF_RETURN_IF_ERROR(step());
    return Status::Ok();
  };
  EXPECT_TRUE(f(false).ok());
  EXPECT_EQ(f(true), Unavailable("down"));
}

TEST(ResultDeathTest, ValueOnErrorAborts) {
  Result<int> bad = ParsePositive(0);
  EXPECT_DEATH((void)bad.value(), "Result::value\\(\\) on error INVALID_ARGUMENT");
}

TEST(ResultDeathTest, CheckAborts) {
  EXPECT_DEATH(SKIFF_CHECK(1 + 1 == 3), "check failed: 1 \\+ 1 == 3");
}

}  // namespace
}  // namespace skiff
