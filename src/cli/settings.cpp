#include "cli/settings.hpp"

#include <charconv>

#include "cli/auth_setup.hpp"
#include "cli/authz_setup.hpp"
#include "cli/profiles_setup.hpp"
#include "core/fs.hpp"
#include "identity/identity.hpp"

namespace skiff::cli {

using Type = SettingSpec::Type;

namespace {

std::vector<SettingSpec> AllSpecs() {
  std::vector<SettingSpec> specs = {
      {"addr", Type::kString, "127.0.0.1:8080",
       "address to listen on (host:port; port 0 picks one)", "addr"},
      {"dataDir", Type::kString, "./skiff-data", "directory for the database, keys and tokens",
       "data-dir"},
      {"server", Type::kString, "",
       "URL of the skiff server for client commands (default: http://ADDR)", "server"},
      {"token", Type::kString, "",
       "bearer token for client commands (default: DATA_DIR/admin.token)", "token"},
      {"caFile", Type::kString, "",
       "CA certificate client commands trust (default: DATA_DIR/tls/ca.crt)", "ca-file"},
      {"tls.mode", Type::kString, "auto",
       "auto (private CA in DATA_DIR/tls), files (tls.certFile/keyFile) or off", "tls-mode"},
      {"tls.certFile", Type::kString, "", "PEM server certificate chain when tls.mode is files",
       ""},
      {"tls.keyFile", Type::kString, "", "PEM private key when tls.mode is files", ""},
      {"tls.only", Type::kBool, "false", "refuse plain HTTP on the listener (TLS only)", ""},
      {"tls.hosts", Type::kString, "", "extra names/IPs for the auto certificate, comma-separated",
       ""},
      {"tls.redirectAddr", Type::kString, "",
       "also listen here with plain HTTP that redirects every request to the HTTPS listener "
       "(e.g. 0.0.0.0:80)",
       ""},
      {"log.level", Type::kString, "info", "trace, debug, info, warn, error or off", "log-level"},
      {"log.format", Type::kString, "text", "text or json", "log-format"},
      {"http.ioThreads", Type::kInt, "0", "I/O threads (0 = one per core)", ""},
      {"http.blockingThreads", Type::kInt, "8", "threads for blocking work (database)", ""},
      {"http.maxHeaderBytes", Type::kBytes, "16KiB", "largest request line + headers (431 above)",
       ""},
      {"http.maxBodyBytes", Type::kBytes, "8MiB", "largest request body (413 above)", ""},
      {"http.headerTimeout", Type::kDuration, "10s", "time to receive request headers (408)", ""},
      {"http.bodyTimeout", Type::kDuration, "60s", "time to receive a request body (408)", ""},
      {"http.idleTimeout", Type::kDuration, "60s", "keep-alive idle time before closing", ""},
      {"http.writeTimeout", Type::kDuration, "60s", "time to write one response or chunk", ""},
      {"http.handlerTimeout", Type::kDuration, "300s", "time for a handler to answer (504)", ""},
      {"http.maxConnections", Type::kInt, "10000", "open connections before answering 503", ""},
      {"http.shutdownGrace", Type::kDuration, "10s", "time in-flight requests get on shutdown",
       "shutdown-grace"},
      {"store.synchronous", Type::kString, "full",
       "SQLite durability: full (fsync per commit) or normal", ""},
      {"store.historySize", Type::kInt, "10000", "resource events kept for watch resumption", ""},
      {"gateway.accessLog", Type::kString, "stdout",
       "access log: stdout, stderr, a file path, or off", "access-log"},
      {"gateway.accessLogFormat", Type::kString, "text", "access log format: text or json", ""},
      {"gateway.upstreams", Type::kSection, "",
       "destination host -> upstream URL for VirtualService routes, e.g. "
       "{ml-pipeline.kubeflow.svc.cluster.local: http://127.0.0.1:8888}",
       ""},
      {"gateway.upstreamCaFile", Type::kString, "",
       "CA certificates (PEM) trusted for https upstreams, besides the system store", ""},
      {"gateway.upstreamConnectTimeout", Type::kDuration, "5s",
       "time to connect to an upstream (503 after)", ""},
      {"gateway.defaultTimeout", Type::kDuration, "300s",
       "time an upstream has to answer a route without its own timeout (504)", ""},
      {"serving.domain", Type::kString, "example.com",
       "domain in InferenceService URLs (NAME.NAMESPACE.DOMAIN)", ""},
      {"serving.queueDepth", Type::kInt, "128",
       "requests that may wait per model revision before 503", ""},
      {"serving.pythonWorkers", Type::kInt, "2",
       "Python worker processes per model served by Python", ""},
      {"pipelines.maxParallelTasks", Type::kInt, "16",
       "pipeline task processes running at once, all runs together", ""},
      {"pipelines.artifacts.uri", Type::kString, "",
       "where pipeline artifacts are stored: empty for the data dir, or s3://bucket/prefix "
       "(connection from storage.s3.*)",
       ""},
      {"pipelines.signingKey", Type::kString, "",
       "secret that signs KFP list page tokens (empty: a random one per start)", ""},
      {"pipelines.fetchPrivateAddresses", Type::kBool, "false",
       "creating a pipeline from a URL may fetch from loopback, private and link-local "
       "addresses (off: public addresses only, so a user cannot make skiff read internal "
       "services or cloud metadata)",
       ""},
      {"serving.loadTimeout", Type::kDuration, "5m", "time to fetch and load one model revision",
       ""},
      {"storage.localRoots", Type::kString, "",
       "comma-separated directories local storageUris must lie under (empty: any)", ""},
      {"storage.maxDownloadBytes", Type::kBytes, "2GiB", "largest model download", ""},
      {"storage.s3.endpoint", Type::kString, "",
       "S3 endpoint URL (default: AWS for the region; env AWS_ENDPOINT_URL_S3)", ""},
      {"storage.s3.region", Type::kString, "", "S3 region (env AWS_REGION / AWS_DEFAULT_REGION)",
       ""},
      {"storage.s3.accessKeyId", Type::kString, "", "S3 access key id (env AWS_ACCESS_KEY_ID)", ""},
      {"storage.s3.secretAccessKey", Type::kString, "", "S3 secret key (env AWS_SECRET_ACCESS_KEY)",
       ""},
      {"storage.s3.sessionToken", Type::kString, "", "S3 session token (env AWS_SESSION_TOKEN)",
       ""},
      {"storage.s3.addressing", Type::kString, "auto",
       "auto, path or virtual (bucket in the host name)", ""},
      {"storage.s3.caFile", Type::kString, "", "extra CA certificate for the S3 endpoint", ""},
      {"demo.enabled", Type::kBool, "true", "deploy the sklearn-iris demo on first start", "demo"},
      {"api.maxWatch", Type::kDuration, "30m",
       "longest a watch stays open before clients reconnect", ""},
  };
  for (auto& spec : AuthSettingSpecs()) specs.push_back(std::move(spec));
  for (auto& spec : AuthzSettingSpecs()) specs.push_back(std::move(spec));
  for (auto& spec : ProfileSettingSpecs()) specs.push_back(std::move(spec));
  for (auto& spec : identity::SettingSpecs()) specs.push_back(std::move(spec));
  return specs;
}

}  // namespace

const std::vector<SettingSpec>& SettingSpecs() {
  static const std::vector<SettingSpec> kSpecs = AllSpecs();
  return kSpecs;
}

Result<Settings> LoadSettings(const std::string& config_flag,
                              const std::map<std::string, std::string>& flags) {
  std::string path = config_flag;
  bool explicit_path = !path.empty();
  if (!explicit_path) {
    if (auto env = GetEnv("SKIFF_CONFIG")) {
      path = *env;
      explicit_path = true;
    }
  }
  if (!explicit_path && FileExists("skiff.yaml")) path = "skiff.yaml";
  std::string text;
  if (!path.empty()) {
    auto content = ReadFile(path, 4 << 20);
    if (!content) {
      return InvalidArgument("cannot read config file " + path + ": " + content.error().message());
    }
    text = std::move(*content);
  }
  return Settings::Load(SettingSpecs(), text, path.empty() ? "skiff.yaml" : path, GetEnv, flags);
}

Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view addr) {
  std::string host;
  std::string_view port;
  if (!addr.empty() && addr.front() == '[') {
    size_t close = addr.find(']');
    if (close == addr.npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return InvalidArgument("invalid address \"" + std::string(addr) + "\": use [IPv6]:PORT");
    }
    host = std::string(addr.substr(1, close - 1));
    port = addr.substr(close + 2);
  } else {
    size_t colon = addr.rfind(':');
    if (colon == addr.npos) {
      return InvalidArgument("invalid address \"" + std::string(addr) +
                             "\": use HOST:PORT, e.g. 127.0.0.1:8080");
    }
    host = std::string(addr.substr(0, colon));
    port = addr.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535 || port.empty()) {
    return InvalidArgument("invalid port in address \"" + std::string(addr) + "\"");
  }
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, static_cast<uint16_t>(p));
}

}  // namespace skiff::cli
