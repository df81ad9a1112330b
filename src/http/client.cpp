#include "http/client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "http/client_internal.hpp"

namespace skiff::http {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using net::ip::tcp;
using std::chrono::steady_clock;

constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;

auto Nothrow(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

struct Target {
  bool https = false;
  std::string host;         // for DNS, SNI and certificate checks (IPv6 without brackets)
  std::string port;         // numeric
  std::string target;       // origin-form request-target
  std::string host_header;  // "host[:port]" as in the URL
};

Result<Target> ParseTarget(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return InvalidArgument("invalid URL \"" + url + "\": " + parsed.error().message());
  const boost::urls::url_view& u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.https = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return InvalidArgument("unsupported URL scheme in \"" + url + "\" (want http or https)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return InvalidArgument("URL \"" + url + "\" has no host");
  }
  t.host = u.host_address();
  if (u.has_port()) {
    if (u.port_number() == 0) return InvalidArgument("URL \"" + url + "\" has an invalid port");
    t.port = std::to_string(u.port_number());
  } else {
    t.port = t.https ? "443" : "80";
  }
  t.target = std::string(u.encoded_target());
  if (t.target.empty() || t.target.front() != '/') t.target.insert(0, "/");
  t.host_header = std::string(u.encoded_host_and_port());
  return t;
}

// TLS client contexts, one per (ca_file and its version, insecure) key, shared by every exchange:
// loading the system trust store costs milliseconds. An SSL_CTX is safe to share once configured.
// The CA file's modification time and size are part of the key, so a rotated file is reloaded.
Result<std::shared_ptr<ssl::context>> TlsContext(const std::string& ca_file, bool insecure) {
  std::string key = (insecure ? "1|" : "0|") + ca_file;
  if (!ca_file.empty()) {
    std::error_code fs_ec;
    auto mtime = std::filesystem::last_write_time(ca_file, fs_ec);
    auto size = std::filesystem::file_size(ca_file, fs_ec);
    if (fs_ec) return InvalidArgument("cannot read CA file " + ca_file + ": " + fs_ec.message());
    key += "|" + std::to_string(mtime.time_since_epoch().count()) + "|" + std::to_string(size);
  }
  static std::mutex mu;  // guards cache
  static std::map<std::string, std::shared_ptr<ssl::context>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  error_code ec;
  ctx->set_default_verify_paths(ec);
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
    if (ec) return InvalidArgument("cannot load CA file " + ca_file + ": " + ec.message());
  }
  ctx->set_verify_mode(insecure ? ssl::verify_none : ssl::verify_peer);
  if (cache.size() >= 64) cache.clear();  // bounded: old versions of rotated files
  cache.emplace(key, ctx);
  return ctx;
}

using ChunkFn = std::function<bool(std::string_view)>;

// One exchange. Kept alive by its coroutine and its timer's handler; everything runs on the
// thread of the io_context it was created on. The time-out is a lazily re-armed deadline (see
// connection.hpp): on expiry it cancels the resolver and closes the socket.
class FetchOp : public std::enable_shared_from_this<FetchOp> {
 public:
  FetchOp(net::io_context& ctx, ClientRequest req, Target target, ChunkFn on_chunk)
      : req_(std::move(req)),
        target_(std::move(target)),
        on_chunk_(std::move(on_chunk)),
        resolver_(ctx),
        timer_(ctx),
        plain_(ctx) {}

  static net::awaitable<Result<ClientResponse>> Run(std::shared_ptr<FetchOp> op) {
    op->deadline_ = steady_clock::now() + op->req_.timeout;
    op->timer_.expires_at(op->deadline_);
    op->Arm();
    Result<ClientResponse> out = co_await op->Exchange();
    op->finished_ = true;
    op->timer_.cancel();
    op->CloseSocket();
    co_return out;
  }

 private:
  void Arm() {
    timer_.async_wait([self = shared_from_this()](error_code) { self->OnTimer(); });
  }
  void OnTimer() {
    if (finished_) return;
    if (steady_clock::now() >= deadline_) {
      timed_out_ = true;
      resolver_.cancel();
      CloseSocket();
      return;
    }
    timer_.expires_at(deadline_);
    Arm();
  }
  void Extend() { deadline_ = steady_clock::now() + req_.timeout; }
  void CloseSocket() {
    error_code ec;
    if (tls_) {
      tls_->next_layer().close(ec);
    } else {
      plain_.close(ec);
    }
  }
  Status Failure(const error_code& ec, std::string_view during) const {
    if (timed_out_) {
      return DeadlineExceeded("timed out " + std::string(during) + " " + req_.url);
    }
    if (ec == bhttp::error::body_limit) {
      return ResourceExhausted("response from " + req_.url + " exceeds " +
                               std::to_string(req_.max_response_bytes) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      return ResourceExhausted("response header from " + req_.url + " is too large");
    }
    return Unavailable(std::string(during) + " " + req_.url + ": " + ec.message());
  }

  net::awaitable<Result<ClientResponse>> Exchange() {
    error_code ec;
    // An IP literal needs no resolver (whose first use starts a thread per io_context).
    std::vector<tcp::endpoint> endpoints;
    error_code addr_ec;
    auto literal = net::ip::make_address(target_.host, addr_ec);
    if (!addr_ec) {
      endpoints.emplace_back(literal, static_cast<uint16_t>(std::stoi(target_.port)));
    } else {
      auto results = co_await resolver_.async_resolve(target_.host, target_.port, Nothrow(ec));
      if (ec) co_return Failure(ec, "resolving");
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    if (req_.allow_address) {
      std::string refused;
      std::erase_if(endpoints, [&](const tcp::endpoint& e) {
        std::string ip = e.address().to_string();
        if (req_.allow_address(ip)) return false;
        if (refused.find(ip) == std::string::npos) refused += (refused.empty() ? "" : ", ") + ip;
        return true;
      });
      if (endpoints.empty()) {
        std::string what =
            refused == target_.host ? target_.host : target_.host + " (" + refused + ")";
        co_return PermissionDenied("may not connect to " + what +
                                   ": not a public address (loopback, private, link-local or "
                                   "reserved)");
      }
    }
    if (target_.https) {
      SKIFF_CO_ASSIGN_OR_RETURN(auto ctx, TlsContext(req_.ca_file, req_.insecure_skip_verify));
      tls_.emplace(std::move(plain_), *ctx);
      tls_ctx_ = std::move(ctx);
      co_await net::async_connect(tls_->next_layer(), endpoints, Nothrow(ec));
      if (ec) co_return Failure(ec, "connecting to");
      if (addr_ec) {  // SNI carries DNS names only (RFC 6066 section 3)
        SSL_set_tlsext_host_name(tls_->native_handle(), target_.host.c_str());
      }
      if (!req_.insecure_skip_verify) {
        tls_->set_verify_mode(ssl::verify_peer);
        tls_->set_verify_callback(ssl::host_name_verification(target_.host));
      }
      co_await tls_->async_handshake(ssl::stream_base::client, Nothrow(ec));
      if (ec) co_return Failure(ec, "TLS handshake with");
      co_return co_await Talk(*tls_);
    }
    co_await net::async_connect(plain_, endpoints, Nothrow(ec));
    if (ec) co_return Failure(ec, "connecting to");
    co_return co_await Talk(plain_);
  }

  std::string RequestHead() const {
    std::string h = req_.method + " " + target_.target + " HTTP/1.1\r\n";
    if (!req_.headers.Has("Host")) h += "Host: " + target_.host_header + "\r\n";
    if (!req_.headers.Has("User-Agent")) h += "User-Agent: skiff\r\n";
    for (const auto& [name, value] : req_.headers) {
      if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Connection") ||
          EqualsIgnoreCase(name, "Transfer-Encoding")) {
        continue;
      }
      if (name.find_first_of("\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        continue;
      }
      h.append(name).append(": ").append(value).append("\r\n");
    }
    const std::string& m = req_.method;
    if (!req_.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
      h += "Content-Length: " + std::to_string(req_.body.size()) + "\r\n";
    }
    h += "Connection: close\r\n\r\n";
    return h;
  }

  template <class Stream>
  net::awaitable<Result<ClientResponse>> Talk(Stream& s) {
    error_code ec;
    std::string head = RequestHead();
    std::array<net::const_buffer, 2> bufs = {net::buffer(head), net::buffer(req_.body)};
    co_await net::async_write(s, bufs, Nothrow(ec));
    if (ec) co_return Failure(ec, "sending request to");

    boost::beast::flat_buffer buf;
    ClientResponse out;
    if (!on_chunk_) {
      bhttp::response_parser<bhttp::string_body> p;
      p.header_limit(kMaxResponseHeaderBytes);
      p.body_limit(req_.max_response_bytes);
      if (req_.method == "HEAD") p.skip(true);
      co_await bhttp::async_read(s, buf, p, Nothrow(ec));
      if (ec) co_return Failure(ec, "reading response from");
      out.status = static_cast<int>(p.get().result_int());
      for (const auto& f : p.get()) {
        out.headers.Add({f.name_string().data(), f.name_string().size()},
                        {f.value().data(), f.value().size()});
      }
      out.body = std::move(p.get().body());
      co_return out;
    }

    bhttp::response_parser<bhttp::buffer_body> p;
    p.header_limit(kMaxResponseHeaderBytes);
    p.body_limit(boost::none);  // a stream (watch) has no total size
    if (req_.method == "HEAD") p.skip(true);
    co_await bhttp::async_read_header(s, buf, p, Nothrow(ec));
    if (ec) co_return Failure(ec, "reading response from");
    out.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get()) {
      out.headers.Add({f.name_string().data(), f.name_string().size()},
                      {f.value().data(), f.value().size()});
    }
    std::vector<char> piece(16 * 1024);
    while (!p.is_done()) {
      p.get().body().data = piece.data();
      p.get().body().size = piece.size();
      Extend();  // for a stream, the time-out bounds each wait for more body
      co_await bhttp::async_read_some(s, buf, p, Nothrow(ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) co_return Failure(ec, "reading response from");
      size_t n = piece.size() - p.get().body().size;
      if (n > 0 && !on_chunk_(std::string_view(piece.data(), n))) break;
    }
    co_return out;
  }

  ClientRequest req_;
  Target target_;
  ChunkFn on_chunk_;
  tcp::resolver resolver_;
  net::steady_timer timer_;
  steady_clock::time_point deadline_;
  bool timed_out_ = false;
  bool finished_ = false;
  tcp::socket plain_;
  std::shared_ptr<ssl::context> tls_ctx_;  // outlives tls_
  std::optional<ssl::stream<tcp::socket>> tls_;
};

void StartOp(net::io_context& ctx, ClientRequest request, ChunkFn on_chunk,
             std::function<void(Result<ClientResponse>)> done) {
  auto target = ParseTarget(request.url);
  if (!target) {
    net::post(ctx, [done = std::move(done), err = target.error()]() { done(err); });
    return;
  }
  auto op =
      std::make_shared<FetchOp>(ctx, std::move(request), std::move(*target), std::move(on_chunk));
  net::co_spawn(ctx, FetchOp::Run(std::move(op)),
                [done = std::move(done)](std::exception_ptr e, Result<ClientResponse> r) {
                  if (e) {
                    done(Internal("HTTP client exchange failed with an exception"));
                  } else {
                    done(std::move(r));
                  }
                });
}

}  // namespace

namespace internal {

void StartFetch(net::io_context& ctx, ClientRequest request,
                std::function<void(Result<ClientResponse>)> done) {
  StartOp(ctx, std::move(request), nullptr, std::move(done));
}

}  // namespace internal

namespace {

bool IsPublicV4(const net::ip::address_v4& a) {
  const uint32_t v = a.to_uint();
  auto in = [v](uint32_t net, int bits) { return (v >> (32 - bits)) == (net >> (32 - bits)); };
  return !(in(0x00000000, 8) ||   // 0/8: this network, unspecified
           in(0x0A000000, 8) ||   // 10/8: private
           in(0x64400000, 10) ||  // 100.64/10: shared (carrier-grade NAT)
           in(0x7F000000, 8) ||   // 127/8: loopback
           in(0xA9FE0000, 16) ||  // 169.254/16: link-local, cloud metadata
           in(0xAC100000, 12) ||  // 172.16/12: private
           in(0xC0000000, 24) ||  // 192.0.0/24: protocol assignments
           in(0xC0000200, 24) ||  // 192.0.2/24: documentation
           in(0xC0A80000, 16) ||  // 192.168/16: private
           in(0xC6120000, 15) ||  // 198.18/15: benchmarking
           in(0xC6336400, 24) ||  // 198.51.100/24: documentation
           in(0xCB007100, 24) ||  // 203.0.113/24: documentation
           in(0xE0000000, 4) ||   // 224/4: multicast
           in(0xF0000000, 4));    // 240/4: reserved, broadcast
}

}  // namespace

bool IsPublicAddress(std::string_view ip) {
  error_code ec;
  net::ip::address a = net::ip::make_address(std::string(ip), ec);
  if (ec) return false;
  if (a.is_v4()) return IsPublicV4(a.to_v4());
  const net::ip::address_v6 v6 = a.to_v6();
  if (v6.is_v4_mapped()) return IsPublicV4(net::ip::make_address_v4(net::ip::v4_mapped, v6));
  const auto b = v6.to_bytes();
  if (v6.is_unspecified() || v6.is_loopback() || v6.is_multicast()) return false;
  if ((b[0] & 0xFE) == 0xFC) return false;                  // fc00::/7: unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return false;  // fe80::/10: link-local
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8) return false;  // 2001:db8::/32
  bool v4_compatible = true;  // ::a.b.c.d (deprecated) and the NAT64 prefix 64:ff9b::/96 embed v4
  for (int i = 0; i < 12; ++i) v4_compatible = v4_compatible && b[i] == 0;
  bool nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B;
  for (int i = 4; i < 12 && nat64; ++i) nat64 = b[i] == 0;
  if (v4_compatible || nat64) {
    return IsPublicV4(
        net::ip::address_v4(net::ip::address_v4::bytes_type{b[12], b[13], b[14], b[15]}));
  }
  return true;
}

Result<ClientResponse> Fetch(const ClientRequest& request) {
  net::io_context ctx(1);
  Result<ClientResponse> out = Internal("HTTP client exchange did not complete");
  StartOp(ctx, request, nullptr, [&out](Result<ClientResponse> r) { out = std::move(r); });
  ctx.run();
  return out;
}

Result<int> FetchStream(const ClientRequest& request,
                        const std::function<bool(std::string_view chunk)>& on_chunk) {
  net::io_context ctx(1);
  Result<ClientResponse> out = Internal("HTTP client exchange did not complete");
  StartOp(
      ctx, request, [&on_chunk](std::string_view c) { return on_chunk(c); },
      [&out](Result<ClientResponse> r) { out = std::move(r); });
  ctx.run();
  if (!out) return out.error();
  return out->status;
}

}  // namespace skiff::http
