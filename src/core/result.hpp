#pragma once
// Result<T>: a value or a Status. A thin alias over boost::system::result so that callers get
// value()/error()/operator bool, plus the propagation macros from STYLE.md.

#include <boost/system/result.hpp>

#include "core/status.hpp"

namespace skiff {

template <class T>
using Result = boost::system::result<T, Status>;

// Called by Result<T>::value() on an error (found by ADL). value() on an error is a bug.
[[noreturn]] void throw_exception_from_error(const Status& s, const boost::source_location& loc);

inline Status ToStatus(const Status& s) { return s; }
template <class T>
Status ToStatus(const Result<T>& r) {
  return r ? Status::Ok() : r.error();
}

}  // namespace skiff

#define SKIFF_CONCAT_INNER(a, b) a##b
#define SKIFF_CONCAT(a, b) SKIFF_CONCAT_INNER(a, b)

#define SKIFF_RETURN_IF_ERROR(expr)                             \
  do {                                                          \
    ::skiff::Status skiff_status_ = ::skiff::ToStatus((expr));  \
    if (!skiff_status_.ok()) return skiff_status_;              \
  } while (0)

#define SKIFF_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_ASSIGN_OR_RETURN_IMPL(SKIFF_CONCAT(skiff_result_, __LINE__), lhs, expr)
#define SKIFF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp) return tmp.error();                     \
  lhs = std::move(*tmp)

// Coroutine forms.
#define SKIFF_CO_RETURN_IF_ERROR(expr)                         \
  do {                                                         \
    ::skiff::Status skiff_status_ = ::skiff::ToStatus((expr)); \
    if (!skiff_status_.ok()) co_return skiff_status_;          \
  } while (0)
#define SKIFF_CO_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_CO_ASSIGN_OR_RETURN_IMPL(SKIFF_CONCAT(skiff_result_, __LINE__), lhs, expr)
#define SKIFF_CO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp) co_return tmp.error();                     \
  lhs = std::move(*tmp)

// Bugs, not errors: abort with a message. Never use on user input.
#define SKIFF_CHECK(cond)                                              \
  do {                                                                 \
    if (!(cond)) ::skiff::CheckFailed(#cond, __FILE__, __LINE__);      \
  } while (0)
#ifdef NDEBUG
#define SKIFF_DCHECK(cond) \
  do {                     \
  } while (0)
#else
#define SKIFF_DCHECK(cond) SKIFF_CHECK(cond)
#endif

namespace skiff {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}
