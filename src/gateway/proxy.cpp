#include "gateway/proxy.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/caching_allocator.hpp"
#include "core/log.hpp"
#include "http/router.hpp"

namespace skiff::gateway {

namespace {

using http::EqualsIgnoreCase;
using http::HeaderMap;
using http::UpstreamFailure;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Piece = Result<std::optional<std::string>>;

constexpr std::string_view kVia = "1.1 skiff";
constexpr std::string_view kRequestIdHeader = "x-request-id";

// ASCII only (header names and tokens), without the locale lookup of std::tolower.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Lower-case tokens of every Connection header (RFC 9110 section 7.6.1), but "keep-alive".
std::vector<std::string> ConnectionTokens(const HeaderMap& headers) {
  std::vector<std::string> out;
  for (const auto& [name, value] : headers) {
    if (!EqualsIgnoreCase(name, "Connection")) continue;
    std::string_view v = value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view tok = http::TrimOws(v.substr(0, comma));
      // "keep-alive" names a header that is hop-by-hop anyway: not kept (the usual upstream
      // answer then costs no allocation here).
      if (!tok.empty() && !EqualsIgnoreCase(tok, "keep-alive")) out.push_back(Lower(tok));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool HasToken(const std::vector<std::string>& tokens, std::string_view t) {
  return std::find(tokens.begin(), tokens.end(), t) != tokens.end();
}

// The header names the proxy treats specially, told apart by length first: every header of
// both directions of every request is classified once.
enum class Known {
  kOther,
  kTe,
  kVia,
  kHost,
  kDate,
  kExpect,
  kServer,
  kTrailer,
  kUpgrade,
  kConnection,
  kKeepAlive,
  kXRequestId,
  kAuthorization,
  kContentLength,
  kXForwardedFor,
  kXForwardedHost,
  kTransferEncoding,
  kXForwardedProto,
};

// Whether `name`, whose first letter lower-cased is `first`, is the known name `h` (lower case,
// of the same length). Inlined into Classify's switch (a call per comparison otherwise).
[[gnu::always_inline]] inline bool IsKnownName(std::string_view name, char first,
                                               std::string_view h) {
  return first == h.front() && http::EqualsIgnoreCaseSameSize(name, h);
}

Known Classify(std::string_view name) {
  if (name.empty()) return Known::kOther;
  // The first letter (lower-cased) before a whole comparison: most names share a length with a
  // known one but not their first letter.
  const char first = static_cast<char>(name.front() | 0x20);
  switch (name.size()) {
    case 2:
      if (IsKnownName(name, first, "te")) return Known::kTe;
      break;
    case 3:
      if (IsKnownName(name, first, "via")) return Known::kVia;
      break;
    case 4:
      if (IsKnownName(name, first, "host")) return Known::kHost;
      if (IsKnownName(name, first, "date")) return Known::kDate;
      break;
    case 6:
      if (IsKnownName(name, first, "expect")) return Known::kExpect;
      if (IsKnownName(name, first, "server")) return Known::kServer;
      break;
    case 7:
      if (IsKnownName(name, first, "trailer")) return Known::kTrailer;
      if (IsKnownName(name, first, "upgrade")) return Known::kUpgrade;
      break;
    case 10:
      if (IsKnownName(name, first, "connection")) return Known::kConnection;
      if (IsKnownName(name, first, "keep-alive")) return Known::kKeepAlive;
      break;
    case 12:
      if (IsKnownName(name, first, "x-request-id")) return Known::kXRequestId;
      break;
    case 13:
      if (IsKnownName(name, first, "authorization")) return Known::kAuthorization;
      break;
    case 14:
      if (IsKnownName(name, first, "content-length")) return Known::kContentLength;
      break;
    case 15:
      if (IsKnownName(name, first, "x-forwarded-for")) return Known::kXForwardedFor;
      break;
    case 16:
      if (IsKnownName(name, first, "x-forwarded-host")) return Known::kXForwardedHost;
      break;
    case 17:
      if (IsKnownName(name, first, "transfer-encoding")) return Known::kTransferEncoding;
      if (IsKnownName(name, first, "x-forwarded-proto")) return Known::kXForwardedProto;
      break;
    default:
      break;
  }
  return Known::kOther;
}

// Hop-by-hop: meaningful for one connection only, never forwarded (RFC 9110 section 7.6.1).
// Content-Length goes too: the pool and the server write the framing they actually use.
// Inlined into both directions' header passes (a call per header otherwise).
[[gnu::always_inline]] inline bool IsHopByHop(Known known, std::string_view name,
                                              const std::vector<std::string>& tokens,
                                              bool upgrade) {
  switch (known) {
    case Known::kTe:
    case Known::kTrailer:
    case Known::kConnection:
    case Known::kKeepAlive:
    case Known::kContentLength:
    case Known::kTransferEncoding:
      return true;
    case Known::kUpgrade:
      return !upgrade;  // kept on an upgrade, though Connection names it
    default:
      break;
  }
  if (name.size() >= 6 && (name.front() | 0x20) == 'p' &&
      http::EqualsIgnoreCaseSameSize(name.substr(0, 6), "proxy-")) {
    return true;
  }
  if (tokens.empty()) return false;
  // The tokens are lower-case already: compared without lower-casing each name.
  return std::any_of(tokens.begin(), tokens.end(),
                     [&](const std::string& t) { return EqualsIgnoreCase(name, t); });
}

// `value` appended to a comma-separated list (how repeated headers join).
void AppendListValue(std::string& list, std::string_view value) {
  if (!list.empty()) list += ", ";
  list += value;
}

// "127.0.0.1:5000" -> "127.0.0.1", "[::1]:5000" -> "::1".
std::string ClientIp(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    size_t close = remote.find(']');
    return std::string(remote.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  size_t colon = remote.rfind(':');
  if (colon != std::string_view::npos && remote.find(':') == colon) {
    return std::string(remote.substr(0, colon));
  }
  return std::string(remote);
}

// UpstreamEndpoint::Authority() written over `out` (its storage reused: the notes' string).
void AssignAuthority(const http::UpstreamEndpoint& ep, std::string& out) {
  const bool v6 = ep.host.find(':') != std::string::npos;
  out.clear();
  if (v6) out += '[';
  out += ep.host;
  if (v6) out += ']';
  out += ':';
  char port[8];
  out.append(port, std::to_chars(port, port + sizeof port, ep.port).ptr);
}

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// The response body, pulled by the server connection piece by piece from the upstream.
class UpstreamBodyStream final : public http::BodyStream {
 public:
  UpstreamBodyStream(std::shared_ptr<http::UpstreamBody> body,
                     std::shared_ptr<http::AccessNotes> notes)
      : body_(std::move(body)), notes_(std::move(notes)) {}
  ~UpstreamBodyStream() override { body_->Cancel(); }

  void Pull(std::function<void(std::optional<std::string>)> ready) override {
    PullOrFail([ready = std::move(ready)](Piece p) {
      ready(p ? std::move(*p) : std::optional<std::string>());
    });
  }
  // A failure midway (reset, io_timeout) reaches the connection as an error: it closes without
  // the final chunk, so the client cannot take a cut body for a complete one.
  void PullOrFail(std::function<void(Piece)> ready) override {
    body_->Read([ready = std::move(ready), notes = notes_](Piece p) {
      if (!p && p.error().code() != Code::kCancelled) {
        SPDLOG_WARN("proxy: response body cut short: {}", p.error().message());
        if (notes && notes->flags.empty()) notes->flags = "UC";
      }
      ready(std::move(p));
    });
  }
  void Cancel() override { body_->Cancel(); }

 private:
  std::shared_ptr<http::UpstreamBody> body_;
  std::shared_ptr<http::AccessNotes> notes_;
};

// One forwarded request across its tries.
class Forwarding : public std::enable_shared_from_this<Forwarding> {
 public:
  http::UpstreamPool* pool = nullptr;
  http::UpstreamRequest request;  // the template of every try (its body kept for replays)
  // The host and port of request's endpoint, for messages (a last try moves the request).
  http::UpstreamEndpoint endpoint;
  std::shared_ptr<http::BodySource> source;
  bool head_request = false;  // the client's method is HEAD
  std::vector<HeaderOp> response_ops;
  std::vector<HeaderOp> answer_ops;  // ProxyTarget::answer_headers
  bool echo_request_id = false;
  RetryPolicy policy;
  steady_clock::time_point deadline;
  milliseconds timeout{0};
  std::shared_ptr<http::AccessNotes> notes;
  http::Responder respond;
  int tries = 0;

  // `now`: the clock read when the caller has just taken it (the first try, in Forward).
  void Try(steady_clock::time_point now = steady_clock::now()) {
    if (now >= deadline) {
      return Fail(504, "UpstreamTimeout",
                  "upstream " + endpoint.Authority() + " did not answer within " + Ms(timeout),
                  "UT");
    }
    auto left = std::chrono::ceil<milliseconds>(deadline - now);
    const milliseconds response_timeout =
        policy.per_try_timeout ? std::min(*policy.per_try_timeout, left) : left;
    ++tries;
    auto done = [self = shared_from_this()](Result<http::UpstreamResponse>&& res,
                                            UpstreamFailure f) {
      self->OnResult(std::move(res), f);
    };
    if (policy.retries > 0) {
      http::UpstreamRequest r = request;
      r.body_source = source;
      r.response_timeout = response_timeout;
      pool->Send(std::move(r), std::move(done));
      return;
    }
    // Without retries the template is needed once: it is sent itself, not copied (OnResult
    // never tries again; messages name `endpoint`).
    request.body_source = source;
    request.response_timeout = response_timeout;
    pool->Send(std::move(request), std::move(done));
  }

 private:
  void OnResult(Result<http::UpstreamResponse>&& res, UpstreamFailure f) {
    const bool tries_left = tries <= policy.retries && steady_clock::now() < deadline;
    if (res) {
      if (res->status != 101 && !source && policy.RetryStatus(res->status)) {
        if (tries_left) {
          res->body->Cancel();
          return Try();
        }
        AddFlag("URX");
      }
      return Answer(std::move(*res));
    }
    // The pool reads a streamed body only once connected: failures to connect leave it unread.
    const bool replayable =
        !source || f == UpstreamFailure::kConnectFailure || f == UpstreamFailure::kConnectTimeout;
    const bool retriable = replayable && policy.RetryFailure(f);
    if (retriable && tries_left) return Try();
    const Status& s = res.error();
    std::string retry_flag = retriable && policy.retries > 0 ? ",URX" : "";
    switch (f) {
      case UpstreamFailure::kConnectFailure:
        return Fail(503, "UpstreamUnavailable", s.message(), "UF" + retry_flag);
      case UpstreamFailure::kConnectTimeout:
        return Fail(504, "UpstreamTimeout", s.message(), "UF" + retry_flag);
      case UpstreamFailure::kResponseTimeout:
        if (steady_clock::now() >= deadline) {  // the route's timeout, not a per-try one
          return Fail(504, "UpstreamTimeout",
                      "upstream " + endpoint.Authority() + " did not answer within " + Ms(timeout),
                      "UT" + retry_flag);
        }
        return Fail(504, "UpstreamTimeout", s.message(), "UT" + retry_flag);
      case UpstreamFailure::kReset:
      case UpstreamFailure::kProtocol:
        return Fail(502, "BadGateway", s.message(), "UC" + retry_flag);
      case UpstreamFailure::kRequestBody: {
        // The client's side failed (went away, too slow, too large): answer as the server would.
        Status cs = s;
        int code = HttpStatusFor(cs);
        if (code == 500 || code == 503) code = 400;
        return Fail(code, std::string(CodeName(cs.code())), cs.message(), "DPE");
      }
      case UpstreamFailure::kInvalid:
      case UpstreamFailure::kNone:
        return Fail(502, "BadGateway", s.message(), "UF");
    }
  }

  void AddFlag(std::string_view flag) {
    if (!notes) return;
    if (!notes->flags.empty()) notes->flags += ",";
    notes->flags += flag;
  }

  void Fail(int code, const std::string& error, const std::string& message, std::string flags) {
    if (notes) notes->flags = std::move(flags);
    Finish(http::ErrorResponse(code, error, message), /*may_have_request_id=*/true);
  }

  // ProxyTarget::answer_headers and echo_request_id, then the Responder. Without
  // `may_have_request_id` the answer is known to hold no x-request-id (no search for it).
  void Finish(http::Response&& r, bool may_have_request_id) {
    ApplyHeaderOps(answer_ops, r.headers);
    if (echo_request_id && notes && !notes->request_id.empty() &&
        ((answer_ops.empty() && !may_have_request_id) || !r.headers.Has(kRequestIdHeader))) {
      r.headers.Add(kRequestIdHeader, notes->request_id);
    }
    respond(std::move(r));
  }

  void Answer(http::UpstreamResponse&& up) {
    http::Response out;
    out.status = up.status;
    const bool upgraded = up.status == 101;
    // What is read from the upstream's headers before they are filtered in place and moved.
    auto tokens = ConnectionTokens(up.headers);
    // One pass: the Via list and a HEAD's length are read as the hop-by-hop headers go.
    std::string via;
    bool has_via = false;
    bool has_request_id = false;
    std::optional<uint64_t> head_length;
    bool length_seen = false;
    const bool head = head_request;
    up.headers.RemoveIf([&](std::string_view name, std::string_view value) {
      const Known known = Classify(name);
      if (known == Known::kVia) {
        has_via = true;
        AppendListValue(via, value);
      } else if (known == Known::kXRequestId) {
        has_request_id = true;
      } else if (known == Known::kContentLength && head && !length_seen) {
        length_seen = true;  // the first one, as Get would find
        uint64_t n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc() && end == value.data() + value.size()) head_length = n;
      }
      // The upstream's Server and Date are not passed on (as nginx's proxy_hide_header has it
      // by default): the client gets skiff's, once. A route's response operations may set them.
      if (known == Known::kServer || known == Known::kDate) return true;
      return IsHopByHop(known, name, tokens, upgraded);
    });
    out.headers = std::move(up.headers);
    // Set replaces the upstream's Via where it stands; without one it is an Add (no search).
    if (has_via) {
      AppendListValue(via, kVia);
      out.headers.Set("Via", via);
    } else {
      out.headers.Add("Via", kVia);
    }
    ApplyHeaderOps(response_ops, out.headers);
    if (upgraded) {
      out.headers.Set("Connection", "Upgrade");
      out.upgrade = [tunnel = up.tunnel](std::shared_ptr<http::ByteStream> client) {
        Bridge(std::move(client), tunnel);
      };
    } else if (up.body) {
      const bool no_body = head_request || up.status == 204 || up.status == 304;
      if (no_body) {
        // HEAD: the length a GET's body would have, as the upstream said it.
        if (head_length) out.head_content_length = head_length;
      } else if (up.buffered_body) {
        out.body = std::move(*up.buffered_body);  // the server writes its Content-Length
      } else {
        out.stream = std::make_shared<UpstreamBodyStream>(up.body, notes);
      }
    }
    // The upstream's x-request-id, if it sent one, is kept (and only the route's operations
    // could have added one since).
    Finish(std::move(out), has_request_id || !response_ops.empty());
  }
};

void Pump(std::shared_ptr<http::ByteStream> from, std::shared_ptr<http::ByteStream> to) {
  from->Read([from, to](Piece p) {
    if (!p || !*p) {
      from->Close();
      to->Close();
      return;
    }
    to->Write(std::move(**p), [from, to](Status st) {
      if (!st.ok()) {
        from->Close();
        to->Close();
        return;
      }
      Pump(from, to);
    });
  });
}

}  // namespace

RetryPolicy RetryPolicy::From(const Retries& r) {
  RetryPolicy p;
  p.retries = std::max(0, r.attempts);
  p.per_try_timeout = r.per_try_timeout;
  std::string_view list = r.retry_on;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string tok = Lower(http::TrimOws(list.substr(0, comma)));
    int code = 0;
    auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), code);
    if (!tok.empty() && ec == std::errc() && ptr == tok.data() + tok.size()) {
      p.status_codes.push_back(code);
    } else if (tok == "5xx") {
      p.on_5xx = true;
    } else if (tok == "gateway-error") {
      p.on_gateway_error = true;
    } else if (tok == "connect-failure") {
      p.on_connect_failure = true;
    } else if (tok == "reset") {
      p.on_reset = true;
    } else if (tok == "retriable-4xx") {
      p.on_retriable_4xx = true;
    }
    // "retriable-status-codes" only enables the numeric codes listed; "refused-stream" is
    // HTTP/2's; gRPC conditions do not apply to HTTP/1.1 upstreams.
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return p;
}

bool RetryPolicy::RetryStatus(int status) const {
  if (retries <= 0) return false;
  if (on_5xx && status >= 500 && status <= 599) return true;
  if (on_gateway_error && (status == 502 || status == 503 || status == 504)) return true;
  if (on_retriable_4xx && status == 409) return true;
  return std::find(status_codes.begin(), status_codes.end(), status) != status_codes.end();
}

bool RetryPolicy::RetryFailure(http::UpstreamFailure f) const {
  if (retries <= 0) return false;
  switch (f) {
    case UpstreamFailure::kConnectFailure:
    case UpstreamFailure::kConnectTimeout:
      return on_connect_failure || on_5xx || on_gateway_error;
    case UpstreamFailure::kResponseTimeout:
    case UpstreamFailure::kReset:
    case UpstreamFailure::kProtocol:
      return on_reset || on_5xx || on_gateway_error;
    default:
      return false;
  }
}

Result<http::UpstreamEndpoint> ParseUpstream(std::string_view upstream) {
  if (upstream.find("://") != std::string_view::npos) return http::ParseUpstreamUrl(upstream);
  http::UpstreamEndpoint ep;
  std::string_view host = upstream, port;
  if (!upstream.empty() && upstream.front() == '[') {
    size_t close = upstream.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("invalid upstream \"" + std::string(upstream) + "\"");
    }
    host = upstream.substr(1, close - 1);
    std::string_view rest = upstream.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return InvalidArgument("invalid upstream \"" + std::string(upstream) + "\"");
      }
      port = rest.substr(1);
    }
  } else if (size_t colon = upstream.rfind(':'); colon != std::string_view::npos) {
    host = upstream.substr(0, colon);
    port = upstream.substr(colon + 1);
  }
  if (host.empty() || host.find_first_of("/ ?#@") != std::string_view::npos) {
    return InvalidArgument("invalid upstream host in \"" + std::string(upstream) + "\"");
  }
  ep.host = std::string(host);
  ep.port = 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument("invalid upstream port in \"" + std::string(upstream) + "\"");
    }
    ep.port = static_cast<uint16_t>(value);
  }
  return ep;
}

void Bridge(std::shared_ptr<http::ByteStream> a, std::shared_ptr<http::ByteStream> b) {
  Pump(a, b);
  Pump(b, a);
}

Proxy::Proxy(http::UpstreamPool* pool, ProxyOptions options)
    : pool_(pool), options_(std::move(options)) {}

void Proxy::Forward(http::Request& req, ProxyTarget&& target, http::Responder respond) const {
  // One per proxied request: its block comes from the thread's cache (CachingAllocator).
  auto fw = std::allocate_shared<Forwarding>(CachingAllocator<Forwarding>());
  fw->pool = pool_;
  fw->notes = req.notes;
  fw->respond = std::move(respond);
  fw->head_request = std::string_view(req.method) == "HEAD";
  fw->response_ops = std::move(target.response_headers);
  fw->answer_ops = std::move(target.answer_headers);
  fw->echo_request_id = target.echo_request_id;
  if (target.retries) fw->policy = RetryPolicy::From(*target.retries);
  fw->timeout = target.timeout.value_or(options_.default_timeout);
  const auto now = steady_clock::now();
  fw->deadline = now + fw->timeout;

  http::UpstreamRequest& up = fw->request;
  fw->endpoint.host = target.endpoint.host;
  fw->endpoint.port = target.endpoint.port;
  up.endpoint = std::move(target.endpoint);
  up.method = req.method;
  up.target = target.path_and_query.empty() ? std::string("/") : std::move(target.path_and_query);
  if (fw->notes) AssignAuthority(up.endpoint, fw->notes->upstream);

  // The client's headers are filtered in place and moved, not copied. What the filter drops
  // but the forwarded request needs is read first.
  HeaderMap& in = req.headers;
  auto tokens = ConnectionTokens(in);
  const bool upgrade = HasToken(tokens, "upgrade") && in.Has("Upgrade");
  const bool trust = options_.trust_forwarded_headers;
  // One pass: what the filter drops but the forwarded request needs is read as it goes (the
  // client's Host, X-Forwarded-For and Via, dropped in any case), and what it keeps is noted
  // (so that the headers added below need no search: each is known absent).
  std::string client_host;
  bool host_seen = false;
  std::string xff, via;
  bool has_xfp = false, has_xfh = false, has_request_id = false;
  in.RemoveIf([&](std::string_view name, std::string_view value) {
    const Known known = Classify(name);
    switch (known) {
      case Known::kHost:
        if (!host_seen) client_host.assign(value);
        host_seen = true;
        return true;
      case Known::kXForwardedFor:
        AppendListValue(xff, value);
        return true;
      case Known::kVia:
        AppendListValue(via, value);
        return true;
      default:
        break;
    }
    if (IsHopByHop(known, name, tokens, upgrade)) return true;
    switch (known) {
      // The client's 100-continue was answered by the server when the body was first read;
      // the pool sends the body without waiting, so the upstream need not be asked (Envoy drops
      // it too).
      case Known::kExpect:
        return true;
      case Known::kAuthorization:
        return target.drop_authorization;
      case Known::kXForwardedProto:
        if (!trust) return true;
        has_xfp = true;
        return false;
      case Known::kXForwardedHost:
        if (!trust) return true;
        has_xfh = true;
        return false;
      case Known::kXRequestId:
        has_request_id = true;
        return false;
      default:
        return false;
    }
  });
  up.headers = std::move(in);
  // Empty both ways: the pool sends the upstream's host:port.
  const std::string& host = target.authority.empty() ? client_host : target.authority;
  if (!host.empty()) up.headers.Add("Host", host);
  std::string ip = ClientIp(req.remote_addr);
  if (!ip.empty()) AppendListValue(xff, ip);
  if (!xff.empty()) up.headers.Add("X-Forwarded-For", xff);
  if (!has_xfp) up.headers.Add("X-Forwarded-Proto", req.tls ? "https" : "http");
  if (!has_xfh && !client_host.empty()) up.headers.Add("X-Forwarded-Host", client_host);
  AppendListValue(via, kVia);
  up.headers.Add("Via", via);
  if (fw->notes && !fw->notes->request_id.empty() && !has_request_id) {
    up.headers.Add("X-Request-Id", fw->notes->request_id);
  }
  ApplyHeaderOps(target.request_headers, up.headers);
  up.upgrade = upgrade;

  // A declared empty streamed body is no body (an upgrade must not carry one).
  if (req.body_source && req.body_source->content_length() != std::optional<uint64_t>(0)) {
    fw->source = std::move(req.body_source);
  } else {
    up.body = std::move(req.body);
  }
  fw->Try(now);
}

}  // namespace skiff::gateway
