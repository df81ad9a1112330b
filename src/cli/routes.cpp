#include "cli/routes.hpp"

#include <cstdio>

#include "cli/api_client.hpp"
#include "gateway/explain.hpp"
#include "http/http.hpp"

namespace skiff::cli {

namespace {

// The token to explain travels in gateway::kExplainTokenHeader, never in the query (URLs end
// up in logs).
using gateway::kExplainTokenHeader;

// Prints a successful answer; errors in the words the server used.
int Print(Result<http::ClientResponse> resp) {
  if (!resp) return Fail(resp.error());
  if (resp->status / 100 != 2) return Fail(ServerError(*resp));
  std::fwrite(resp->body.data(), 1, resp->body.size(), stdout);
  if (!resp->body.empty() && resp->body.back() != '\n') std::fputc('\n', stdout);
  return 0;
}

std::string AcceptFor(const std::string& output) {
  return output == "json" ? "application/json" : "text/plain";
}

Status CheckOutput(const std::string& output) {
  if (output.empty() || output == "json") return Status::Ok();
  return InvalidArgument("unknown output format \"" + output + "\": use json or leave it out");
}

}  // namespace

int RunRoutesList(const Settings& settings, const RoutesOptions& options) {
  if (Status s = CheckOutput(options.output); !s.ok()) return Fail(s);
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  return Print(client->Do("GET", "/api/skiff/routes", {}, {}, AcceptFor(options.output)));
}

int RunRoutesExplain(const Settings& settings, const ExplainOptions& options) {
  if (Status s = CheckOutput(options.output); !s.ok()) return Fail(s);
  if (!options.as.empty() && !options.token.empty()) {
    return Fail(InvalidArgument("give --as or --token, not both"));
  }
  std::string query =
      "method=" + http::PercentEncode(options.method) + "&url=" + http::PercentEncode(options.url);
  for (const auto& h : options.headers) {
    if (h.find(':') == std::string::npos) {
      return Fail(InvalidArgument("header \"" + h + "\" is not of the form 'Name: value'"));
    }
    query += "&header=" + http::PercentEncode(h);
  }
  if (!options.as.empty()) query += "&as=" + http::PercentEncode(options.as);
  if (!options.as_groups.empty()) {
    if (options.as.empty()) return Fail(InvalidArgument("--as-group needs --as"));
    std::string groups;
    for (const auto& g : options.as_groups) groups += (groups.empty() ? "" : ",") + g;
    query += "&asGroups=" + http::PercentEncode(groups);
  }
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  http::HeaderMap extra;
  if (!options.token.empty()) extra.Set(kExplainTokenHeader, options.token);
  return Print(
      client->Do("GET", "/api/skiff/explain?" + query, {}, {}, AcceptFor(options.output), extra));
}

}  // namespace skiff::cli
