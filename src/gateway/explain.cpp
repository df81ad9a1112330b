#include "gateway/explain.hpp"

#include <algorithm>

#include "core/json.hpp"

namespace skiff::gateway {

namespace {

struct ParsedUrl {
  std::string scheme;     // "" for an origin-form URL
  std::string authority;  // "" for an origin-form URL
  std::string path;       // raw, as given
  std::string query;
};

Result<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl out;
  if (url.empty()) return InvalidArgument("url: give the path to explain, e.g. /v1/models/x");
  size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    out.scheme = ToLower(url.substr(0, scheme_end));
    if (out.scheme != "http" && out.scheme != "https") {
      return InvalidArgument("url: scheme must be http or https, not \"" + out.scheme + "\"");
    }
    url.remove_prefix(scheme_end + 3);
    size_t slash = url.find_first_of("/?");
    out.authority = std::string(url.substr(0, slash));
    if (out.authority.empty()) return InvalidArgument("url: no host after " + out.scheme + "://");
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
    if (url.front() == '?') {
      out.path = "/";
      out.query = std::string(url.substr(1));
      return out;
    }
  }
  if (url.front() != '/') return InvalidArgument("url: must start with '/' or http(s)://");
  size_t q = url.find('?');
  out.path = std::string(url.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(url.substr(q + 1));
  return out;
}

json::object PrincipalJson(const Principal& p) {
  json::array groups;
  for (const auto& g : p.groups) groups.emplace_back(g);
  return json::object{{"user", p.name},
                      {"groups", std::move(groups)},
                      {"method", p.method},
                      {"admin", p.cluster_admin}};
}

// The message of a refusal the authenticator answered, from its JSON or text body.
std::string RefusalMessage(const http::Response& r) {
  if (auto body = ParseJson(r.body); body && body->is_object()) {
    std::string m = GetString(*body, "message");
    if (!m.empty()) return m;
  }
  if (r.status == 302 || r.status == 303) {
    return "a browser would be sent to log in (" + std::to_string(r.status) + " to " +
           std::string(r.headers.Get("Location").value_or("")) + ")";
  }
  std::string body = r.body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body;
}

bool IsAuthenticatorPath(const auth::Gateway& g, std::string_view path) {
  const auth::GatewayConfig& c = g.config();
  auto under = [&](std::string_view p) {
    return !p.empty() && (path == p || (path.substr(0, p.size()) == p && path.size() > p.size() &&
                                        path[p.size()] == '/'));
  };
  return under(c.logout_path) || under(c.login_path) || under("/authservice");
}

}  // namespace

Result<ExplainRequest> ParseExplainRequest(const http::Request& req) {
  ExplainRequest out;
  if (auto m = req.Query("method"); m && !m->empty()) {
    out.method = *m;
    std::transform(out.method.begin(), out.method.end(), out.method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (!IsValidHeaderName(out.method)) {
      return InvalidArgument("method: \"" + *m + "\" is not an HTTP method");
    }
  }
  auto url = req.Query("url");
  if (!url || url->empty()) return InvalidArgument("url: required (the URL to explain)");
  out.url = *url;
  // Every header=Name:value parameter, in order.
  std::string_view query = req.raw_query;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != "header") continue;
    auto value = http::PercentDecode(pair.substr(eq + 1), true);
    if (!value) return InvalidArgument("header: malformed percent-escape");
    size_t colon = value->find(':');
    if (colon == std::string::npos) {
      return InvalidArgument("header: \"" + *value + "\" is not of the form 'Name: value'");
    }
    std::string name = value->substr(0, colon);
    std::string v = value->substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (!IsValidHeaderName(name)) return InvalidArgument("header: invalid name \"" + name + "\"");
    if (!IsValidHeaderValue(v)) return InvalidArgument("header: invalid value for " + name);
    out.headers.emplace_back(std::move(name), std::move(v));
  }
  if (auto as = req.Query("as"); as && !as->empty()) out.as_user = *as;
  if (auto groups = req.Query("asGroups"); groups && !groups->empty()) {
    if (!out.as_user) return InvalidArgument("asGroups: needs as");
    std::string_view rest = *groups;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view g = rest.substr(0, comma);
      if (!g.empty()) out.as_groups.emplace_back(g);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  if (auto t = req.headers.Get(kExplainTokenHeader); t && !t->empty()) {
    std::string token(*t);
    if (token.rfind("Bearer ", 0) == 0) token.erase(0, 7);
    out.token = std::move(token);
  }
  if (out.as_user && out.token) return InvalidArgument("as: give as or a token, not both");
  return out;
}

// Accumulates the readable form as the explanation is built.
class TextOut {
 public:
  void Line(std::string_view label, const std::string& value) {
    std::string l(label);
    if (l.size() < 17) l.resize(17, ' ');
    text_ += l + value + "\n";
  }
  void Indented(const std::string& block) {
    size_t start = 0;
    while (start < block.size()) {
      size_t nl = block.find('\n', start);
      text_ += "  " + block.substr(start, nl == std::string::npos ? nl : nl - start) + "\n";
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string DescribePrincipal(const Principal& p) {
  std::string who = p.name + " (" + p.method;
  std::string groups;
  for (const auto& g : p.groups) groups += (groups.empty() ? "" : ", ") + g;
  if (!groups.empty()) who += "; groups " + groups;
  if (p.cluster_admin) who += "; administrator";
  return who + ")";
}

Result<Explanation> Explain(const ExplainRequest& what, const http::Request& caller,
                            const ExplainContext& context) {
  SKIFF_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(what.url));
  if (what.as_user && !(caller.principal && caller.principal->cluster_admin)) {
    return PermissionDenied("explaining as another user (as=" + *what.as_user +
                            ") is for administrators");
  }
  Explanation ex;
  json::object& out = ex.json;
  TextOut text;
  // 1. The request as described.
  http::Request fake;
  fake.method = what.method;
  fake.raw_query = url.query;
  fake.target = url.path + (url.query.empty() ? "" : "?" + url.query);
  fake.remote_addr = caller.remote_addr;
  fake.tls = url.scheme.empty() ? caller.tls : url.scheme == "https";
  for (const auto& [name, value] : what.headers) fake.headers.Add(name, value);
  if (!fake.headers.Has("Host")) {
    std::string host = url.authority.empty() ? std::string(caller.headers.Get("Host").value_or(""))
                                             : url.authority;
    if (!host.empty()) fake.headers.Set("Host", host);
  }
  if (what.token) fake.headers.Set("Authorization", "Bearer " + *what.token);
  std::string host(fake.headers.Get("Host").value_or(""));
  out["request"] = json::object{{"method", fake.method}, {"url", what.url}, {"host", host}};
  text.Line("Request:",
            fake.method + " " + what.url + (host.empty() ? "" : " (Host " + host + ")"));

  // 2. Path normalization (the listener refuses what does not normalize).
  auto normalized = http::NormalizePath(url.path);
  if (!normalized) {
    out["normalizedPath"] = nullptr;
    out["refused"] = json::object{{"code", 400}, {"reason", normalized.error().message()}};
    out["summary"] = "refused before routing: 400 " + normalized.error().message();
    text.Line("Normalized path:", "refused: 400 " + normalized.error().message());
    ex.text = text.Take();
    return ex;
  }
  fake.path = *normalized;
  out["normalizedPath"] = fake.path;
  text.Line("Normalized path:", fake.path);

  // 3. Identity.
  json::object identity;
  std::optional<Principal> principal;
  bool public_route = false;
  std::optional<int> refused;
  std::string reason;
  std::string result;
  bool own_credentials =
      what.token || fake.headers.Has("Authorization") || fake.headers.Has("Cookie") || what.as_user;
  if (context.auth != nullptr && IsAuthenticatorPath(*context.auth, fake.path)) {
    result = "authenticator";
    reason =
        "the authenticator chain answers this path itself (login, logout or the OIDC "
        "callback); it is described, not run";
    public_route = true;
  } else if (what.as_user) {
    principal = Principal{*what.as_user, what.as_groups, "impersonation", false};
    if (context.is_admin) principal->cluster_admin = context.is_admin(*principal);
    result = "impersonated";
    reason = "as=" + *what.as_user + ", asked by administrator " + caller.principal->name;
  } else if (context.auth == nullptr) {
    public_route = true;
    result = "anonymous";
    reason = "no authentication configured";
  } else {
    http::Request probe = fake;
    auth::Captured captured = context.auth->CaptureAndStrip(probe);
    auth::Decision d = context.auth->Decide(probe, captured, /*may_block=*/true);
    if (d.kind == auth::Decision::Kind::kContinue && !d.principal) {
      public_route = true;
      result = "public";
      reason = "public route: no identity needed";
    } else if (d.kind == auth::Decision::Kind::kContinue) {
      principal = d.principal;
      result = "authenticated";
      reason = "by " + d.principal->method;
    } else if (!own_credentials && caller.principal) {
      principal = caller.principal;
      result = "caller";
      reason = "no credentials given: explained as the caller";
    } else {
      refused = d.response.status;
      result = "refused";
      reason = d.detail.empty() ? RefusalMessage(d.response) : d.detail;
    }
  }
  identity["result"] = result;
  identity["reason"] = reason;
  if (refused) identity["code"] = *refused;
  if (principal) identity["principal"] = PrincipalJson(*principal);
  out["identity"] = std::move(identity);
  text.Line("Identity:",
            (principal ? DescribePrincipal(*principal) + ": " : result + ": ") + reason);
  if (refused) {
    out["summary"] = "refused by the authenticator: " + std::to_string(*refused) + " " + reason;
    text.Line("Result:", "refused by the authenticator (" + std::to_string(*refused) + ")");
    ex.text = text.Take();
    return ex;
  }

  // 4. Routing, every hop.
  RouteRequest rr = RouteRequestFrom(fake);
  rr.headers.Remove("Authorization");
  if (principal && context.auth != nullptr) {
    // Services see the identity headers the gateway sets, and routes may match on them.
    const auth::GatewayConfig& c = context.auth->config();
    rr.headers.Set(c.user_id_header, c.user_id_prefix + principal->name);
    std::string groups;
    for (const auto& g : principal->groups) groups += (groups.empty() ? "" : ",") + g;
    if (!groups.empty()) rr.headers.Set(c.groups_header, groups);
  }
  std::vector<Trace> hops;
  RoutePlan plan = context.dispatcher->Plan(std::move(rr), ThreadLocalRandom(), &hops);
  json::array routing;
  for (size_t i = 0; i < hops.size(); ++i) {
    routing.push_back(hops[i].ToJson());
    text.Line(i == 0 ? "Routing:" : "Re-entered:",
              i == 0 ? "" : "(pass " + std::to_string(i + 1) + ")");
    text.Indented(hops[i].ToText());
  }
  out["routing"] = std::move(routing);
  json::object decision = plan.decision.ToJson();
  decision["hops"] = plan.hops;
  if (plan.loop) decision["loop"] = true;
  if (plan.timeout) decision["effectiveTimeout"] = FormatDuration(*plan.timeout);
  std::string sent_as = plan.request.method + " " + plan.request.authority + plan.request.path +
                        (plan.request.query.empty() ? "" : "?" + plan.request.query);
  decision["finalRequest"] = json::object{{"method", plan.request.method},
                                          {"path", plan.request.path},
                                          {"query", plan.request.query},
                                          {"authority", plan.request.authority}};
  std::string destination;
  switch (plan.decision.kind) {
    case Decision::Kind::kService:
      destination = "in-process service " + plan.decision.service;
      if (context.describe_service) {
        std::string more = context.describe_service(plan.decision, plan.request);
        if (!more.empty()) destination += ": " + more;
      }
      break;
    case Decision::Kind::kUpstream:
      destination = "upstream " + plan.decision.upstream;
      break;
    case Decision::Kind::kRedirect:
      destination =
          "redirect " + std::to_string(plan.decision.status) + " to " + plan.decision.location;
      break;
    case Decision::Kind::kDirectResponse:
      destination = "direct response " + std::to_string(plan.decision.status);
      break;
    case Decision::Kind::kAbort:
      destination = "fault abort " + std::to_string(plan.decision.status);
      break;
    case Decision::Kind::kNoRoute:
      destination = "none: 404";
      break;
    case Decision::Kind::kReenter:
      destination = "re-enter";
      break;
  }
  if (plan.loop) destination = "none: routing loop (508)";
  decision["destination"] = destination;
  out["decision"] = std::move(decision);
  text.Line("Decision:", "");
  text.Indented(plan.decision.ToText());
  text.Line("Destination:", destination);
  if (plan.decision.kind != Decision::Kind::kNoRoute && !plan.loop) text.Line("Sent as:", sent_as);
  if (plan.timeout) text.Line("Timeout:", FormatDuration(*plan.timeout));

  // 5. Authorization.
  std::string authz_result, rule;
  json::array authz_checks;
  if (plan.decision.kind == Decision::Kind::kNoRoute || plan.loop) {
    authz_result = "not reached";
    rule = "-";
    reason = "there is no destination";
  } else if (public_route) {
    authz_result = "allow";
    rule = "public";
    reason = "public route: no identity needed";
  } else if (context.authorizer == nullptr) {
    authz_result = "allow";
    rule = principal->cluster_admin ? "cluster-admin" : "authenticated";
    reason = principal->cluster_admin ? principal->name + " is a skiff administrator"
                                      : "every authenticated user may use this route (no "
                                        "authorization is configured)";
  } else {
    // The same checks, in the same order, as the request would meet: every VirtualService on
    // the way (dispatcher), then the destination's own.
    std::vector<std::pair<std::string, authz::Attributes>> checks;
    for (const auto& [ns_view, name_view] : plan.virtual_services()) {
      const std::string ns(ns_view), name(name_view);
      checks.emplace_back("route of VirtualService " + ns + "/" + name,
                          VirtualServiceAttributes(ns, name));
    }
    if (context.destination_attributes) {
      if (auto a = context.destination_attributes(plan.decision, plan.request)) {
        checks.emplace_back("destination", std::move(*a));
      }
    }
    json::array checked;
    authz_result = "allow";
    rule = "authenticated";
    reason = "every authenticated user may use this destination";
    for (const auto& [what_for, attributes] : checks) {
      authz::Decision d = context.authorizer->Decide(*principal, attributes);
      checked.push_back(json::object{{"for", what_for},
                                     {"attributes", attributes.ToString()},
                                     {"result", d.allowed ? "allow" : "deny"},
                                     {"rule", d.rule},
                                     {"reason", d.reason}});
      rule = d.rule.empty() ? "-" : d.rule;
      reason = what_for + ": " + d.reason;
      if (!d.allowed) {
        authz_result = "deny";
        break;
      }
    }
    authz_checks = std::move(checked);
  }
  out["authorization"] = json::object{{"result", authz_result}, {"rule", rule}, {"reason", reason}};
  if (!authz_checks.empty()) out["authorization"].as_object()["checks"] = std::move(authz_checks);
  out["summary"] = authz_result + ": " + destination;
  text.Line("Authorization:", authz_result + " (rule " + rule + "): " + reason);
  ex.text = text.Take();
  return ex;
}

}  // namespace skiff::gateway
