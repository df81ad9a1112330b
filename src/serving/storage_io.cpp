#include "serving/storage_io.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/crypto.hpp"
#include "core/fs.hpp"

namespace skiff::serving::storage_io {

namespace {

constexpr size_t kErrorBodyBytes = 64 * 1024;

Status Errno(std::string_view what, const std::string& path, int e) {
  return ErrnoStatus(what, path, e);
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx NewSha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  SKIFF_CHECK(ctx != nullptr);
  SKIFF_CHECK(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  return ctx;
}

std::string FinishHex(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  SKIFF_CHECK(EVP_DigestFinal_ex(ctx, md, &len) == 1);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Asks again for the redirect's Location (the streaming client does not return headers) and
// resolves it against the current URL.
Result<std::string> RedirectTarget(const http::ClientRequest& request) {
  http::ClientRequest probe = request;
  probe.max_response_bytes = 1024 * 1024;
  SKIFF_ASSIGN_OR_RETURN(http::ClientResponse resp, http::Fetch(probe));
  if (!IsRedirect(resp.status)) {
    return Unavailable("downloading " + request.url + ": the server redirected, then answered " +
                       std::to_string(resp.status) + " when asked again");
  }
  auto location = resp.headers.Get("Location");
  if (!location || location->empty()) {
    return Unavailable("downloading " + request.url + ": HTTP " + std::to_string(resp.status) +
                       " redirect without a Location header");
  }
  auto base = boost::urls::parse_absolute_uri(request.url);
  auto ref = boost::urls::parse_uri_reference(*location);
  if (!base || !ref) {
    return Unavailable("downloading " + request.url + ": bad redirect Location \"" +
                       std::string(*location) + "\"");
  }
  boost::urls::url dest;
  auto resolved = boost::urls::resolve(*base, *ref, dest);
  if (!resolved) {
    return Unavailable("downloading " + request.url + ": cannot resolve redirect Location \"" +
                       std::string(*location) + "\"");
  }
  std::string target(dest.buffer());
  if (request.url.rfind("https://", 0) == 0 && target.rfind("https://", 0) != 0) {
    return Unavailable("downloading " + request.url + ": refusing a redirect from https to \"" +
                       target + "\"");
  }
  return target;
}

}  // namespace

Result<DownloadOutcome> StreamToFile(http::ClientRequest request, const std::string& path,
                                     uint64_t max_bytes,
                                     std::chrono::steady_clock::time_point deadline,
                                     int max_redirects) {
  const auto io_timeout = request.timeout;
  for (int hop = 0;; ++hop) {
    const std::string what = "downloading " + request.url;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DeadlineExceeded(what + ": timed out");
    request.timeout = std::min(io_timeout, left);

    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return Errno("creating", path, errno);
    bool keep = false;
    struct Unlinker {
      const std::string& p;
      bool& keep;
      ~Unlinker() {
        if (!keep) ::unlink(p.c_str());
      }
    } unlinker{path, keep};

    MdCtx md = NewSha256();
    uint64_t written = 0;
    std::string head;
    Status stop;
    auto on_chunk = [&](std::string_view chunk) {
      if (std::chrono::steady_clock::now() > deadline) {
        stop = DeadlineExceeded(what + ": timed out after " + std::to_string(written) + " bytes");
        return false;
      }
      if (written + chunk.size() > max_bytes) {
        stop = Status(Code::kResourceExhausted,
                      what + ": the download exceeds the model size limit of " +
                          std::to_string(max_bytes) +
                          " bytes (raise the storage max_download_bytes setting if the model "
                          "really is that large)",
                      std::string(kOverLimit));
        return false;
      }
      if (!WriteAll(fd.get(), chunk)) {
        stop = Errno("writing", path, errno);
        return false;
      }
      SKIFF_CHECK(EVP_DigestUpdate(md.get(), chunk.data(), chunk.size()) == 1);
      if (head.size() < kErrorBodyBytes) {
        head.append(chunk.substr(0, kErrorBodyBytes - head.size()));
      }
      written += chunk.size();
      return true;
    };
    auto status = http::FetchStream(request, on_chunk);
    if (!stop.ok()) return stop;
    if (!status) return status.error().WithPrefix("downloading");

    if (IsRedirect(*status) && hop < max_redirects) {
      SKIFF_ASSIGN_OR_RETURN(std::string target, RedirectTarget(request));
      if (*status == 303) {
        request.method = "GET";
        request.body.clear();
      }
      request.url = std::move(target);
      continue;  // the Unlinker removes this attempt's file
    }

    DownloadOutcome out;
    out.status = *status;
    out.final_url = request.url;
    if (*status / 100 != 2) {
      out.error_body = std::move(head);
      return out;
    }
    if (::fsync(fd.get()) != 0) return Errno("syncing", path, errno);
    if (fd.Close() != 0) return Errno("closing", path, errno);
    out.digest.size = written;
    out.digest.sha256_hex = FinishHex(md.get());
    keep = true;
    return out;
  }
}

Result<Digest> HashFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ELOOP) return FailedPrecondition(path + " is a symbolic link");
    return Errno("opening", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno("inspecting", path, errno);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(path + " is not a regular file");
  MdCtx md = NewSha256();
  std::vector<char> buf(1 << 20);
  Digest d;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("reading", path, errno);
    }
    if (n == 0) break;
    SKIFF_CHECK(EVP_DigestUpdate(md.get(), buf.data(), static_cast<size_t>(n)) == 1);
    d.size += static_cast<uint64_t>(n);
  }
  d.sha256_hex = FinishHex(md.get());
  return d;
}

Status SyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("opening", dir, errno);
  if (::fsync(fd.get()) != 0) return Errno("syncing", dir, errno);
  return Status::Ok();
}

Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("renaming " + from + " to", to, errno);
  return SyncDirectory(std::filesystem::path(to).parent_path().string());
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string TempName() { return ".tmp-" + HexEncode(RandomBytes(8)); }

}  // namespace skiff::serving::storage_io
