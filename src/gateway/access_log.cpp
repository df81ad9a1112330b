#include "gateway/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/clock.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"

namespace skiff::gateway {

namespace {

constexpr std::array<std::string_view, 12> kSecretParams = {
    "code",     "state",         "token",         "access_token", "id_token", "refresh_token",
    "password", "client_secret", "code_verifier", "assertion",    "secret",   "api_key"};

bool IsSecretParam(std::string_view name) {
  for (auto s : kSecretParams) {
    if (name.size() == s.size() && http::EqualsIgnoreCase(name, s)) return true;
  }
  return false;
}

// Quoted-field text: quotes, backslashes and control characters escaped so that a line is
// always one line and fields always split the same way.
void AppendQuoted(std::string& out, std::string_view v) {
  out += '"';
  if (v.empty()) out += '-';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// The first X-Forwarded-For hop is not known here (the gateway's proxy adds it); the client is
// the connection's peer address without the port.
std::string PeerHost(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    size_t end = remote.find(']');
    return std::string(remote.substr(1, end == std::string_view::npos ? end : end - 1));
  }
  size_t colon = remote.rfind(':');
  return std::string(colon == std::string_view::npos ? remote : remote.substr(0, colon));
}

std::string FormatStart(std::chrono::system_clock::time_point t) { return FormatRfc3339(t, true); }

}  // namespace

std::string RedactTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    auto decoded = http::PercentDecode(name, true);
    if (eq != std::string_view::npos && IsSecretParam(decoded ? *decoded : name)) {
      out += name;
      out += "=REDACTED";
    } else {
      out += pair;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string FormatAccessRecord(const http::AccessRecord& r, AccessLogFormat format) {
  std::string flags = r.flags;
  if (!r.notes.flags.empty()) flags += (flags.empty() ? "" : ",") + r.notes.flags;
  std::string target = RedactTarget(r.target);
  std::string protocol = r.version == 10 ? "HTTP/1.0" : "HTTP/1.1";
  int64_t duration_ms = r.duration.count() / 1000;
  std::string peer = PeerHost(r.remote_addr);
  if (format == AccessLogFormat::kJson) {
    json::object o{{"start_time", FormatStart(r.start)},
                   {"method", r.method},
                   {"path", target},
                   {"protocol", protocol},
                   {"response_code", r.status},
                   {"response_flags", flags.empty() ? "-" : flags},
                   {"bytes_received", r.bytes_received},
                   {"bytes_sent", r.bytes_sent},
                   {"duration_ms", duration_ms},
                   {"downstream_remote_address", r.remote_addr},
                   {"user_agent", r.user_agent},
                   {"request_id", r.notes.request_id},
                   {"authority", r.host},
                   {"upstream_host", r.notes.upstream},
                   {"route_name", r.notes.route_name.empty() ? r.route : r.notes.route_name},
                   {"user", r.notes.user}};
    return Serialize(o);
  }
  std::string line;
  line.reserve(256 + target.size());
  line += '[';
  line += FormatStart(r.start);
  line += "] ";
  AppendQuoted(line, r.method + " " + target + " " + protocol);
  line += ' ';
  line += std::to_string(r.status);
  line += ' ';
  line += flags.empty() ? "-" : flags;
  line += ' ';
  line += std::to_string(r.bytes_received);
  line += ' ';
  line += std::to_string(r.bytes_sent);
  line += ' ';
  line += std::to_string(duration_ms);
  for (std::string_view field :
       {std::string_view(peer), std::string_view(r.user_agent),
        std::string_view(r.notes.request_id), std::string_view(r.host),
        std::string_view(r.notes.upstream),
        std::string_view(r.notes.route_name.empty() ? r.route : r.notes.route_name),
        std::string_view(r.notes.user)}) {
    line += ' ';
    AppendQuoted(line, field);
  }
  return line;
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& destination,
                                                   AccessLogFormat format,
                                                   size_t max_queued_lines) {
  int fd;
  bool owns = false;
  if (destination == "stdout") {
    fd = STDOUT_FILENO;
  } else if (destination == "stderr") {
    fd = STDERR_FILENO;
  } else {
    fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return ErrnoStatus("cannot open the access log", destination, errno);
    owns = true;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(fd, owns, format, max_queued_lines));
}

AccessLog::AccessLog(int fd, bool owns_fd, AccessLogFormat format, size_t max_queued)
    : fd_(fd), owns_fd_(owns_fd), format_(format), max_queued_(max_queued) {
  thread_ = std::thread([this] { Run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (owns_fd_) ::close(fd_);
}

void AccessLog::Write(const http::AccessRecord& record) {
  std::string line = FormatAccessRecord(record, format_);
  line += '\n';
  {
    std::lock_guard lock(mu_);
    if (pending_lines_ >= max_queued_) {
      ++dropped_;
      return;
    }
    pending_ += line;
    ++pending_lines_;
    ++queued_total_;
  }
  cv_.notify_one();
}

void AccessLog::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = queued_total_;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_total_ >= target || stopping_; });
}

uint64_t AccessLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void AccessLog::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty() && stopping_) break;
    std::string batch;
    batch.swap(pending_);
    size_t lines = pending_lines_;
    pending_lines_ = 0;
    lock.unlock();
    std::string_view rest = batch;
    while (!rest.empty()) {
      ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a full disk or closed pipe: the lines are lost, not the server
      rest.remove_prefix(static_cast<size_t>(n));
    }
    lock.lock();
    written_total_ += lines;
    flushed_cv_.notify_all();
  }
  flushed_cv_.notify_all();
}

}  // namespace skiff::gateway
