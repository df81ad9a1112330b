#pragma once
// Status: the value every expected failure is. Codes are numbered and meant as gRPC/Abseil
// codes; `reason` optionally refines a code for protocols that need more than the code (the
// Kubernetes API's "Invalid" vs "BadRequest", "Expired" vs "Gone"). Thread-compatible value type.

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace skiff {

enum class Code : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,  // optimistic-concurrency conflict (HTTP 409 Conflict)
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, std::string reason = {})
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Optional refinement of the code, e.g. "Invalid" for a field validation error.
  const std::string& reason() const { return reason_; }

  // Returns a copy whose message is `prefix + ": " + message()`.
  Status WithPrefix(std::string_view prefix) const;
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.reason_ == b.reason_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string reason_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

inline Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
// A well-formed request whose content breaks a rule (Kubernetes "Invalid", HTTP 422).
inline Status Invalid(std::string msg) {
  return {Code::kInvalidArgument, std::move(msg), "Invalid"};
}
inline Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
inline Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
inline Status Conflict(std::string msg) { return {Code::kAborted, std::move(msg), "Conflict"}; }
inline Status PermissionDenied(std::string msg) {
  return {Code::kPermissionDenied, std::move(msg)};
}
inline Status Unauthenticated(std::string msg) {
  return {Code::kUnauthenticated, std::move(msg)};
}
inline Status ResourceExhausted(std::string msg) {
  return {Code::kResourceExhausted, std::move(msg)};
}
// A request or body over a size limit (HTTP 413).
inline Status TooLarge(std::string msg) {
  return {Code::kResourceExhausted, std::move(msg), "TooLarge"};
}
inline Status FailedPrecondition(std::string msg) {
  return {Code::kFailedPrecondition, std::move(msg)};
}
// A watch or list continuation that asks for history that is no longer kept (HTTP 410).
inline Status Expired(std::string msg) { return {Code::kOutOfRange, std::move(msg), "Expired"}; }
inline Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
inline Status DeadlineExceeded(std::string msg) {
  return {Code::kDeadlineExceeded, std::move(msg)};
}
inline Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
inline Status Unimplemented(std::string msg) { return {Code::kUnimplemented, std::move(msg)}; }
inline Status Cancelled(std::string msg) { return {Code::kCancelled, std::move(msg)}; }

// The one mapping from a Status to an HTTP status code, used by every protocol front end.
int HttpStatusFor(const Status& s);

}  // namespace skiff
