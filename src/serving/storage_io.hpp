#pragma once
// File and download plumbing for model storage (serving/storage.hpp): streaming an HTTP response
// body to a file while hashing it and enforcing a size limit, hashing files already on disk,
// and the small durable-rename helpers the cache needs. Blocking; thread-safe (no shared state).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "http/client.hpp"

namespace skiff::serving::storage_io {

struct Digest {
  uint64_t size = 0;
  std::string sha256_hex;
};

struct DownloadOutcome {
  int status = 0;          // the final HTTP status (after redirects)
  std::string final_url;   // where the body came from
  Digest digest;           // of the body written (2xx only)
  std::string error_body;  // for a non-2xx answer: the first 64 KiB of its body
};

// The Status reason of StreamToFile's "body over max_bytes" error (ResourceExhausted is also
// what a full disk gives).
inline constexpr std::string_view kOverLimit = "OverLimit";

// Sends `request` and streams a 2xx response body into a new file at `path` (created exclusively
// with mode 0600 and fsynced; its directory must exist). For any other status the file is
// removed and `error_body` holds the start of the body. Redirects (301/302/303/307/308) are
// followed up to `max_redirects` times (never from https to http; a 303 becomes a GET), re-asking
// the server for the Location header with a small non-streaming request. `request.timeout` bounds
// connecting and each wait for more data; `deadline` bounds the whole transfer.
// Errors: ResourceExhausted when the body exceeds `max_bytes` (or the disk is full),
// DeadlineExceeded, Unavailable (network, TLS verification, bad redirect), Internal (file I/O).
// On error no file is left at `path`.
Result<DownloadOutcome> StreamToFile(http::ClientRequest request, const std::string& path,
                                     uint64_t max_bytes,
                                     std::chrono::steady_clock::time_point deadline,
                                     int max_redirects);

// SHA-256 and size of a regular file (symbolic links are not followed). Errors: NotFound,
// FailedPrecondition (not a regular file), Internal.
Result<Digest> HashFile(const std::string& path);

// rename(2) followed by an fsync of the destination's directory.
Status RenameDurably(const std::string& from, const std::string& to);
// fsync of a directory, so that renames and creations in it survive a crash.
Status SyncDirectory(const std::string& dir);
// Removes a file or a directory tree; a missing path is fine. Never follows symbolic links.
void RemoveAll(const std::string& path);
// A name for a private temporary entry: ".tmp-" + random hex.
std::string TempName();

}  // namespace skiff::serving::storage_io
