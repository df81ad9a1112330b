#pragma once
// An S3 client shared by model storage (serving) and pipeline artifacts (pipelines): s3:// URIs,
// endpoint and addressing rules, requests signed with Signature Version 4 (http/sigv4.hpp),
// ListObjectsV2 with pagination, error documents turned into Statuses that say what to do,
// PutObject and GetObject to a file. Works with AWS S3 and S3-compatible servers (MinIO, Ceph,
// s3rver).
//
// Blocking (uses http::Fetch): call from the blocking pool. An S3Client is immutable after
// construction and may be shared between threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "http/client.hpp"
#include "http/sigv4.hpp"

namespace skiff::http {

enum class S3Addressing {
  kAuto,         // virtual-hosted on AWS's own endpoint when the bucket name allows; else path
  kPath,         // https://endpoint/bucket/key (MinIO, s3rver, most self-hosted servers)
  kVirtualHost,  // https://bucket.endpoint/key
};

struct S3Options {
  // "https://host[:port]"; empty = https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region;  // empty = us-east-1
  // No access key = anonymous, unsigned requests (public buckets).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  S3Addressing addressing = S3Addressing::kAuto;
  std::string ca_file;  // extra trust anchor for https endpoints (PEM)
  bool insecure_skip_verify = false;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
// The process environment (getenv).
std::optional<std::string> ProcessEnv(const char* name);

// S3 settings from the usual environment variables, overridden field by field by what skiff's
// configuration gives (`configured`: non-empty strings, a non-kAuto addressing, true flags win).
// Variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_REGION, else
// AWS_DEFAULT_REGION; AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else KServe's S3_ENDPOINT
// ("host:port", https unless S3_USE_HTTPS=0); AWS_CA_BUNDLE; KServe's S3_VERIFY_SSL=0 and
// S3_USER_VIRTUAL_BUCKET=true.
S3Options S3OptionsFromEnvironment(const S3Options& configured, const EnvLookup& env = ProcessEnv);

// S3OptionsFromEnvironment over skiff's `storage.s3.*` settings (endpoint, region, accessKeyId,
// secretAccessKey, sessionToken, caFile, addressing = auto|path|virtual). Errors:
// InvalidArgument for an unknown addressing.
Result<S3Options> S3OptionsFromSettings(const Settings& settings,
                                        const EnvLookup& env = ProcessEnv);

struct S3Uri {
  std::string bucket;
  std::string key;  // may be empty (the whole bucket) or end with '/'
};
// "s3://bucket/key/with/slashes". The key is taken literally (not percent-decoded), as boto3
// and KServe do. Errors: InvalidArgument (no bucket, bad bucket name).
Result<S3Uri> ParseS3Uri(std::string_view uri);

struct S3Object {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without the quotes
};

struct S3ListPage {
  std::vector<S3Object> objects;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken when truncated
};
// A ListObjectsV2 result document. Keys are URL-decoded when the document says
// <EncodingType>url</EncodingType>. Errors: InvalidArgument (malformed XML, not a
// ListBucketResult, a bad Size, truncated without a continuation token).
Result<S3ListPage> ParseListObjectsV2(std::string_view xml);

struct S3ErrorInfo {
  std::string code;      // "NoSuchBucket", "AccessDenied", ...
  std::string message;   // S3's own sentence
  std::string region;    // <Region> (AuthorizationHeaderMalformed), when present
  std::string endpoint;  // <Endpoint> (PermanentRedirect), when present
};
// An S3 <Error> document; nullopt when `xml` is not one.
std::optional<S3ErrorInfo> ParseS3Error(std::string_view xml);

class S3Client {
 public:
  // REQUIRES: options validated by Validate (Create-style callers check first).
  S3Client(S3Options options, const Clock& clock);

  // Errors: InvalidArgument for an endpoint that is not an http(s) URL, or only one of the
  // access key id and the secret.
  static Status Validate(const S3Options& options);

  // The endpoint actually used (explicit or derived from the region).
  std::string Endpoint() const;
  const S3Options& options() const { return options_; }

  // A ready-to-send request for `method` on bucket/key (key may be empty: the bucket itself),
  // with `query` (not encoded) and the body's payload hash; signed unless anonymous. Host,
  // x-amz-date, x-amz-content-sha256, x-amz-security-token and Authorization are set as
  // botocore sets them. `timeout` goes into the request.
  http::ClientRequest Prepare(std::string_view method, std::string_view bucket,
                              std::string_view key, const sigv4::Pairs& query,
                              std::string_view payload_hash,
                              std::chrono::milliseconds timeout) const;

  // One ListObjectsV2 page request (list-type=2, prefix, max-keys, encoding-type=url and the
  // continuation token when not empty), as List sends it.
  http::ClientRequest ListRequest(std::string_view bucket, std::string_view prefix, int max_keys,
                                  std::string_view continuation_token,
                                  std::chrono::milliseconds timeout) const;

  // Every object under `prefix` (ListObjectsV2, `max_keys` per page, following continuation
  // tokens), in S3's order (by key). At most `max_objects` (more is ResourceExhausted).
  // Errors: see StatusFor; DeadlineExceeded when `deadline` passes.
  Result<std::vector<S3Object>> List(std::string_view bucket, std::string_view prefix, int max_keys,
                                     size_t max_objects,
                                     std::chrono::steady_clock::time_point deadline,
                                     std::chrono::milliseconds io_timeout) const;

  // Uploads a small object in one request (the body is hashed and signed). For tests and tools;
  // models are read, never written, by the server.
  Status PutObject(std::string_view bucket, std::string_view key, std::string_view body,
                   std::chrono::milliseconds timeout) const;

  // Streams one object into a new file at `path` (created 0600, replaced if present; its
  // directory must exist). Errors: see StatusFor; ResourceExhausted over `max_bytes`; Internal
  // (file I/O). On error no file is left at `path`.
  Status GetObjectToFile(std::string_view bucket, std::string_view key, const std::string& path,
                         uint64_t max_bytes, std::chrono::milliseconds timeout) const;

  // The Status for a non-2xx S3 answer: `what` names the request ("listing s3://b/p"), `body`
  // is the error document (may be empty, e.g. for HEAD), `bucket_region` the
  // x-amz-bucket-region header when known. NotFound (NoSuchBucket, NoSuchKey, 404),
  // PermissionDenied (401/403: credentials or policy), FailedPrecondition (wrong region,
  // clock skew), Unavailable (5xx, throttling, anything else).
  Status StatusFor(int http_status, std::string_view body, std::string_view what,
                   std::string_view bucket_region = {}) const;

 private:
  bool VirtualHost(std::string_view bucket) const;

  S3Options options_;
  const Clock& clock_;
  std::string scheme_;     // "http" or "https"
  std::string host_;       // host as in a URL (IPv6 in brackets)
  std::string port_part_;  // ":9000", or "" for the scheme's default port
  std::string base_path_;  // decoded path prefix of the endpoint, without a trailing '/'
  bool aws_default_endpoint_ = false;
};

}  // namespace skiff::http
