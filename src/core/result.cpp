#include "core/result.hpp"

#include <cstdio>
#include <cstdlib>

namespace skiff {

void throw_exception_from_error(const Status& s, const boost::source_location& loc) {
  std::fprintf(stderr, "skiff: Result::value() on error %s at %s:%u\n", s.ToString().c_str(),
               loc.file_name(), static_cast<unsigned>(loc.line()));
  std::abort();
}

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "skiff: check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace skiff
