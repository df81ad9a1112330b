#include "cli/server_app.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>

#include "api/api.hpp"
#include "auth/auth.hpp"
#include "auth/authn.hpp"
#include "authz/review.hpp"
#include "authz/rolebinding.hpp"
#include "cli/auth_setup.hpp"
#include "cli/authz_setup.hpp"
#include "cli/demo.hpp"
#include "cli/gateway_authz.hpp"
#include "cli/pipelines_setup.hpp"
#include "cli/profiles_setup.hpp"
#include "cli/serving_setup.hpp"
#include "cli/settings.hpp"
#include "cli/tls_setup.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "dashboard/dashboard.hpp"
#include "dashboard/model_stats.hpp"
#include "gateway/access_log.hpp"
#include "gateway/controller.hpp"
#include "gateway/dispatcher.hpp"
#include "gateway/explain.hpp"
#include "gateway/kind.hpp"
#include "gateway/proxy.hpp"
#include "gateway/timers.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/upstream.hpp"
#include "identity/identity.hpp"
#include "serving/inference_service.hpp"
#include "store/store.hpp"

namespace skiff::cli {

namespace {

constexpr std::string_view kTokenPrefix = "skf_";

// Reads the bootstrap admin token, creating it (0600) on first start. Sets `created`.
Result<std::string> BootstrapToken(const std::string& data_dir, bool* created) {
  std::string path = data_dir + "/admin.token";
  *created = false;
  if (FileExists(path)) {
    SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4096));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.pop_back();
    }
    if (text.size() < 20) {
      return FailedPrecondition(path +
                                " does not hold a valid token: delete it and restart skiff "
                                "to create a new one");
    }
    return text;
  }
  std::string token = std::string(kTokenPrefix) + RandomToken(32);
  SKIFF_RETURN_IF_ERROR(WriteFileAtomic(path, token + "\n", 0600));
  *created = true;
  return token;
}

// Creates the namespaces every Kubernetes-style cluster has, when missing.
Status EnsureDefaultNamespace(store::Store& store, Clock& clock) {
  auto existing = store.Get({"namespaces", "", "default"});
  if (existing) return Status::Ok();
  if (existing.error().code() != Code::kNotFound) return existing.error();
  json::object ns{{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata", json::object{{"name", "default"},
                                            {"uid", NewUid()},
                                            {"creationTimestamp", FormatRfc3339(clock.Now())},
                                            {"generation", 1}}},
                  {"spec", json::object{{"finalizers", json::array{"kubernetes"}}}},
                  {"status", json::object{{"phase", "Active"}}}};
  auto created = store.Create({"namespaces", "", "default"}, std::move(ns));
  if (!created && created.error().code() != Code::kAlreadyExists) return created.error();
  return Status::Ok();
}

// Whether a client asked for text (`skiff routes` does) rather than JSON.
bool WantsText(const http::Request& req) {
  auto accept = req.headers.Get("Accept");
  return accept && accept->find("text/plain") != std::string_view::npos;
}

bool IsApiPath(std::string_view path) {
  return path.rfind("/api", 0) == 0 || path == "/version" || path.rfind("/openapi", 0) == 0;
}

}  // namespace

int RunServer(const Settings& settings, const std::function<void(const std::string&)>& on_ready) {
  // Signals are taken synchronously by this thread (sigwait); block them everywhere first so
  // that threads started below inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A closed stdout (the access log's reader went away) must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  auto hostport = SplitHostPort(settings.GetString("addr"));
  if (!hostport) {
    std::fprintf(stderr, "skiff: %s\n", hostport.error().message().c_str());
    return 2;
  }
  std::string data_dir = settings.GetString("dataDir");
  if (Status s = EnsureDirectory(data_dir, 0700); !s.ok()) {
    std::fprintf(stderr, "skiff: cannot use data directory: %s\n", s.message().c_str());
    return 1;
  }

  store::SqliteOptions store_options;
  store_options.path = data_dir + "/skiff.db";
  store_options.synchronous = settings.GetString("store.synchronous");
  store_options.history_size = settings.GetInt("store.historySize");
  if (store_options.synchronous != "full" && store_options.synchronous != "normal") {
    std::fprintf(stderr, "skiff: store.synchronous must be \"full\" or \"normal\"\n");
    return 2;
  }
  auto store = store::OpenSqliteStore(store_options);
  if (!store) {
    std::fprintf(stderr, "skiff: cannot open the database %s: %s\n", store_options.path.c_str(),
                 store.error().message().c_str());
    return 1;
  }
  if (Status s = EnsureDefaultNamespace(**store, SystemClock()); !s.ok()) {
    std::fprintf(stderr, "skiff: cannot initialise the database: %s\n", s.message().c_str());
    return 1;
  }
  bool token_created = false;
  auto token = BootstrapToken(data_dir, &token_created);
  if (!token) {
    std::fprintf(stderr, "skiff: %s\n", token.error().message().c_str());
    return 1;
  }

  // RBAC: every resource request (and, through the lead's wiring, serving and routes) asks it.
  // Declared before the API and the server, which use it until they stop.
  auto authorizer_or = MakeAuthorizer(settings, **store);
  if (!authorizer_or) {
    std::fprintf(stderr, "skiff: %s\n", authorizer_or.error().message().c_str());
    return 2;
  }
  std::unique_ptr<authz::RbacAuthorizer> authorizer = std::move(*authorizer_or);
  if (Status s = authz::EnsureClusterRoles(**store, SystemClock()); !s.ok()) {
    std::fprintf(stderr, "skiff: cannot write the ClusterRoles: %s\n", s.message().c_str());
    return 1;
  }

  api::KindRegistry kinds;
  if (Status s = api::RegisterCoreKinds(kinds); !s.ok()) {
    std::fprintf(stderr, "skiff: %s\n", s.ToString().c_str());
    return 1;
  }
  if (Status s = serving::RegisterInferenceServiceKinds(kinds); !s.ok()) {
    std::fprintf(stderr, "skiff: %s\n", s.ToString().c_str());
    return 1;
  }
  if (Status s = gateway::RegisterVirtualServiceKinds(kinds); !s.ok()) {
    std::fprintf(stderr, "skiff: %s\n", s.ToString().c_str());
    return 1;
  }
  if (Status s = RegisterProfileKinds(kinds); !s.ok()) {
    std::fprintf(stderr, "skiff: %s\n", s.ToString().c_str());
    return 1;
  }
  for (Status s :
       {authz::RegisterRbacKinds(kinds), authz::RegisterReviewKinds(kinds, *authorizer)}) {
    if (!s.ok()) {
      std::fprintf(stderr, "skiff: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  api::ApiOptions api_options;
  api_options.server_version = std::string("v1.32.0-skiff.") + SKIFF_VERSION;
  api_options.git_commit = SKIFF_GIT_VERSION;
  api_options.max_watch =
      std::chrono::duration_cast<std::chrono::seconds>(settings.GetDuration("api.maxWatch"));
  ConnectAuthorizer(*authorizer, api_options);
  api::ResourceApi resource_api(kinds, **store, SystemClock(), api_options);

  MetricsRegistry metrics;
  metrics.AddGaugeFunc("skiff_process_resident_memory_bytes", "Resident memory of the process.",
                       [] { return ProcessResidentBytes(); });

  http::ServerOptions options;
  options.host = hostport->first;
  options.port = hostport->second;
  options.io_threads = static_cast<int>(settings.GetInt("http.ioThreads"));
  options.blocking_threads = static_cast<int>(settings.GetInt("http.blockingThreads"));
  options.max_header_bytes = settings.GetBytes("http.maxHeaderBytes");
  options.max_body_bytes = settings.GetBytes("http.maxBodyBytes");
  options.header_timeout = settings.GetDuration("http.headerTimeout");
  options.body_timeout = settings.GetDuration("http.bodyTimeout");
  options.idle_timeout = settings.GetDuration("http.idleTimeout");
  options.write_timeout = settings.GetDuration("http.writeTimeout");
  options.handler_timeout = settings.GetDuration("http.handlerTimeout");
  options.max_connections = static_cast<size_t>(settings.GetInt("http.maxConnections"));
  options.shutdown_grace = settings.GetDuration("http.shutdownGrace");
  auto tls = ConfigureTls(settings, data_dir, hostport->first, options);
  if (!tls) {
    std::fprintf(stderr, "skiff: TLS: %s\n", tls.error().message().c_str());
    return 2;
  }
  // The access log (one line per request) and the gateway's upstream side.
  std::unique_ptr<gateway::AccessLog> access_log;
  if (std::string dest = settings.GetString("gateway.accessLog"); dest != "off") {
    std::string format = settings.GetString("gateway.accessLogFormat");
    if (format != "text" && format != "json") {
      std::fprintf(stderr, "skiff: gateway.accessLogFormat must be text or json\n");
      return 2;
    }
    auto opened = gateway::AccessLog::Open(
        dest, format == "json" ? gateway::AccessLogFormat::kJson : gateway::AccessLogFormat::kText);
    if (!opened) {
      std::fprintf(stderr, "skiff: %s\n", opened.error().message().c_str());
      return 2;
    }
    access_log = std::move(*opened);
    options.access_log = [log = access_log.get()](const http::AccessRecord& r) { log->Write(r); };
  }
  gateway::RouteTableOptions table_options;
  if (const json::value& ups = settings.GetSection("gateway.upstreams"); !ups.is_null()) {
    if (!ups.is_object()) {
      std::fprintf(stderr, "skiff: gateway.upstreams must map host names to URLs\n");
      return 2;
    }
    for (const auto& [host, url] : ups.get_object()) {
      if (!url.is_string() || !http::ParseUpstreamUrl(url.get_string())) {
        std::fprintf(stderr, "skiff: gateway.upstreams.%s must be an http(s):// URL\n",
                     std::string(host).c_str());
        return 2;
      }
      std::string lower(host);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      table_options.upstreams[lower] = std::string(url.get_string());
    }
  }
  http::UpstreamPoolOptions pool_options;
  pool_options.connect_timeout = settings.GetDuration("gateway.upstreamConnectTimeout");
  // Proxied requests run on the server's own I/O threads (the pool borrows them); the pool's
  // own thread serves only calls from other threads (mirrors after a fault delay).
  pool_options.threads = 1;
  // Enough idle keep-alive connections for every client connection a busy listener has.
  pool_options.max_idle_per_upstream = 1024;
  // Declared before the server: proxied responses still streaming when the server shuts down
  // read from the pool's connections.
  http::UpstreamPool upstream_pool(pool_options);
  gateway::ProxyOptions proxy_options;
  proxy_options.default_timeout = settings.GetDuration("gateway.defaultTimeout");
  gateway::Proxy proxy(&upstream_pool, proxy_options);
  std::unique_ptr<gateway::RoutesController> routes;
  std::unique_ptr<gateway::Dispatcher> dispatcher;
  std::atomic<const gateway::Dispatcher*> dispatcher_ptr{nullptr};  // set once it exists
  // Bodies of requests routed to an upstream stream through as they arrive (any size).
  options.stream_body = [&dispatcher_ptr](const http::Request& head) {
    const gateway::Dispatcher* d = dispatcher_ptr.load();
    return d != nullptr && gateway::ShouldStreamBody(*d, head);
  };
  // After the dispatcher: destroyed first, so no fault-delay callback outlives it.
  gateway::Timers timers;
  // The web dashboard embedded by the build (the last route of the table, "dashboard").
  const dashboard::Dashboard web_dashboard(dashboard::EmbeddedAssets(),
                                           dashboard::EmbeddedAssetsBuilt());

  std::unique_ptr<http::Router> router;
  // Declared before the server so that it is destroyed after the server's thread pools, which
  // may still be running a model load that uses it.
  std::unique_ptr<ServingStack> serving;
  std::unique_ptr<dashboard::ModelStatsApi> model_stats;  // reads serving's table and metrics
  // Profiles (controller, registration, kfam): before the server too, whose blocking pool runs
  // the registration's tasks.
  std::unique_ptr<ProfilesStack> profiles;
  // Pipelines (KFP API, run engine): the blocking pool runs its API calls.
  std::unique_ptr<PipelinesStack> pipelines;
  std::atomic<bool> ready{false};
  // Authentication is built once the listener's address is known (the built-in provider's
  // issuer and the login redirect URI contain it); until then requests get 503.
  std::unique_ptr<AuthStack> auth_stack;
  std::atomic<const auth::Gateway*> gateway{nullptr};
  std::unique_ptr<identity::Provider> provider;
  std::atomic<identity::Provider*> provider_ptr{nullptr};
  // After authentication: route (built-in routes, VirtualServices, model serving) and dispatch.
  http::Handler dispatch = [&](http::Request& req, http::Responder respond) {
    if (req.principal && req.notes) req.notes->user = req.principal->name;
    if (req.principal && profiles) profiles->registration->OnRequest(*req.principal);
    dispatcher->Handle(req, std::move(respond));
  };
  auto root = [&](http::Request& req, http::Responder respond) {
    gateway::EnsureRequestId(req);
    const auth::Gateway* g = gateway.load();
    if (g == nullptr) {
      respond(http::Response::Text(503, "starting\n"));
      return;
    }
    g->Handle(req, std::move(respond), dispatch);
  };
  http::Server server(options, root, &metrics);
  router = std::make_unique<http::Router>(&server.blocking_pool(), &server.cpu_pool());
  auto serving_or = MakeServing(settings, data_dir, **store, server.blocking_pool(),
                                server.cpu_pool(), metrics, authorizer.get());
  if (!serving_or) {
    std::fprintf(stderr, "skiff: model serving: %s\n", serving_or.error().message().c_str());
    return 2;
  }
  serving = std::move(*serving_or);
  if (Status s = serving->controller->Start(); !s.ok()) {
    std::fprintf(stderr, "skiff: model serving: %s\n", s.ToString().c_str());
    return 1;
  }
  // The dashboard's model page: GET /api/skiff/models/NS/NAME/stats (dashboard/model_stats.hpp).
  model_stats = std::make_unique<dashboard::ModelStatsApi>(
      [&serving] { return serving->controller->table(); }, serving->controller->serving_metrics(),
      authorizer.get(), SystemClock());
  router->Add({"GET"}, std::string(dashboard::kModelStatsPrefix) + "*",
              http::SyncHandler([&](http::Request& req) { return model_stats->Handle(req); }),
              http::Execution::kInline, "model-stats");
  router->Add({"GET", "HEAD"}, "/healthz",
              http::SyncHandler([](http::Request&) { return http::Response::Text(200, "ok\n"); }),
              http::Execution::kInline);
  router->Add({"GET", "HEAD"}, "/readyz", http::SyncHandler([&](http::Request&) {
                return ready.load() ? http::Response::Text(200, "ok\n")
                                    : http::Response::Text(503, "shutting down\n");
              }),
              http::Execution::kInline);
  router->Add({"GET"}, "/metrics", http::SyncHandler([&](http::Request&) {
                http::Response r = http::Response::Text(200, metrics.Render());
                r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                return r;
              }),
              http::Execution::kInline);
  std::string identity_path = settings.GetString("identity.path");
  if (settings.GetBool("identity.enabled")) {
    auto identity_handler = [&](http::Request& req, http::Responder respond) {
      identity::Provider* p = provider_ptr.load();
      if (p == nullptr) {
        respond(http::Response::Text(404, "the built-in identity provider is not running\n"));
        return;
      }
      p->Handle(req, std::move(respond));
    };
    router->Add({}, identity_path, identity_handler, "identity");
    router->Add({}, identity_path + "/*", identity_handler, "identity");
  }
  // Who the gateway says the caller is, as services see it (the user-id header included).
  router->Add({"GET"}, "/skiff/whoami", http::SyncHandler([&](http::Request& req) {
                json::object o;
                if (req.principal) {
                  json::array groups;
                  for (const auto& g : req.principal->groups) groups.emplace_back(g);
                  o["user"] = req.principal->name;
                  o["groups"] = std::move(groups);
                  o["method"] = req.principal->method;
                  o["admin"] = req.principal->cluster_admin;
                }
                std::string uh = settings.GetString("auth.userIdHeader");
                std::string gh = settings.GetString("auth.groupsHeader");
                o["userIdHeader"] = std::string(req.headers.Get(uh).value_or(""));
                o["groupsHeader"] = std::string(req.headers.Get(gh).value_or(""));
                // Names only (values may be credentials): shows what reached the handler.
                json::array names;
                for (const auto& [name, _] : req.headers) {
                  std::string lower(name);
                  for (auto& c : lower) c = static_cast<char>(std::tolower(c));
                  names.emplace_back(lower);
                }
                o["headerNames"] = std::move(names);
                return http::Response::Json(200, Serialize(o));
              }),
              http::Execution::kInline);
  // kubectl auth whoami (authentication.k8s.io/v1 SelfSubjectReview).
  router->Add({"POST"}, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
              http::SyncHandler([&](http::Request& req) {
                json::object user;
                if (req.principal) {
                  json::array groups;
                  for (const auto& g : req.principal->groups) groups.emplace_back(g);
                  groups.emplace_back("system:authenticated");
                  user["username"] = req.principal->name;
                  user["groups"] = std::move(groups);
                }
                json::object review{{"kind", "SelfSubjectReview"},
                                    {"apiVersion", "authentication.k8s.io/v1"},
                                    {"metadata", json::object{{"creationTimestamp", nullptr}}},
                                    {"status", json::object{{"userInfo", std::move(user)}}}};
                return http::Response::Json(201, Serialize(review));
              }),
              http::Execution::kInline);
  auto profiles_or = MakeProfiles(
      settings, **store, kinds, *authorizer, server.blocking_pool(), SystemClock(),
      [&authorizer](const store::Object& o, bool deleted) { authorizer->Observe(o, deleted); });
  if (!profiles_or) {
    std::fprintf(stderr, "skiff: profiles: %s\n", profiles_or.error().message().c_str());
    serving->controller->Stop();
    return 2;
  }
  profiles = std::move(*profiles_or);
  if (Status s = profiles->Start(); !s.ok()) {
    std::fprintf(stderr, "skiff: profiles: %s\n", s.ToString().c_str());
    serving->controller->Stop();
    return 1;
  }
  profiles->Mount(*router);
  auto pipelines_or = StartPipelines(settings, data_dir, **store, authorizer.get());
  if (!pipelines_or) {
    std::fprintf(stderr, "skiff: pipelines: %s\n", pipelines_or.error().message().c_str());
    profiles->Stop();
    serving->controller->Stop();
    return 2;
  }
  pipelines = std::move(*pipelines_or);
  {
    http::SyncHandler kfp = [&](http::Request& req) { return pipelines->api->Handle(req); };
    for (const char* pattern : {"/pipeline/*", "/apis/v1beta1/*", "/apis/v2beta1/*"}) {
      router->Add({}, pattern, kfp, http::Execution::kBlocking, "pipelines");
    }
  }
  auto api_handler = profiles->quota->Wrap(
      http::SyncHandler([&](http::Request& req) { return resource_api.Handle(req); }));
  for (const char* pattern : {"/api/*", "/apis/*", "/version", "/openapi/*"}) {
    router->Add({}, pattern, api_handler, http::Execution::kBlocking);
  }

  // The routing table: skiff's reserved routes, then VirtualServices, then model serving.
  std::vector<gateway::BuiltinRoute> before =
      gateway::PlatformRoutes(settings.GetBool("identity.enabled") ? identity_path : std::string());
  {
    gateway::BuiltinRoute r;
    r.name = "skiff-api";
    r.description = "routes list and explain";
    r.path_kind = gateway::BuiltinRoute::PathKind::kPrefix;
    r.path = "/api/skiff";
    r.service = "skiff";
    before.insert(before.begin(), std::move(r));
  }
  before.push_back(ProfilesStack::KfamRoute());
  // KFP's API paths sit inside the Kubernetes API's /apis: they come first.
  for (const char* path : {"/pipeline", "/apis/v1beta1", "/apis/v2beta1"}) {
    gateway::BuiltinRoute r;
    r.name = path[1] == 'p' ? std::string("pipelines") : "pipelines-" + std::string(path + 6);
    r.description = "Kubeflow Pipelines REST API";
    r.path_kind = gateway::BuiltinRoute::PathKind::kPrefix;
    r.path = path;
    r.service = "pipelines";
    before.insert(before.begin(), std::move(r));
  }
  std::vector<gateway::BuiltinRoute> after;
  {
    gateway::BuiltinRoute r;
    r.name = "serving";
    r.description = "KServe V1/V2 model endpoints";
    r.service = "serving";
    r.predicate = [&serving](const gateway::RouteRequest& rr) {
      return serving->frontend->Matches(rr.authority, rr.path);
    };
    r.predicate_description =
        "a model's Host (NAME[-predictor[-default]].NS.*) or path (/v1/models, /v2, "
        "/kfserving/NS/NAME, /serving/NS/NAME)";
    after.push_back(std::move(r));
  }
  {
    // Last: a browser's navigation anywhere gets the app; API clients that match nothing still
    // get the JSON 404 naming the candidate routes.
    gateway::BuiltinRoute r;
    r.name = "dashboard";
    r.description = "web dashboard";
    r.service = "dashboard";
    r.path_kind = gateway::BuiltinRoute::PathKind::kPrefix;
    r.path = "/";
    r.methods = {"GET", "HEAD"};
    r.predicate = [&web_dashboard](const gateway::RouteRequest& rr) {
      return web_dashboard.Wants(rr.path, rr.headers);
    };
    r.predicate_description = "an embedded dashboard file, or Accept: text/html (a browser)";
    after.push_back(std::move(r));
  }
  gateway::ServiceMap services;
  http::Handler to_router = [&](http::Request& req, http::Responder respond) {
    router->Dispatch(req, std::move(respond));
  };
  for (const char* id : {"health", "metrics", "identity", "api", "skiff", "auth", "pipelines"}) {
    services[id] = to_router;
  }
  services["serving"] = [&](http::Request& req, http::Responder respond) {
    req.route = "serving";
    serving->frontend->Handle(req, std::move(respond));
  };
  services["dashboard"] = [&web_dashboard](http::Request& req, http::Responder respond) {
    req.route = "dashboard";
    respond(web_dashboard.Handle(req));
  };
  // A model's URL names its namespace: only that namespace's VirtualServices may route it.
  table_options.addressed_namespace = [&serving](const gateway::RouteRequest& rr) {
    return serving->frontend->AddressedNamespace(rr.authority, rr.path);
  };
  routes = std::make_unique<gateway::RoutesController>(
      **store, gateway::RoutesControllerOptions{before, after, table_options});
  if (Status s = routes->Start(); !s.ok()) {
    std::fprintf(stderr, "skiff: routing table: %s\n", s.ToString().c_str());
    serving->controller->Stop();
    return 1;
  }
  gateway::DispatcherOptions dispatcher_options;
  dispatcher_options.upstream_ca_file = settings.GetString("gateway.upstreamCaFile");
  dispatcher_options.max_collected_body_bytes = options.max_body_bytes;
  dispatcher_options.authorizer = authorizer.get();
  dispatcher = std::make_unique<gateway::Dispatcher>([&routes] { return routes->table(); },
                                                     std::move(services), &proxy, &timers,
                                                     dispatcher_options);
  dispatcher_ptr = dispatcher.get();
  router->Add({"GET"}, "/api/skiff/routes", http::SyncHandler([&](http::Request& req) {
                auto rows = routes->table()->List();
                if (WantsText(req)) return http::Response::Text(200, gateway::RowsToText(rows));
                return http::Response::Json(
                    200, Serialize(json::object{{"routes", gateway::RowsToJson(rows)}}));
              }),
              http::Execution::kInline);
  router->Add({"GET"}, "/api/skiff/explain", http::SyncHandler([&](http::Request& req) {
                auto what = gateway::ParseExplainRequest(req);
                if (!what) return api::StatusToResponse(what.error());
                gateway::ExplainContext ctx;
                ctx.auth = gateway.load();
                ctx.dispatcher = dispatcher.get();
                ctx.authorizer = authorizer.get();
                ctx.destination_attributes = DestinationAttributes(*serving->frontend);
                ctx.is_admin = [&](const Principal& p) { return authorizer->ConfiguredAdmin(p); };
                ctx.describe_service = [&](const gateway::Decision& d,
                                           const gateway::RouteRequest& rr) -> std::string {
                  if (d.service != "serving") return {};
                  return serving->frontend->Describe(rr.authority, rr.path);
                };
                auto ex = gateway::Explain(*what, req, ctx);
                if (!ex) return api::StatusToResponse(ex.error());
                if (WantsText(req)) return http::Response::Text(200, ex->text);
                return http::Response::Json(200, Serialize(ex->json));
              }),
              http::Execution::kBlocking);

  auto port = server.Start();
  if (!port) {
    std::fprintf(stderr, "skiff: cannot listen on %s: %s\n", settings.GetString("addr").c_str(),
                 port.error().message().c_str());
    return 1;
  }
  // Optional plain-HTTP listener that sends browsers to the HTTPS one (308 keeps the method).
  std::unique_ptr<http::Server> redirect_server;
  uint16_t redirect_listen_port = 0;
  if (std::string redirect_addr = settings.GetString("tls.redirectAddr"); !redirect_addr.empty()) {
    auto where = SplitHostPort(redirect_addr);
    if (!where || options.tls_cert_file.empty()) {
      std::fprintf(stderr, "skiff: tls.redirectAddr: %s\n",
                   where ? "needs TLS on the main listener" : where.error().message().c_str());
      serving->controller->Stop();
      server.Shutdown();
      server.Wait();
      return 2;
    }
    http::ServerOptions ro;
    ro.host = where->first;
    ro.port = where->second;
    ro.io_threads = 1;
    ro.blocking_threads = 1;
    ro.cpu_threads = 1;
    ro.max_body_bytes = 64 * 1024;  // nothing is read from these requests
    ro.access_log = options.access_log;
    uint16_t https_port = *port;
    redirect_server = std::make_unique<http::Server>(
        ro,
        [https_port](http::Request& req, http::Responder respond) {
          std::string host(req.headers.Get("Host").value_or(""));
          if (!host.empty() && host.front() == '[') {
            host = host.substr(0, host.find(']') + 1);
          } else if (size_t colon = host.find(':'); colon != std::string::npos) {
            host.resize(colon);
          }
          if (host.empty() || host.find_first_of("/\\@ ") != std::string::npos) {
            respond(http::ErrorResponse(400, "BadRequest", "a Host header is required"));
            return;
          }
          http::Response r;
          r.status = 308;
          r.headers.Set("Location",
                        "https://" + host +
                            (https_port == 443 ? "" : ":" + std::to_string(https_port)) +
                            req.target);
          respond(std::move(r));
        },
        nullptr);
    auto redirect_port = redirect_server->Start();
    if (!redirect_port) {
      std::fprintf(stderr, "skiff: cannot listen on %s: %s\n", redirect_addr.c_str(),
                   redirect_port.error().message().c_str());
      serving->controller->Stop();
      server.Shutdown();
      server.Wait();
      return 1;
    }
    spdlog::info("redirecting http://{}:{} to HTTPS", where->first, *redirect_port);
    redirect_listen_port = *redirect_port;
  }
  std::string host = hostport->first;
  if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string hostport_text = host + ":" + std::to_string(*port);
  bool tls_on = !options.tls_cert_file.empty();
  std::string self_url = (tls_on ? "https://" : "http://") + hostport_text;

  AuthWiring wiring;
  wiring.admin_token = *token;
  wiring.store = store->get();
  wiring.blocking = &server.blocking_pool();
  wiring.self_url = self_url;
  wiring.self_ca_file = *tls;
  wiring.builtin_client_secret = RandomToken(32);
  wiring.error_response = [](const http::Request& req, const Status& s) {
    return IsApiPath(req.path) ? api::StatusToResponse(s) : http::ErrorResponse(s);
  };
  auto fail = [&](const std::string& what, const Status& s, int code) {
    std::fprintf(stderr, "skiff: %s: %s\n", what.c_str(), s.message().c_str());
    routes->Stop();
    serving->controller->Stop();
    server.Shutdown();
    server.Wait();
    return code;
  };
  std::optional<identity::BootstrapUser> bootstrap_user;
  if (settings.GetBool("identity.enabled")) {
    identity::ProviderOptions po;
    po.issuer = settings.GetString("identity.issuer");
    if (po.issuer.empty()) po.issuer = self_url + identity_path;
    // Browsers come back to the gateway where the provider lives: the callback registered
    // for the gateway's own client is on the issuer's origin (identity.issuer when set).
    wiring.self_url = IssuerOrigin(po.issuer);
    po.mount_path = identity_path;
    po.data_dir = data_dir;
    po.config = identity::ConfigFromSettings(settings);
    json::array clients;
    if (auto* c = po.config.if_contains("staticClients"); c && c->is_array()) {
      clients = c->get_array();
    }
    clients.emplace_back(BuiltinClient(wiring, settings));
    // `skiff login`'s public client, with loopback redirects on any port (RFC 8252), unless
    // the configuration registers its own "skiff-cli".
    bool has_cli_client = false;
    for (const auto& c : clients) has_cli_client |= GetString(c, "id") == "skiff-cli";
    if (!has_cli_client) {
      clients.emplace_back(json::object{
          {"id", "skiff-cli"},
          {"name", "skiff CLI"},
          {"public", true},
          {"redirectURIs", json::array{"http://127.0.0.1/callback", "http://[::1]/callback"}}});
    }
    po.config["staticClients"] = std::move(clients);
    // With no users configured, a first-start administrator (password shown once, kept in
    // DATA_DIR/identity/admin.password), so that the browser login works out of the box.
    auto has_entries = [&](std::string_view key) {
      const auto* v = po.config.if_contains(key);
      return v != nullptr && v->is_array() && !v->get_array().empty();
    };
    if (!has_entries("staticPasswords") && !has_entries("connectors")) {
      auto admin = identity::EnsureBootstrapUser(data_dir);
      if (!admin) return fail("identity", admin.error(), 1);
      po.config["staticPasswords"] = json::array{admin->entry};
      wiring.extra_admins.push_back(GetString(admin->entry, "email"));
      bootstrap_user = std::move(*admin);
    }
    po.store = store->get();
    po.blocking = &server.blocking_pool();
    po.cpu = &server.cpu_pool();
    auto created = identity::Provider::Create(std::move(po));
    if (created) {
      provider = std::move(*created);
      provider_ptr = provider.get();
      wiring.provider = provider.get();
      wiring.public_prefixes.push_back(identity_path);
    } else {
      return fail("identity", created.error(), 2);
    }
  }
  auto auth_or = MakeAuth(settings, wiring);
  if (!auth_or) return fail("auth", auth_or.error(), 2);
  auth_stack = std::move(*auth_or);
  gateway = auth_stack->gateway.get();
  ready = true;
  std::string url = (options.tls_only ? "https://" : "http://") + hostport_text;
  spdlog::info("browser login: {}", auth_stack->login_mode);
  if (tls->empty() || options.tls_only) {
    std::printf("skiff %s is up at %s (data in %s)\n", SKIFF_VERSION, url.c_str(),
                data_dir.c_str());
  } else {
    std::printf("skiff %s is up at %s and https://%s (data in %s; CA certificate %s)\n",
                SKIFF_VERSION, url.c_str(), hostport_text.c_str(), data_dir.c_str(), tls->c_str());
  }
  if (token_created) {
    std::printf("Admin token (shown once; saved in %s/admin.token, mode 0600):\n  %s\n",
                data_dir.c_str(), token->c_str());
  }
  if (bootstrap_user) {
    const std::string email = GetString(bootstrap_user->entry, "email");
    if (bootstrap_user->created) {
      std::printf(
          "Browser login at %s/ as %s, password (shown once; saved in %s, mode 0600):\n  %s\n",
          wiring.self_url.c_str(), email.c_str(), bootstrap_user->password_file.c_str(),
          bootstrap_user->password.c_str());
    } else {
      std::printf("Browser login at %s/ as %s (password in %s)\n", wiring.self_url.c_str(),
                  email.c_str(), bootstrap_user->password_file.c_str());
    }
  }
  if (redirect_server) {
    std::printf("HTTP redirect listener on port %u (to HTTPS)\n",
                static_cast<unsigned>(redirect_listen_port));
  }
  std::printf(
      "kubectl:  skiff kubeconfig --data-dir %s > skiff.kubeconfig && "
      "KUBECONFIG=skiff.kubeconfig kubectl get namespaces\n",
      data_dir.c_str());
  std::fflush(stdout);
  spdlog::info("listening on {}", url);
  if (settings.GetBool("demo.enabled")) {
    server.blocking_pool().Post([&resource_api, data_dir] { DeployDemo(resource_api, data_dir); });
  }
  if (on_ready) on_ready(url);

  int sig = 0;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // SIGHUP: new TLS certificate and key files for new connections; open ones keep theirs.
    if (options.tls_cert_file.empty()) {
      spdlog::info("SIGHUP: TLS is off, nothing to reload");
    } else if (Status s = server.ReloadTls(); s.ok()) {
      spdlog::info("SIGHUP: TLS certificate reloaded from {}", options.tls_cert_file);
    } else {
      spdlog::error("SIGHUP: TLS certificate not reloaded (keeping the old one): {}", s.message());
    }
  }
  spdlog::info("received {}, draining (grace {} ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               options.shutdown_grace.count());
  ready = false;
  resource_api.CloseWatches();
  routes->Stop();
  pipelines->Stop();
  profiles->Stop();
  serving->controller->Stop();
  if (redirect_server) redirect_server->Shutdown();
  server.Shutdown();
  server.Wait();
  if (access_log) access_log->Flush();
  spdlog::info("stopped");
  return 0;
}

}  // namespace skiff::cli
