#pragma once
// AWS Signature Version 4 (header-based authentication), sans I/O: canonical request, string to
// sign, signing-key derivation (HMAC-SHA256 via OpenSSL) and the Authorization header, exactly
// as AWS documents them ("Create a signed AWS API request", and for S3 "Signature Calculations
// for the Authorization Header"). Used by the S3 client (http/s3_client.hpp); S3-compatible
// servers (MinIO, Ceph, R2) accept the same signatures.
//
// Proven by tests against AWS's published vectors (aws-sig-v4-test-suite; S3's documented
// GetObject/PutObject/ListObjects examples) and against botocore's S3SigV4Auth.
// Thread-safe: pure functions.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skiff::http::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional (temporary credentials from STS)
};

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The request as it will be sent.
struct Request {
  std::string method = "GET";
  // The path, NOT percent-encoded ("/models/iris v2/model.joblib"); it is encoded once here, the
  // way it must also appear on the wire (see UriEncode).
  std::string path = "/";
  Pairs query;    // names and values not encoded; order does not matter
  Pairs headers;  // every header to sign, "host" included; names in any case; duplicates kept
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" (S3 only). The last line of the canonical
  // request.
  std::string payload_hash;
};

struct Options {
  // General AWS services normalize the path (remove "." and ".." segments, collapse repeated
  // slashes) before signing; S3 must not (object keys may hold "//" or "..").
  bool normalize_path = false;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-content-sha256;x-amz-date"
  std::string signature;       // 64 hex digits
  std::string authorization;   // the Authorization header value
};

// SHA-256 of the empty string, in hex: the payload hash of a GET.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// AWS's UriEncode: every byte except the unreserved A-Z a-z 0-9 '-' '.' '_' '~' becomes %XX
// (upper-case hex; UTF-8 bytes one by one; space is %20, never '+'). '/' is kept when
// `keep_slash` (object key names in the path), encoded otherwise (query names and values).
std::string UriEncode(std::string_view s, bool keep_slash);

// "/a/./b/../c//" -> "/a/c/": RFC 3986 dot-segment removal plus collapsing of empty segments,
// as the general SigV4 test suite expects. The trailing slash is kept; "" gives "/".
std::string NormalizePath(std::string_view path);

// The pieces of the canonical request, exposed for tests and diagnostics.
std::string CanonicalUri(std::string_view path, const Options& options);
std::string CanonicalQuery(const Pairs& query);
// Lower-cased names sorted; values trimmed with inner runs of spaces collapsed; repeated
// names joined with ',' in order. Returns {canonical headers block, signed header list}.
std::pair<std::string, std::string> CanonicalHeaders(const Pairs& headers);
std::string CanonicalRequest(const Request& request, const Options& options);

// HMAC-SHA256(key, data), raw 32 bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
// `date` is YYYYMMDD. Raw 32 bytes.
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
// "20150830T123600Z" (ISO 8601 basic, UTC), the x-amz-date format.
std::string AmzDate(std::chrono::system_clock::time_point t);

// Signs `request` as it is: its headers must already hold x-amz-date (its value dates the
// credential scope) and every other header to sign. REQUIRES: an x-amz-date header.
Signature Compute(const Request& request, const Credentials& credentials, std::string_view region,
                  std::string_view service, const Options& options = {});

// Adds what signing needs and then the signature: x-amz-date (from `now`, unless present),
// x-amz-security-token (when the credentials carry one and it is not present) and, when
// `content_sha256_header` (S3 requires it), x-amz-content-sha256 = payload_hash; then
// Authorization. Returns the computed signature.
Signature Sign(Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::chrono::system_clock::time_point now,
               bool content_sha256_header, const Options& options = {});

}  // namespace skiff::http::sigv4
