#include "http/s3_client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/url/parse.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/crypto.hpp"
#include "http/xml.hpp"

namespace skiff::http {

namespace {

constexpr size_t kMaxListResponseBytes = 16 * 1024 * 1024;

bool Truthy(std::string_view v) { return v == "1" || v == "true" || v == "True" || v == "TRUE"; }
bool Falsy(std::string_view v) { return v == "0" || v == "false" || v == "False" || v == "FALSE"; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Bucket names as S3 allows them in URIs (legacy names may hold upper case and '_').
bool ValidBucketChars(std::string_view b) {
  if (b.empty() || b.size() > 255) return false;
  for (char c : b) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A name usable as a DNS label sequence: 3-63 of a-z 0-9 '-' '.', starting and ending with a
// letter or digit (botocore's check_dns_name).
bool DnsCompatible(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  for (char c : b) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return b.find("..") == std::string_view::npos;
}

std::string DefaultEndpoint(std::string_view region) {
  std::string r = region.empty() ? "us-east-1" : std::string(region);
  std::string suffix = r.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://s3." + r + suffix;
}

}  // namespace

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

S3Options S3OptionsFromEnvironment(const S3Options& configured, const EnvLookup& env) {
  auto get = [&env](const char* name) -> std::string {
    auto v = env(name);
    return v ? *v : std::string();
  };
  S3Options o;
  o.access_key_id = get("AWS_ACCESS_KEY_ID");
  o.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  o.session_token = get("AWS_SESSION_TOKEN");
  o.region = get("AWS_REGION");
  if (o.region.empty()) o.region = get("AWS_DEFAULT_REGION");
  o.endpoint = get("AWS_ENDPOINT_URL_S3");
  if (o.endpoint.empty()) o.endpoint = get("AWS_ENDPOINT_URL");
  if (o.endpoint.empty()) {
    // KServe's variables: S3_ENDPOINT is "host:port" without a scheme.
    std::string kserve = get("S3_ENDPOINT");
    if (!kserve.empty()) {
      if (kserve.find("://") == std::string::npos) {
        kserve = (Falsy(get("S3_USE_HTTPS")) ? "http://" : "https://") + kserve;
      }
      o.endpoint = kserve;
    }
  }
  o.ca_file = get("AWS_CA_BUNDLE");
  o.insecure_skip_verify = Falsy(get("S3_VERIFY_SSL"));
  if (Truthy(get("S3_USER_VIRTUAL_BUCKET"))) o.addressing = S3Addressing::kVirtualHost;

  auto take = [](std::string& field, const std::string& value) {
    if (!value.empty()) field = value;
  };
  take(o.endpoint, configured.endpoint);
  take(o.region, configured.region);
  if (!configured.access_key_id.empty()) {
    // Keys come as a set: a configured key id never pairs with a secret from the environment.
    o.access_key_id = configured.access_key_id;
    o.secret_access_key = configured.secret_access_key;
    o.session_token = configured.session_token;
  }
  take(o.ca_file, configured.ca_file);
  if (configured.addressing != S3Addressing::kAuto) o.addressing = configured.addressing;
  if (configured.insecure_skip_verify) o.insecure_skip_verify = true;
  return o;
}

Result<S3Uri> ParseS3Uri(std::string_view uri) {
  constexpr std::string_view kScheme = "s3://";
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("\"" + std::string(uri) + "\" is not an s3:// URI");
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Uri out;
  out.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) out.key = std::string(rest.substr(slash + 1));
  if (out.bucket.empty()) {
    return InvalidArgument("storageUri \"" + std::string(uri) +
                           "\" names no bucket (want s3://BUCKET/PREFIX)");
  }
  if (!ValidBucketChars(out.bucket)) {
    return InvalidArgument("storageUri \"" + std::string(uri) + "\": \"" + out.bucket +
                           "\" is not a valid S3 bucket name");
  }
  return out;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view doc) {
  SKIFF_ASSIGN_OR_RETURN(xml::Element root, xml::Parse(doc));
  if (root.name != "ListBucketResult") {
    return InvalidArgument("not a ListObjectsV2 result (root element <" + root.name + ">)");
  }
  bool url_encoded = Trim(root.ChildText("EncodingType")) == "url";
  S3ListPage page;
  for (const auto& c : root.children) {
    if (c.name != "Contents") continue;
    S3Object obj;
    obj.key = c.ChildText("Key");
    if (url_encoded) {
      auto decoded = http::PercentDecode(obj.key, /*plus_is_space=*/true);
      if (!decoded) return InvalidArgument("bad URL-encoded key \"" + obj.key + "\" in a listing");
      obj.key = std::move(*decoded);
    }
    if (obj.key.empty()) return InvalidArgument("an object in the listing has no key");
    const std::string size_text = c.ChildText("Size");
    std::string_view size = Trim(size_text);
    auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), obj.size);
    if (size.empty() || ec != std::errc() || end != size.data() + size.size()) {
      return InvalidArgument("bad <Size> \"" + std::string(size) + "\" for key \"" + obj.key +
                             "\" in a listing");
    }
    const std::string etag_text = c.ChildText("ETag");
    std::string_view etag = Trim(etag_text);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    obj.etag = std::string(etag);
    page.objects.push_back(std::move(obj));
  }
  page.truncated = Trim(root.ChildText("IsTruncated")) == "true";
  page.next_token = root.ChildText("NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return InvalidArgument("a truncated listing without <NextContinuationToken>");
  }
  return page;
}

std::optional<S3ErrorInfo> ParseS3Error(std::string_view doc) {
  auto root = xml::Parse(doc);
  if (!root || root->name != "Error") return std::nullopt;
  S3ErrorInfo info;
  info.code = std::string(Trim(root->ChildText("Code")));
  info.message = std::string(Trim(root->ChildText("Message")));
  info.region = std::string(Trim(root->ChildText("Region")));
  info.endpoint = std::string(Trim(root->ChildText("Endpoint")));
  return info;
}

Status S3Client::Validate(const S3Options& options) {
  std::string endpoint =
      options.endpoint.empty() ? DefaultEndpoint(options.region) : options.endpoint;
  auto parsed = boost::urls::parse_absolute_uri(endpoint);
  if (!parsed ||
      (parsed->scheme_id() != boost::urls::scheme::http &&
       parsed->scheme_id() != boost::urls::scheme::https) ||
      parsed->encoded_host().empty()) {
    return InvalidArgument("S3 endpoint \"" + endpoint +
                           "\" is not an http:// or https:// URL (AWS_ENDPOINT_URL or the "
                           "storage s3 endpoint setting)");
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    return InvalidArgument("S3 endpoint \"" + endpoint + "\" must not have a query or fragment");
  }
  if (options.access_key_id.empty() != options.secret_access_key.empty()) {
    return InvalidArgument(
        "S3 credentials are incomplete: set both the access key id (AWS_ACCESS_KEY_ID) and the "
        "secret access key (AWS_SECRET_ACCESS_KEY), or neither for anonymous access");
  }
  return Status::Ok();
}

S3Client::S3Client(S3Options options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  SKIFF_CHECK(Validate(options_).ok());
  aws_default_endpoint_ = options_.endpoint.empty();
  if (options_.region.empty()) options_.region = "us-east-1";
  if (options_.endpoint.empty()) options_.endpoint = DefaultEndpoint(options_.region);
  auto u = boost::urls::parse_absolute_uri(options_.endpoint).value();
  bool https = u.scheme_id() == boost::urls::scheme::https;
  scheme_ = https ? "https" : "http";
  host_ = std::string(u.encoded_host_address());
  if (u.host_type() == boost::urls::host_type::ipv6) host_ = "[" + host_ + "]";
  if (u.has_port() && u.port_number() != (https ? 443 : 80)) {
    port_part_ = ":" + std::string(u.port());
  }
  base_path_ = u.path();
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
}

std::string S3Client::Endpoint() const { return options_.endpoint; }

bool S3Client::VirtualHost(std::string_view bucket) const {
  switch (options_.addressing) {
    case S3Addressing::kPath:
      return false;
    case S3Addressing::kVirtualHost:
      return true;
    case S3Addressing::kAuto:
      // As botocore: dotted names break TLS wildcard certificates, so they go path-style.
      return aws_default_endpoint_ && DnsCompatible(bucket) &&
             (scheme_ == "http" || bucket.find('.') == std::string_view::npos);
  }
  return false;
}

http::ClientRequest S3Client::Prepare(std::string_view method, std::string_view bucket,
                                      std::string_view key, const sigv4::Pairs& query,
                                      std::string_view payload_hash,
                                      std::chrono::milliseconds timeout) const {
  std::string host = host_;
  std::string path = base_path_;
  if (VirtualHost(bucket)) {
    host = std::string(bucket) + "." + host_;
    path += "/" + std::string(key);
  } else {
    path += "/" + std::string(bucket);
    if (!key.empty()) path += "/" + std::string(key);
  }
  sigv4::Request req;
  req.method = std::string(method);
  req.path = path;
  req.query = query;
  req.headers.emplace_back("host", host + port_part_);
  req.payload_hash = std::string(payload_hash);
  if (!options_.access_key_id.empty()) {
    sigv4::Credentials creds{options_.access_key_id, options_.secret_access_key,
                             options_.session_token};
    sigv4::Sign(req, creds, options_.region, "s3", clock_.Now(), /*content_sha256_header=*/true);
  }

  http::ClientRequest out;
  out.method = req.method;
  out.url = scheme_ + "://" + host + port_part_ + sigv4::UriEncode(path, /*keep_slash=*/true);
  if (!query.empty()) out.url += "?" + sigv4::CanonicalQuery(query);
  for (const auto& [name, value] : req.headers) out.headers.Add(name, value);
  out.timeout = timeout;
  out.ca_file = options_.ca_file;
  out.insecure_skip_verify = options_.insecure_skip_verify;
  return out;
}

http::ClientRequest S3Client::ListRequest(std::string_view bucket, std::string_view prefix,
                                          int max_keys, std::string_view continuation_token,
                                          std::chrono::milliseconds timeout) const {
  sigv4::Pairs query = {{"list-type", "2"},
                        {"prefix", std::string(prefix)},
                        {"max-keys", std::to_string(max_keys)},
                        {"encoding-type", "url"}};
  if (!continuation_token.empty()) {
    query.emplace_back("continuation-token", std::string(continuation_token));
  }
  return Prepare("GET", bucket, "", query, sigv4::kEmptyPayloadHash, timeout);
}

Result<std::vector<S3Object>> S3Client::List(std::string_view bucket, std::string_view prefix,
                                             int max_keys, size_t max_objects,
                                             std::chrono::steady_clock::time_point deadline,
                                             std::chrono::milliseconds io_timeout) const {
  std::string what = "listing s3://" + std::string(bucket) + "/" + std::string(prefix);
  std::vector<S3Object> out;
  std::string token;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DeadlineExceeded(what + ": timed out");
    http::ClientRequest req =
        ListRequest(bucket, prefix, max_keys, token, std::min(left, io_timeout));
    req.max_response_bytes = kMaxListResponseBytes;
    auto resp = http::Fetch(req);
    if (!resp) return resp.error().WithPrefix(what);
    if (resp->status != 200) {
      auto region = resp->headers.Get("x-amz-bucket-region");
      return StatusFor(resp->status, resp->body, what, region ? *region : std::string_view());
    }
    auto page = ParseListObjectsV2(resp->body);
    if (!page) return page.error().WithPrefix(what);
    for (auto& o : page->objects) out.push_back(std::move(o));
    if (out.size() > max_objects) {
      return ResourceExhausted(what + ": more than " + std::to_string(max_objects) +
                               " objects under the prefix");
    }
    if (!page->truncated) return out;
    if (page->next_token == token) {
      return Unavailable(what + ": the server repeated a continuation token");
    }
    token = page->next_token;
  }
}

Status S3Client::PutObject(std::string_view bucket, std::string_view key, std::string_view body,
                           std::chrono::milliseconds timeout) const {
  std::string what = "uploading s3://" + std::string(bucket) + "/" + std::string(key);
  http::ClientRequest req = Prepare("PUT", bucket, key, {}, HexEncode(Sha256(body)), timeout);
  req.body = std::string(body);
  req.max_response_bytes = 1024 * 1024;
  auto resp = http::Fetch(req);
  if (!resp) return resp.error().WithPrefix(what);
  if (resp->status / 100 != 2) return StatusFor(resp->status, resp->body, what);
  return Status::Ok();
}

Status S3Client::GetObjectToFile(std::string_view bucket, std::string_view key,
                                 const std::string& path, uint64_t max_bytes,
                                 std::chrono::milliseconds timeout) const {
  std::string what = "fetching s3://" + std::string(bucket) + "/" + std::string(key);
  http::ClientRequest req = Prepare("GET", bucket, key, {}, sigv4::kEmptyPayloadHash, timeout);
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal(what + ": cannot create " + path + ": " + std::strerror(errno));
  uint64_t written = 0;
  bool over = false;
  bool write_failed = false;
  std::string error_body;  // the start of a non-2xx body (the file also gets it; removed)
  auto status = http::FetchStream(req, [&](std::string_view chunk) {
    written += chunk.size();
    if (written > max_bytes) {
      over = true;
      return false;
    }
    if (error_body.size() < 64 * 1024) {
      error_body.append(chunk.substr(0, 64 * 1024 - error_body.size()));
    }
    while (!chunk.empty()) {
      ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        write_failed = true;
        return false;
      }
      chunk.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  });
  bool closed = ::close(fd) == 0;
  auto fail = [&](Status s) {
    ::unlink(path.c_str());
    return s;
  };
  if (!status) return fail(status.error().WithPrefix(what));
  if (*status / 100 != 2) return fail(StatusFor(*status, error_body, what));
  if (over) {
    return fail(
        ResourceExhausted(what + ": the object exceeds " + std::to_string(max_bytes) + " bytes"));
  }
  if (write_failed || !closed) return fail(Internal(what + ": writing " + path + " failed"));
  return Status::Ok();
}

Result<S3Options> S3OptionsFromSettings(const Settings& settings, const EnvLookup& env) {
  S3Options s3;
  s3.endpoint = settings.GetString("storage.s3.endpoint");
  s3.region = settings.GetString("storage.s3.region");
  s3.access_key_id = settings.GetString("storage.s3.accessKeyId");
  s3.secret_access_key = settings.GetString("storage.s3.secretAccessKey");
  s3.session_token = settings.GetString("storage.s3.sessionToken");
  s3.ca_file = settings.GetString("storage.s3.caFile");
  std::string addressing = settings.GetString("storage.s3.addressing");
  if (addressing == "path") {
    s3.addressing = S3Addressing::kPath;
  } else if (addressing == "virtual") {
    s3.addressing = S3Addressing::kVirtualHost;
  } else if (addressing != "auto" && !addressing.empty()) {
    return InvalidArgument("storage.s3.addressing must be auto, path or virtual");
  }
  return S3OptionsFromEnvironment(s3, env);
}

Status S3Client::StatusFor(int http_status, std::string_view body, std::string_view what,
                           std::string_view bucket_region) const {
  auto info = ParseS3Error(body);
  std::string code = info ? info->code : std::string();
  std::string detail = "HTTP " + std::to_string(http_status);
  if (!code.empty()) detail += " " + code;
  if (info && !info->message.empty()) detail += ": " + info->message;
  std::string prefix = std::string(what) + " at " + options_.endpoint + ": ";

  std::string region = info && !info->region.empty() ? info->region : std::string(bucket_region);
  if (code == "NoSuchBucket") {
    return NotFound(prefix + "the bucket does not exist (" + detail + ")");
  }
  if (code == "NoSuchKey" || http_status == 404 || http_status == 410) {
    return NotFound(prefix + "no such object (" + detail + ")");
  }
  if (http_status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
      code == "IllegalLocationConstraintException") {
    std::string hint =
        region.empty() ? "set the bucket's region" : "the bucket is in region " + region + ": set";
    return FailedPrecondition(prefix + detail + "; " + hint +
                              " AWS_REGION (or the storage s3 region setting), currently " +
                              options_.region);
  }
  if (code == "RequestTimeTooSkewed") {
    return FailedPrecondition(prefix + detail + "; this machine's clock is off: fix it (NTP)");
  }
  if (http_status == 401 || http_status == 403) {
    std::string who = options_.access_key_id.empty()
                          ? "no credentials were configured (anonymous request)"
                          : "access key " + options_.access_key_id;
    return PermissionDenied(prefix + "access denied (" + detail + "); " + who +
                            ": check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                            "AWS_SESSION_TOKEN and the bucket policy");
  }
  return Unavailable(prefix + detail);
}

}  // namespace skiff::http
