#pragma once
// Private to skiff_http: a lean parser for the usual HTTP/1.1 message head, tried before Beast's
// parser on the listener's requests and on pooled upstreams' responses. Sans-I/O.
//
// It accepts a strict subset of what Beast accepts and declines everything else, leaving it to
// Beast (which then accepts or refuses it as before): a head that is complete in the bytes given
// (up to its blank line, within `limit` bytes); CRLF line ends only; tokens for the method and
// field names; field values and the reason phrase of visible ASCII, obs-text, SP and HTAB (no
// other control byte); no obs-fold; at most one Content-Length of plain digits and no
// Transfer-Encoding (a request with either is declined: its body is Beast's to frame);
// Connection and Proxy-Connection as plain token lists. So a head it parses is one Beast parses
// the same way (the same fields, values trimmed of OWS, keep-alive and Content-Length): the
// unit tests hold it to that against Beast itself. What it buys: one pass over each value,
// sixteen bytes at a time (a 700-byte JWT costs ~6k instructions in Beast's byte loop), and no
// parser object.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http/http.hpp"

namespace skiff::http::internal {

struct ParsedHead {
  int version = 11;         // 10 or 11
  int status = 0;           // responses
  std::string_view method;  // requests: views into the parsed bytes
  std::string_view target;
  // As Beast's keep_alive() would say (for a response: to a request other than HEAD).
  bool keep_alive = true;
  std::optional<uint64_t> content_length;  // responses
  size_t size = 0;                         // bytes of the head, its blank line included
};

// Parse `data` (starting at the request line). True: the head is complete and in the subset;
// `head` and `headers` (appended to) are filled. False: declined (incomplete, over `limit`,
// invalid or merely unusual); `headers` may hold some fields then.
bool ParseRequestHead(std::string_view data, size_t limit, ParsedHead& head, HeaderMap& headers);
// The same for a response (starting at the status line).
bool ParseResponseHead(std::string_view data, size_t limit, ParsedHead& head, HeaderMap& headers);

// The index of the first byte of s[from..] that cannot be in a field value or reason phrase
// as they are (a control byte other than HTAB, or DEL), or s.size(). CR ends a value.
size_t SkipFieldText(std::string_view s, size_t from);

}  // namespace skiff::http::internal
