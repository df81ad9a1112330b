#include "core/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/crypto.hpp"

namespace skiff {

Status ErrnoStatus(std::string_view what, const std::string& path, int e) {
  Code code;
  switch (e) {
    case ENOENT:
      code = Code::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = Code::kPermissionDenied;
      break;
    case EEXIST:
      code = Code::kAlreadyExists;
      break;
    case ENOSPC:
    case EDQUOT:
      code = Code::kResourceExhausted;
      break;
    case ENOTDIR:
    case EISDIR:
      code = Code::kFailedPrecondition;
      break;
    default:
      code = Code::kInternal;
  }
  return Status(code, std::string(what) + " " + path + ": " + std::strerror(e));
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::Close() {
  int rc = ::close(fd_);
  fd_ = -1;
  return rc;
}

namespace {

Status Errno(std::string_view what, const std::string& path, int e = errno) {
  return ErrnoStatus(what, path, e);
}

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("cannot open", path);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  // Unique per call, so that concurrent writers (threads of this process or other processes)
  // never share a temporary file; O_EXCL makes sure of it.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = dir + "/." + p.filename().string() + ".tmp" + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1)) + "." + HexEncode(RandomBytes(4));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777));
  if (fd.get() < 0) return Errno("cannot create", tmp);
  auto fail = [&](std::string_view what) {
    Status s = Errno(what, tmp);
    ::unlink(tmp.c_str());
    return s;
  };
  // The umask may have narrowed the mode; secrets must be exactly `mode`.
  if (::fchmod(fd.get(), mode & 07777) != 0) return fail("cannot chmod");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (fd.Close() != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return s;
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return Status::Ok();
}

Status EnsureDirectory(const std::string& path, unsigned mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return FailedPrecondition("cannot create directory " + path + ": a file of that name exists");
  }
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.has_relative_path() && !p.has_filename()) p = p.parent_path();  // "a/b/" -> "a/b"
  if (p.has_parent_path() && p.parent_path() != p && !p.parent_path().empty()) {
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(p.parent_path().string(), 0755));
  }
  if (::mkdir(p.c_str(), mode & 07777) != 0) {
    const int e = errno;
    // Lost a race with another creator: an existing directory keeps its mode.
    if (e == EEXIST && ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
    return Errno("cannot create directory", path, e);
  }
  // mkdir's mode is narrowed by the umask; the caller asked for exactly `mode`.
  if (::chmod(p.c_str(), mode & 07777) != 0) return Errno("cannot chmod", path);
  return Status::Ok();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace skiff
