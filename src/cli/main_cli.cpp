#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>

#include "cli/cli.hpp"
#include "cli/commands.hpp"
#include "cli/contributors.hpp"
#include "cli/login.hpp"
#include "cli/pipelines_cli.hpp"
#include "cli/routes.hpp"
#include "cli/server_app.hpp"
#include "cli/settings.hpp"
#include "core/log.hpp"

namespace skiff::cli {

int Main(int argc, char** argv) {
  CLI::App app{
      "skiff: the Kubeflow platform in one program. Model serving (KServe protocols), pipelines\n"
      "(KFP API), OIDC login with RBAC, an Istio-style gateway and a dashboard.\n\n"
      "Start the server with `skiff up`; talk to it with kubectl (`skiff kubeconfig`) or with\n"
      "`skiff get/apply/delete`.",
      "skiff"};
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("skiff ") + SKIFF_VERSION);

  // Settings flags: recorded only when given, so that env and file values are not overridden
  // by defaults.
  std::map<std::string, std::string> flags;
  std::string config_path;
  app.add_option("--config", config_path,
                 "settings file (default: ./skiff.yaml when present; env SKIFF_CONFIG)");
  for (const auto& spec : SettingSpecs()) {
    if (spec.flag.empty()) continue;
    std::string help = spec.help + " [env " + EnvNameFor(spec.key) + "; file key " + spec.key +
                       (spec.default_value.empty() ? "" : "; default " + spec.default_value) + "]";
    std::string flag = spec.flag;
    app.add_option_function<std::string>(
        "--" + flag, [&flags, flag](const std::string& v) { flags[flag] = v; }, help);
  }

  auto* up = app.add_subcommand("up", "start the skiff server (Ctrl-C drains and stops it)");
  app.add_subcommand("version", "print the client and server versions");
  app.add_subcommand("kubeconfig",
                     "print a kubeconfig for kubectl: skiff kubeconfig > skiff.kubeconfig && "
                     "KUBECONFIG=skiff.kubeconfig kubectl get namespaces");

  GetOptions get_opts;
  auto* get = app.add_subcommand(
      "get", "list or show resources: skiff get namespaces, skiff get ns team-a -o yaml");
  get->add_option("resource", get_opts.resource,
                  "resource type (namespaces, ns, inferenceservices, isvc, ...)")
      ->required();
  get->add_option("names", get_opts.names, "names of the objects (all when omitted)");
  get->add_option("-n,--namespace", get_opts.ns, "namespace (default: default)");
  get->add_flag("-A,--all-namespaces", get_opts.all_namespaces, "list across all namespaces");
  get->add_option("-o,--output", get_opts.output, "yaml, json, wide or name");
  get->add_option("-l,--selector", get_opts.selector, "label selector, e.g. app=web,tier!=db");

  ApplyOptions apply_opts;
  auto* apply = app.add_subcommand(
      "apply", "create or update resources from YAML or JSON: skiff apply -f ns.yaml");
  apply->add_option("-f,--filename", apply_opts.files, "file, directory or - for stdin")
      ->required();
  apply->add_option("-n,--namespace", apply_opts.ns, "namespace for objects that do not name one");

  DeleteOptions delete_opts;
  auto* del = app.add_subcommand(
      "delete", "delete resources: skiff delete ns team-a, skiff delete -f ns.yaml");
  del->add_option("resource", delete_opts.resource, "resource type");
  del->add_option("names", delete_opts.names, "names of the objects");
  del->add_option("-f,--filename", delete_opts.files, "file, directory or - for stdin");
  del->add_option("-n,--namespace", delete_opts.ns, "namespace (default: default)");
  del->add_flag("--ignore-not-found", delete_opts.ignore_not_found,
                "succeed when an object is already gone");

  CanIOptions can_i_opts;
  auto* auth = app.add_subcommand("auth", "ask the server what you may do: skiff auth can-i");
  auth->require_subcommand(1);
  auto* can_i = auth->add_subcommand(
      "can-i",
      "whether an action is allowed (exit 0 yes, 1 no): skiff auth can-i delete "
      "inferenceservices -n team-a");
  can_i
      ->add_option("verb", can_i_opts.verb,
                   "get, list, watch, create, update, patch, delete, "
                   "predict, ...")
      ->required();
  can_i
      ->add_option("resource", can_i_opts.resource,
                   "resource type (inferenceservices, isvc, rolebindings, pods/log, ...)")
      ->required();
  can_i->add_option("name", can_i_opts.name, "one object's name");
  can_i->add_option("-n,--namespace", can_i_opts.ns, "namespace (default: default)");
  can_i->add_flag("-A,--all-namespaces", can_i_opts.all_namespaces, "in all namespaces");
  can_i->add_option("--as", can_i_opts.as, "ask about this user (cluster admins only)");
  can_i->add_option("--as-group", can_i_opts.as_groups, "a group of the --as user (repeatable)");
  can_i->add_flag("-v,--verbose", can_i_opts.verbose, "print the reason too");

  LoginOptions login_opts;
  auto* login = app.add_subcommand(
      "login",
      "log in as a user (OIDC code flow with PKCE in a browser) and point kubectl at skiff as "
      "that user");
  login->add_option("--issuer", login_opts.issuer,
                    "OIDC issuer URL (default: the server's built-in provider, SERVER/dex)");
  login->add_option("--client-id", login_opts.client_id, "OIDC client id (default: skiff-cli)");
  login
      ->add_option("--client-secret", login_opts.client_secret,
                   "client secret, for a confidential client (env SKIFF_LOGIN_CLIENT_SECRET)")
      ->envname("SKIFF_LOGIN_CLIENT_SECRET");
  login->add_option("--scopes", login_opts.scopes, "space-separated scopes");
  login->add_option("--kubeconfig", login_opts.kubeconfig,
                    "kubeconfig to update (default: $KUBECONFIG, else ~/.kube/config)");
  login->add_option("--cache-dir", login_opts.cache_dir,
                    "where tokens are kept, mode 0600 (default: ~/.skiff/tokens)");
  login->add_option("--listen", login_opts.listen,
                    "loopback address for the browser's redirect (default: 127.0.0.1:0)");
  login->add_option("--timeout", login_opts.timeout, "how long to wait for the browser (5m)");
  login->add_flag("--no-browser", login_opts.no_browser, "print the URL, do not open a browser");
  login->add_flag("--exec", login_opts.exec,
                  "act as kubectl's credential plugin (the kubeconfig written by login uses it)");
  login->add_flag("--print-token", login_opts.print_token,
                  "print a valid ID token (cached, refreshed or from a new login) instead of "
                  "updating the kubeconfig");

  RoutesOptions routes_opts;
  ExplainOptions explain_opts;
  auto* routes = app.add_subcommand(
      "routes", "the gateway's routing table: skiff routes list, skiff routes explain GET /path");
  routes->require_subcommand(1);
  auto* routes_list =
      routes->add_subcommand("list", "print the effective routing table in match order");
  routes_list->add_option("-o,--output", routes_opts.output, "json (default: a table)");
  auto* routes_explain = routes->add_subcommand(
      "explain",
      "show, without sending it, how a request would be routed and authorized: skiff routes "
      "explain POST /kfserving/team-a/sklearn-iap:predict -H 'Host: example.com'");
  routes_explain->add_option("method", explain_opts.method, "GET, POST, ...")->required();
  routes_explain->add_option("url", explain_opts.url, "/path?query or http://host/path?query")
      ->required();
  routes_explain->add_option("-H,--header", explain_opts.headers, "a header: 'Name: value'");
  routes_explain->add_option("--as", explain_opts.as, "explain as this user (admins only)");
  routes_explain->add_option("--as-group", explain_opts.as_groups,
                             "a group of the --as user (repeatable)");
  routes_explain->add_option("--token", explain_opts.token,
                             "explain as the bearer of this token (JWT or skiff token)");
  routes_explain->add_option("-o,--output", explain_opts.output, "json (default: text)");

  ContributorsOptions contrib_opts;
  auto* contributors = app.add_subcommand(
      "contributors",
      "share a namespace (Kubeflow's contributors, through the kfam API): skiff contributors add "
      "team-a bob@example.com --role view");
  contributors->require_subcommand(1);
  auto* contrib_list = contributors->add_subcommand("list", "the contributors of a namespace");
  contrib_list->add_option("namespace", contrib_opts.ns, "the namespace")->required();
  contrib_list->add_option("-o,--output", contrib_opts.output, "json (default: a table)");
  auto* contrib_add = contributors->add_subcommand(
      "add", "give USER a role in NAMESPACE (its owner or a cluster admin may)");
  contrib_add->add_option("namespace", contrib_opts.ns, "the namespace")->required();
  contrib_add->add_option("user", contrib_opts.user, "the user (e-mail)")->required();
  contrib_add->add_option("--role", contrib_opts.role, "view, edit or admin (default: edit)");
  auto* contrib_remove =
      contributors->add_subcommand("remove", "take USER's role(s) in NAMESPACE away");
  contrib_remove->add_option("namespace", contrib_opts.ns, "the namespace")->required();
  contrib_remove->add_option("user", contrib_opts.user, "the user (e-mail)")->required();
  contrib_remove->add_option("--role", contrib_opts.role,
                             "view, edit or admin (default: every role they hold)");

  PipelinesCommands pipelines_cmds(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto settings = LoadSettings(config_path, flags);
  if (!settings) {
    std::fprintf(stderr, "skiff: %s\n", settings.error().message().c_str());
    return 2;
  }
  InitLogging(settings->GetString("log.level"), settings->GetString("log.format"));

  const std::string& cmd = app.get_subcommands().front()->get_name();
  if (cmd == "up") {
    (void)up;
    return RunServer(*settings);
  }
  if (cmd == "version") return RunVersion(*settings);
  if (cmd == "kubeconfig") return RunKubeconfig(*settings);
  if (cmd == "get") return RunGet(*settings, get_opts);
  if (cmd == "apply") return RunApply(*settings, apply_opts);
  if (cmd == "delete") return RunDelete(*settings, delete_opts);
  if (cmd == "login") return RunLogin(*settings, login_opts);
  if (cmd == "auth") return RunAuthCanI(*settings, can_i_opts);
  if (cmd == "routes") {
    if (routes_list->parsed()) return RunRoutesList(*settings, routes_opts);
    return RunRoutesExplain(*settings, explain_opts);
  }
  if (auto rc = pipelines_cmds.Run(*settings)) return *rc;
  if (cmd == "contributors") {
    if (contrib_list->parsed()) return RunContributorsList(*settings, contrib_opts);
    if (contrib_add->parsed()) return RunContributorsAdd(*settings, contrib_opts);
    return RunContributorsRemove(*settings, contrib_opts);
  }
  (void)routes_explain;
  (void)contrib_remove;
  (void)get;
  (void)apply;
  (void)del;
  (void)login;
  (void)can_i;
  return 2;
}

}  // namespace skiff::cli
