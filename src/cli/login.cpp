#include "cli/login.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>

#include "auth/jose.hpp"
#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "cli/settings.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "core/yaml.hpp"
#include "http/client.hpp"
#include "http/server.hpp"

namespace skiff::cli {

namespace {

namespace jose = auth::jose;
using std::chrono::system_clock;

// What `login` needs from the issuer's discovery document.
struct Issuer {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
};

struct Tokens {
  std::string id_token;
  std::string refresh_token;
  json::object claims;  // of the verified ID token
};

struct Context {
  const LoginOptions* options;
  std::string server;
  std::string ca_file;
  std::string issuer_url;
};

http::ClientRequest NewRequest(const Context& ctx, std::string method, std::string url) {
  http::ClientRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.ca_file = ctx.ca_file;
  req.timeout = std::chrono::milliseconds(15'000);
  req.max_response_bytes = 1 << 20;
  req.headers.Set("Accept", "application/json");
  req.headers.Set("User-Agent", std::string("skiff/") + SKIFF_VERSION);
  return req;
}

Result<json::object> FetchJson(const Context& ctx, http::ClientRequest req, std::string_view what) {
  auto resp = http::Fetch(req);
  if (!resp) {
    return Unavailable("cannot reach " + req.url + " (" + std::string(what) +
                       "): " + resp.error().message());
  }
  auto body = ParseJsonObject(resp->body);
  if (resp->status != 200) {
    std::string detail;
    if (body) {
      detail = GetString(*body, "error");
      std::string description = GetString(*body, "error_description");
      if (!description.empty()) detail += ": " + description;
    }
    if (detail.empty()) detail = "HTTP " + std::to_string(resp->status);
    return Unauthenticated(std::string(what) + " failed: " + detail);
  }
  if (!body) return InvalidArgument(std::string(what) + ": the answer is not a JSON object");
  (void)ctx;
  return *body;
}

Result<Issuer> Discover(const Context& ctx) {
  SKIFF_ASSIGN_OR_RETURN(
      json::object doc,
      FetchJson(ctx, NewRequest(ctx, "GET", ctx.issuer_url + "/.well-known/openid-configuration"),
                "OIDC discovery"));
  Issuer i{GetString(doc, "issuer"), GetString(doc, "authorization_endpoint"),
           GetString(doc, "token_endpoint"), GetString(doc, "jwks_uri")};
  // OIDC Discovery 4.3: the issuer in the document must be the one asked for.
  if (i.issuer != ctx.issuer_url) {
    return InvalidArgument("the discovery document at " + ctx.issuer_url + " names issuer \"" +
                           i.issuer + "\"; pass --issuer " + i.issuer + " if that is intended");
  }
  if (i.authorization_endpoint.empty() || i.token_endpoint.empty() || i.jwks_uri.empty()) {
    return InvalidArgument("the discovery document of " + i.issuer +
                           " lacks authorization_endpoint, token_endpoint or jwks_uri");
  }
  return i;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return out;
}

// Verifies an ID token: signature against the issuer's JWKS, iss, aud, exp, and the nonce
// when one was sent.
Result<json::object> VerifyIdToken(const Context& ctx, const Issuer& issuer,
                                   const std::string& id_token, const std::string& nonce) {
  jose::ParseOptions parse;
  parse.algorithms = {jose::Alg::kRS256, jose::Alg::kRS384, jose::Alg::kRS512,
                      jose::Alg::kPS256, jose::Alg::kES256, jose::Alg::kES384};
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, jose::Parse(id_token, parse));
  auto resp = http::Fetch(NewRequest(ctx, "GET", issuer.jwks_uri));
  if (!resp) return Unavailable("cannot fetch " + issuer.jwks_uri + ": " + resp.error().message());
  if (resp->status != 200) {
    return Unavailable(issuer.jwks_uri + " answered HTTP " + std::to_string(resp->status));
  }
  SKIFF_ASSIGN_OR_RETURN(jose::KeySet keys, jose::KeySet::FromJwks(resp->body));
  std::vector<const jose::Key*> candidates;
  if (jws.kid.empty()) {
    for (const auto& k : keys.keys()) candidates.push_back(&k);
  } else {
    candidates = keys.Find(jws.kid);
  }
  Status verified =
      Unauthenticated("the ID token's key \"" + jws.kid + "\" is not in " + issuer.jwks_uri);
  for (const jose::Key* key : candidates) {
    if (!key->Allows(jws.alg)) continue;
    verified = jose::Verify(jws, *key);
    if (verified.ok()) break;
  }
  SKIFF_RETURN_IF_ERROR(verified);
  jose::ClaimsPolicy policy;
  policy.issuers = {issuer.issuer};
  policy.audiences = {ctx.options->client_id};
  SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, policy, system_clock::now()));
  if (!nonce.empty() && GetString(jws.payload, "nonce") != nonce) {
    return Unauthenticated("the ID token's nonce does not match this login");
  }
  return jws.payload;
}

Result<Tokens> TokenRequest(const Context& ctx, const Issuer& issuer,
                            std::vector<std::pair<std::string, std::string>> form,
                            const std::string& nonce, const std::string& previous_refresh) {
  const LoginOptions& o = *ctx.options;
  http::ClientRequest req = NewRequest(ctx, "POST", issuer.token_endpoint);
  if (o.client_secret.empty()) {
    form.emplace_back("client_id", o.client_id);
  } else {
    // client_secret_basic (RFC 6749 2.3.1): form-encoded id and secret.
    req.headers.Set("Authorization",
                    "Basic " + Base64Encode(http::PercentEncode(o.client_id) + ":" +
                                            http::PercentEncode(o.client_secret)));
  }
  req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  req.body = FormEncode(form);
  SKIFF_ASSIGN_OR_RETURN(json::object answer, FetchJson(ctx, std::move(req), "token request"));
  Tokens t;
  t.id_token = GetString(answer, "id_token");
  if (t.id_token.empty()) {
    return InvalidArgument("the token endpoint sent no id_token (is \"openid\" in the scopes?)");
  }
  t.refresh_token = GetString(answer, "refresh_token");
  if (t.refresh_token.empty()) t.refresh_token = previous_refresh;
  SKIFF_ASSIGN_OR_RETURN(t.claims, VerifyIdToken(ctx, issuer, t.id_token, nonce));
  return t;
}

// The loopback listener's outcome.
struct Callback {
  std::string code, state, error;
};

Result<Tokens> InteractiveLogin(const Context& ctx, const Issuer& issuer) {
  const LoginOptions& o = *ctx.options;
  SKIFF_ASSIGN_OR_RETURN(auto hostport, SplitHostPort(o.listen));
  if (hostport.first != "127.0.0.1" && hostport.first != "::1" && hostport.first != "localhost") {
    return InvalidArgument("--listen must be a loopback address (127.0.0.1:PORT)");
  }
  SKIFF_ASSIGN_OR_RETURN(auto wait_for, ParseDuration(o.timeout));

  const std::string verifier = RandomToken(32);
  const std::string challenge = Base64UrlEncode(Sha256(verifier));
  const std::string state = RandomToken(16);
  const std::string nonce = RandomToken(16);

  auto result = std::make_shared<std::promise<Callback>>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  http::ServerOptions server_options;
  server_options.host = hostport.first == "localhost" ? "127.0.0.1" : hostport.first;
  server_options.port = hostport.second;
  server_options.io_threads = 1;
  server_options.blocking_threads = 1;
  server_options.cpu_threads = 1;
  server_options.shutdown_grace = std::chrono::milliseconds(2000);
  http::Server server(
      server_options,
      [result, done, state](http::Request& req, http::Responder respond) {
        if (req.path != "/callback") {
          respond(http::Response::Text(404, "not found\n"));
          return;
        }
        Callback cb{req.Query("code").value_or(""), req.Query("state").value_or(""),
                    req.Query("error").value_or("")};
        std::string description = req.Query("error_description").value_or("");
        // Only the redirect that carries our state ends the wait: a stray or forged request
        // to the listener changes nothing.
        if (cb.state != state) {
          respond(http::Response::Text(400, "this login was not started here\n"));
          return;
        }
        bool first = !done->exchange(true);
        http::Response page = http::Response::Text(
            200, cb.error.empty()
                     ? "Login complete: you can close this tab and return to the terminal.\n"
                     : "Login failed: " + cb.error + " " + description + "\n");
        respond(std::move(page));
        if (first) {
          if (!description.empty()) cb.error += ": " + description;
          result->set_value(std::move(cb));
        }
      },
      nullptr);
  SKIFF_ASSIGN_OR_RETURN(uint16_t port, server.Start());
  std::string host = server_options.host == "::1" ? "[::1]" : server_options.host;
  const std::string redirect_uri = "http://" + host + ":" + std::to_string(port) + "/callback";

  std::string url = issuer.authorization_endpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += FormEncode({{"response_type", "code"},
                     {"client_id", o.client_id},
                     {"redirect_uri", redirect_uri},
                     {"scope", o.scopes},
                     {"state", state},
                     {"nonce", nonce},
                     {"code_challenge", challenge},
                     {"code_challenge_method", "S256"}});
  std::fprintf(stderr, "Open this URL in a browser to log in (waiting %s):\n\n  %s\n\n",
               o.timeout.c_str(), url.c_str());
  std::fflush(stderr);
  bool has_display = std::getenv("DISPLAY") != nullptr || std::getenv("WAYLAND_DISPLAY");
  if (!o.no_browser && has_display && FileExists("/usr/bin/xdg-open")) {
    ProcessOptions p;
    p.argv = {"/usr/bin/xdg-open", url};
    p.timeout = std::chrono::milliseconds(10'000);
    (void)RunProcess(p);
  }

  auto future = result->get_future();
  if (future.wait_for(wait_for) != std::future_status::ready) {
    server.Shutdown();
    server.Wait();
    return DeadlineExceeded("no login within " + o.timeout +
                            ": run skiff login again (--timeout to wait longer)");
  }
  Callback cb = future.get();
  server.Shutdown();
  server.Wait();
  if (!cb.error.empty()) return Unauthenticated("the identity provider refused: " + cb.error);
  if (cb.code.empty()) return Unauthenticated("the redirect carried no authorization code");
  return TokenRequest(ctx, issuer,
                      {{"grant_type", "authorization_code"},
                       {"code", cb.code},
                       {"redirect_uri", redirect_uri},
                       {"code_verifier", verifier}},
                      nonce, "");
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0' ? home : "/root";
}

std::string CachePath(const Context& ctx) {
  std::string dir =
      ctx.options->cache_dir.empty() ? HomeDir() + "/.skiff/tokens" : ctx.options->cache_dir;
  std::string key = HexEncode(Sha256(ctx.issuer_url + "\n" + ctx.options->client_id));
  return dir + "/" + key.substr(0, 32) + ".json";
}

Status SaveCache(const Context& ctx, const Tokens& t) {
  std::string path = CachePath(ctx);
  std::string dir = path.substr(0, path.rfind('/'));
  std::string parent = dir.substr(0, dir.rfind('/'));
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(parent, 0700));
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  json::object doc{{"issuer", ctx.issuer_url},
                   {"clientID", ctx.options->client_id},
                   {"idToken", t.id_token},
                   {"refreshToken", t.refresh_token}};
  return WriteFileAtomic(path, Serialize(doc) + "\n", 0600);
}

// The cached tokens, if any (unverified: the caller checks expiry and verifies refreshed ones).
std::optional<json::object> LoadCache(const Context& ctx) {
  auto text = ReadFile(CachePath(ctx), 1 << 20);
  if (!text) return std::nullopt;
  auto doc = ParseJsonObject(*text);
  if (!doc) return std::nullopt;
  return *doc;
}

// Seconds until the (unverified) JWT's exp; negative when expired or unreadable.
int64_t SecondsLeft(const std::string& jwt) {
  jose::ParseOptions parse;
  parse.algorithms = {jose::Alg::kRS256, jose::Alg::kRS384, jose::Alg::kRS512,
                      jose::Alg::kPS256, jose::Alg::kES256, jose::Alg::kES384};
  auto jws = jose::Parse(jwt, parse);
  if (!jws) return -1;
  const json::value* exp = Find(jws->payload, "exp");
  if (exp == nullptr || !exp->is_number()) return -1;
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(system_clock::now().time_since_epoch())
          .count();
  return static_cast<int64_t>(exp->to_number<double>()) - now;
}

std::string KubeconfigPath(const LoginOptions& o) {
  if (!o.kubeconfig.empty()) return o.kubeconfig;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string first(env);
    return first.substr(0, first.find(':'));
  }
  return HomeDir() + "/.kube/config";
}

// Replaces the entry named `name` in the list `key` of a kubeconfig, or appends it.
void Upsert(json::object& config, std::string_view key, const std::string& name,
            json::object entry) {
  json::value& list = config[key];
  if (!list.is_array()) list = json::array();
  entry["name"] = name;
  for (auto& item : list.get_array()) {
    if (item.is_object() && GetString(item, "name") == name) {
      item = std::move(entry);
      return;
    }
  }
  list.get_array().emplace_back(std::move(entry));
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "skiff";
  return std::string(buf, static_cast<size_t>(n));
}

Status WriteKubeconfig(const Context& ctx, const std::string& user) {
  const LoginOptions& o = *ctx.options;
  std::string path = KubeconfigPath(o);
  json::object config{{"apiVersion", "v1"}, {"kind", "Config"}, {"preferences", json::object()}};
  if (FileExists(path)) {
    SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 16 << 20));
    if (!text.empty()) {
      auto parsed = ParseYaml(text);
      if (!parsed || !parsed->is_object()) {
        return InvalidArgument(path + " is not a kubeconfig I can update; pass --kubeconfig FILE");
      }
      config = parsed->get_object();
    }
  }
  SKIFF_ASSIGN_OR_RETURN(json::object cluster, KubeconfigCluster(ctx.server, ctx.ca_file));
  Upsert(config, "clusters", "skiff", json::object{{"cluster", std::move(cluster)}});
  json::array args{"login",    "--exec",       "--server",    ctx.server,
                   "--issuer", ctx.issuer_url, "--client-id", o.client_id};
  if (!ctx.ca_file.empty()) {
    args.emplace_back("--ca-file");
    args.emplace_back(ctx.ca_file);
  }
  if (!o.cache_dir.empty()) {
    args.emplace_back("--cache-dir");
    args.emplace_back(o.cache_dir);
  }
  json::object exec{{"apiVersion", "client.authentication.k8s.io/v1"},
                    {"command", SelfPath()},
                    {"args", std::move(args)},
                    {"interactiveMode", "IfAvailable"},
                    {"provideClusterInfo", false}};
  const std::string entry = "skiff-" + user;
  Upsert(config, "users", entry, json::object{{"user", json::object{{"exec", std::move(exec)}}}});
  Upsert(config, "contexts", entry,
         json::object{
             {"context",
              json::object{{"cluster", "skiff"}, {"user", entry}, {"namespace", "default"}}}});
  config["current-context"] = entry;
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && dir != path) SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  return WriteFileAtomic(path, ToYaml(config), 0600);
}

std::string UserOf(const json::object& claims) {
  for (const char* claim : {"email", "preferred_username", "name", "sub"}) {
    std::string v = GetString(claims, claim);
    if (!v.empty()) return v;
  }
  return "user";
}

void PrintExecCredential(const std::string& id_token) {
  json::object status{{"token", id_token}};
  jose::ParseOptions parse;
  parse.algorithms = {jose::Alg::kRS256, jose::Alg::kRS384, jose::Alg::kRS512,
                      jose::Alg::kPS256, jose::Alg::kES256, jose::Alg::kES384};
  if (auto jws = jose::Parse(id_token, parse); jws) {
    if (const json::value* exp = Find(jws->payload, "exp"); exp && exp->is_number()) {
      auto t = system_clock::time_point(
          std::chrono::seconds(static_cast<int64_t>(exp->to_number<double>())));
      status["expirationTimestamp"] = FormatRfc3339(t);
    }
  }
  json::object cred{{"apiVersion", "client.authentication.k8s.io/v1"},
                    {"kind", "ExecCredential"},
                    {"status", std::move(status)}};
  std::printf("%s\n", Serialize(cred).c_str());
}

// kubectl tells an exec plugin whether it may interact (KUBERNETES_EXEC_INFO, v1).
bool ExecInteractive() {
  const char* info = std::getenv("KUBERNETES_EXEC_INFO");
  if (info == nullptr) return isatty(STDERR_FILENO) != 0;
  auto doc = ParseJson(info);
  if (!doc) return false;
  const json::value* v = Find(*doc, "spec.interactive");
  return v != nullptr && v->is_bool() && v->get_bool();
}

// A valid ID token for `ctx`: the cached one while it has a minute left, else a refreshed one,
// else (when `interactive`) a new login. Saves what it gets.
Result<std::string> CurrentIdToken(const Context& ctx, bool interactive) {
  std::optional<json::object> cache = LoadCache(ctx);
  if (cache) {
    std::string id_token = GetString(*cache, "idToken");
    if (SecondsLeft(id_token) > 60) return id_token;
  }
  SKIFF_ASSIGN_OR_RETURN(Issuer issuer, Discover(ctx));
  Status last = NotFound("no cached login for " + ctx.issuer_url);
  if (cache && !GetString(*cache, "refreshToken").empty()) {
    std::string refresh = GetString(*cache, "refreshToken");
    auto t = TokenRequest(
        ctx, issuer, {{"grant_type", "refresh_token"}, {"refresh_token", refresh}}, "", refresh);
    if (t) {
      SKIFF_RETURN_IF_ERROR(SaveCache(ctx, *t));
      return t->id_token;
    }
    last = t.error();
  }
  if (!interactive) {
    return Unauthenticated(last.message() + "; run `skiff login` to log in again");
  }
  SKIFF_ASSIGN_OR_RETURN(Tokens t, InteractiveLogin(ctx, issuer));
  SKIFF_RETURN_IF_ERROR(SaveCache(ctx, t));
  return t.id_token;
}

}  // namespace

int RunLogin(const Settings& settings, const LoginOptions& options) {
  auto endpoint = ResolveServer(settings);
  if (!endpoint) return Fail(endpoint.error());
  Context ctx{&options, endpoint->url, endpoint->ca_file, options.issuer};
  if (ctx.issuer_url.empty()) ctx.issuer_url = ctx.server + "/dex";
  while (!ctx.issuer_url.empty() && ctx.issuer_url.back() == '/') ctx.issuer_url.pop_back();
  if (options.exec || options.print_token) {
    // The credential plugin (and --print-token) reuse the cached login while it is valid.
    auto token = CurrentIdToken(ctx, options.exec ? ExecInteractive() : true);
    if (!token) return Fail(token.error());
    if (options.exec) {
      PrintExecCredential(*token);
    } else {
      std::printf("%s\n", token->c_str());
    }
    return 0;
  }

  auto issuer = Discover(ctx);
  if (!issuer) return Fail(issuer.error());
  auto tokens = InteractiveLogin(ctx, *issuer);
  if (!tokens) return Fail(tokens.error());
  if (Status s = SaveCache(ctx, *tokens); !s.ok()) return Fail(s);
  std::string user = UserOf(tokens->claims);
  if (Status s = WriteKubeconfig(ctx, user); !s.ok()) return Fail(s);
  std::fprintf(stderr, "Logged in as %s. kubectl now uses context skiff-%s (in %s).\n",
               user.c_str(), user.c_str(), KubeconfigPath(options).c_str());
  return 0;
}

}  // namespace skiff::cli
