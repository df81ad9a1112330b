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

}  // namespace skiff
