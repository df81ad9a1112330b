#include "serving/protocol.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "serving/protocol_json.hpp"

namespace skiff::serving {

namespace {

// A NaN/Infinity token found outside strings, and the value it stands for. The token is replaced
// in a copy of the body by a number of the same length ("NaN" -> "0  "), so that positions in
// parse errors stay true and the parser reports that number at `offset`.
struct Special {
  size_t offset;
  double value;
};

bool IsDelimiter(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '[' || c == ']' ||
         c == '{' || c == '}' || c == ':';
}

// Rewrites NaN, Infinity and -Infinity tokens outside strings. Returns false when there are none.
bool RewriteSpecials(std::string_view in, std::string& out, std::vector<Special>& specials) {
  struct Token {
    std::string_view text;
    std::string_view replacement;
    double value;
  };
  static const Token kTokens[] = {
      {"NaN", "0  ", std::numeric_limits<double>::quiet_NaN()},
      {"Infinity", "0       ", std::numeric_limits<double>::infinity()},
      {"-Infinity", "-0       ", -std::numeric_limits<double>::infinity()},
  };
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != 'N' && c != 'I' && c != '-') continue;
    if (i > 0 && !IsDelimiter(in[i - 1])) continue;
    for (const Token& t : kTokens) {
      if (in.substr(i, t.text.size()) != t.text) continue;
      const size_t end = i + t.text.size();
      if (end < in.size() && !IsDelimiter(in[end])) break;
      if (specials.empty()) out.assign(in);
      out.replace(i, t.text.size(), t.replacement);
      specials.push_back({i, t.value});
      i = end - 1;
      break;
    }
  }
  return !specials.empty();
}

// Builds a json::value as Boost.JSON's own parser does, except that the numbers standing in for
// NaN/Infinity tokens become those doubles.
class LenientHandler {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  LenientHandler(const char* base, const std::vector<Special>* specials, json::storage_ptr sp)
      : base_(base), specials_(specials) {
    st_.reset(std::move(sp));
  }
  json::value Release() { return st_.release(); }

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(size_t n, boost::system::error_code&) {
    st_.push_object(n);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(size_t n, boost::system::error_code&) {
    st_.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, boost::system::error_code&) {
    st_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, boost::system::error_code&) {
    st_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, size_t, boost::system::error_code&) {
    st_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code&) {
    st_.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view s, boost::system::error_code&) {
    double special;
    if (IsSpecial(s, special)) {
      st_.push_double(special);
    } else {
      st_.push_int64(i);
    }
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    st_.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, boost::system::error_code&) {
    st_.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    st_.push_bool(b);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    st_.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  // The whole body is written in one call, so `s` points into it at the number's first character.
  bool IsSpecial(json::string_view s, double& value) const {
    const size_t offset = static_cast<size_t>(s.data() - base_);
    auto it = std::lower_bound(specials_->begin(), specials_->end(), offset,
                               [](const Special& sp, size_t off) { return sp.offset < off; });
    if (it == specials_->end() || it->offset != offset) return false;
    value = it->value;
    return true;
  }

  const char* base_;
  const std::vector<Special>* specials_;
  json::value_stack st_;
};

Status Unrecognized(const Status& parse_error) {
  return InvalidArgument(std::string(kUnrecognizedRequestFormat) + parse_error.message());
}

}  // namespace

Result<json::value> ParseRequestJson(std::string_view body, json::storage_ptr sp) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  {
    json::stream_parser p(sp, opts);  // its temporary stack comes from `sp` too
    p.reset(sp);
    boost::system::error_code ec;
    p.write(body.data(), body.size(), ec);
    if (!ec) p.finish(ec);
    if (!ec) return p.release();
  }
  // Not strict JSON. Either NaN/Infinity tokens (accepted: see protocol.hpp) or a real error.
  std::string rewritten;
  std::vector<Special> specials;
  if (RewriteSpecials(body, rewritten, specials)) {
    json::basic_parser<LenientHandler> p(opts, rewritten.data(), &specials, sp);
    boost::system::error_code ec;
    const size_t n = p.write_some(false, rewritten.data(), rewritten.size(), ec);
    if (!ec && n == rewritten.size()) return p.handler().Release();
    // Report the error at its position in the rewritten text (positions are unchanged).
    auto strict = ParseJson(rewritten);
    if (!strict) return Unrecognized(strict.error());
    return InvalidArgument(std::string(kUnrecognizedRequestFormat) + "invalid JSON");
  }
  auto strict = ParseJson(body);
  if (!strict) return Unrecognized(strict.error());
  return InvalidArgument(std::string(kUnrecognizedRequestFormat) + "invalid JSON");
}

Status ModelNotFound(std::string_view model) {
  return NotFound("Model with name " + std::string(model) + " does not exist.");
}

Status ModelNotReady(std::string_view model) {
  return Unavailable("Model with name " + std::string(model) + " is not ready.");
}

int ProtocolHttpStatus(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
    case Code::kOutOfRange:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kResourceExhausted:
      return status.reason() == "TooLarge" ? 413 : 503;
    case Code::kUnavailable:
      return 503;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kUnimplemented:
      return 501;
    case Code::kCancelled:
      return 499;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnauthenticated:
      return 401;
    case Code::kAlreadyExists:
    case Code::kAborted:
      return 409;
    case Code::kUnknown:
    case Code::kInternal:
    case Code::kDataLoss:
      return 500;
  }
  return 500;
}

http::Response JsonResponse(int http_status, std::string body) {
  return http::Response::Json(http_status, std::move(body));
}

http::Response ProtocolErrorResponse(const Status& status, int retry_after_seconds) {
  SKIFF_DCHECK(!status.ok());
  const int code = ProtocolHttpStatus(status);
  std::string body = "{\"error\":";
  if (code == 500) {
    body += "\"internal error\"";
  } else {
    std::string message = status.message();
    if (message.empty()) message = std::string(CodeName(status.code()));
    if (!protocol_json::IsValidUtf8(message)) message = "invalid request";
    protocol_json::AppendString(body, message);
  }
  body += '}';
  http::Response r = JsonResponse(code, std::move(body));
  if (code == 503) r.headers.Set("Retry-After", std::to_string(std::max(retry_after_seconds, 0)));
  return r;
}

}  // namespace skiff::serving
