#pragma once
// File helpers: bounded reads, atomic durable writes with explicit modes (secrets are 0600),
// and directories created with a mode. Blocking: call from the blocking pool or start-up.

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff {

// Errors: NotFound for a missing file, PermissionDenied, InvalidArgument when the file is
// larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);
// Writes to a temporary file in the same directory with `mode`, fsyncs, renames over `path`
// and fsyncs the directory: readers see the old or the new content, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode);
// Creates `path` with exactly `mode` (whatever the umask) if missing; missing parents get 0755.
// An existing directory keeps its mode; an existing non-directory is FailedPrecondition.
Status EnsureDirectory(const std::string& path, unsigned mode);
bool FileExists(const std::string& path);

// A Status for a failed system call on `path`: "<what> <path>: <strerror>", with the code that
// fits errno (ENOENT -> NotFound, EACCES/EPERM/EROFS -> PermissionDenied, EEXIST ->
// AlreadyExists, ENOSPC/EDQUOT -> ResourceExhausted, ENOTDIR/EISDIR -> FailedPrecondition,
// else Internal).
Status ErrnoStatus(std::string_view what, const std::string& path, int error_number);

// A file descriptor closed on scope exit unless closed earlier with Close().
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  // Closes now and returns close()'s result (it can report a deferred write error, e.g. NFS).
  int Close();

 private:
  int fd_;
};

}  // namespace skiff
