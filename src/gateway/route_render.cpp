// Rendering of routing decisions, traces and the route list (JSON for the API, text for the CLI).

#include <algorithm>
#include <array>

#include "gateway/route_internal.hpp"
#include "gateway/route_table.hpp"

namespace skiff::gateway {

using internal::DescribeDestination;
using internal::DescribeOp;
using internal::Join;
using internal::OpName;

std::string_view Decision::KindName(Kind k) {
  switch (k) {
    case Kind::kService:
      return "service";
    case Kind::kReenter:
      return "reenter";
    case Kind::kUpstream:
      return "upstream";
    case Kind::kRedirect:
      return "redirect";
    case Kind::kDirectResponse:
      return "direct_response";
    case Kind::kAbort:
      return "abort";
    case Kind::kNoRoute:
      return "no_route";
  }
  return "";
}

namespace {

json::array OpsToJson(const std::vector<HeaderOp>& ops) {
  json::array out;
  for (const auto& op : ops) {
    json::object o;
    o["op"] = OpName(op.kind);
    o["name"] = op.name;
    if (op.kind != HeaderOp::Kind::kRemove) o["value"] = op.value;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

json::object Decision::ToJson() const {
  json::object o;
  o["kind"] = KindName(kind);
  if (kind == Kind::kNoRoute) {
    json::array c;
    for (const auto& s : candidates) c.push_back(json::string(s));
    o["candidates"] = std::move(c);
    return o;
  }
  o["route"] = route_name;
  o["source"] = source;
  if (!service.empty()) o["service"] = service;
  o["path"] = path;
  if (!query.empty()) o["query"] = query;
  o["authority"] = authority;
  if (!request_headers.empty()) o["requestHeaders"] = OpsToJson(request_headers);
  if (!response_headers.empty()) o["responseHeaders"] = OpsToJson(response_headers);
  if (destination) {
    json::object d;
    d["host"] = destination->host;
    if (!destination->subset.empty()) d["subset"] = destination->subset;
    d["port"] = port;
    o["destination"] = std::move(d);
  }
  if (!upstream.empty()) o["upstream"] = upstream;
  if (timeout) o["timeout"] = FormatDuration(*timeout);
  if (retries) {
    json::object r;
    r["attempts"] = retries->attempts;
    if (retries->per_try_timeout) r["perTryTimeout"] = FormatDuration(*retries->per_try_timeout);
    if (!retries->retry_on.empty()) r["retryOn"] = retries->retry_on;
    o["retries"] = std::move(r);
  }
  if (delay) o["faultDelay"] = FormatDuration(*delay);
  if (mirror) {
    json::object m;
    m["host"] = mirror->host;
    m["upstream"] = mirror_upstream;
    o["mirror"] = std::move(m);
  }
  if (status) o["status"] = status;
  if (!location.empty()) o["location"] = location;
  if (kind == Kind::kDirectResponse) o["body"] = body;
  if (cors_preflight) o["corsPreflight"] = true;
  return o;
}

std::string Decision::ToText() const {
  std::string out;
  auto line = [&](std::string_view label, const std::string& value) {
    out += std::string(label);
    out.append(label.size() < 14 ? 14 - label.size() : 1, ' ');
    out += value + "\n";
  };
  if (kind == Kind::kNoRoute) {
    line("decision:", "no route (404)");
    if (!candidates.empty()) line("closest:", Join(candidates, ", "));
    return out;
  }
  line("route:", route_name + " (" + std::string(source) + ")");
  switch (kind) {
    case Kind::kService:
      line("decision:", "in-process service " + service);
      break;
    case Kind::kReenter:
      line("decision:", "re-enter routing as " + authority + path);
      break;
    case Kind::kUpstream:
      line("decision:", "proxy to upstream " + upstream);
      break;
    case Kind::kRedirect:
      line("decision:", "redirect " + std::to_string(status) + " to " + location);
      break;
    case Kind::kDirectResponse:
      line("decision:", std::string(cors_preflight ? "CORS preflight answered " : "respond ") +
                            std::to_string(status));
      break;
    case Kind::kAbort:
      line("decision:", "fault abort " + std::to_string(status));
      break;
    case Kind::kNoRoute:
      break;
  }
  line("path:", path + (query.empty() ? "" : "?" + query));
  line("authority:", authority.empty() ? "(none)" : authority);
  if (destination) line("destination:", DescribeDestination(*destination));
  for (const auto& op : request_headers) line("request hdr:", DescribeOp(op));
  for (const auto& op : response_headers) line("response hdr:", DescribeOp(op));
  if (timeout) line("timeout:", FormatDuration(*timeout));
  if (retries) {
    std::string r = std::to_string(retries->attempts) + " attempts";
    if (retries->per_try_timeout) r += ", " + FormatDuration(*retries->per_try_timeout) + " each";
    if (!retries->retry_on.empty()) r += ", on " + retries->retry_on;
    line("retries:", r);
  }
  if (delay) line("fault delay:", FormatDuration(*delay));
  if (mirror) line("mirror:", mirror->host + " (" + mirror_upstream + ")");
  return out;
}

json::object Trace::ToJson() const {
  json::object o;
  o["host"] = host;
  json::array steps_json;
  for (const auto& s : steps) {
    json::object step;
    step["route"] = s.route;
    step["source"] = s.source;
    step["matched"] = s.matched;
    step["reason"] = s.reason;
    steps_json.push_back(std::move(step));
  }
  o["tried"] = std::move(steps_json);
  json::array actions_json;
  for (const auto& a : actions) actions_json.push_back(json::string(a));
  o["actions"] = std::move(actions_json);
  return o;
}

std::string Trace::ToText() const {
  std::string out = "host: " + (host.empty() ? std::string("(none)") : host) + "\n";
  out += "routes tried:\n";
  for (const auto& s : steps) {
    out += std::string(s.matched ? "  + " : "  - ") + s.route + " (" + s.source + "): " + s.reason +
           "\n";
  }
  if (!actions.empty()) {
    out += "actions:\n";
    for (const auto& a : actions) out += "  " + a + "\n";
  }
  return out;
}

json::array RowsToJson(const std::vector<RouteRow>& rows) {
  json::array out;
  for (const auto& r : rows) {
    json::object o;
    o["order"] = r.order;
    o["name"] = r.name;
    o["source"] = r.source;
    o["hosts"] = r.hosts;
    o["match"] = r.match;
    o["destination"] = r.destination;
    out.push_back(std::move(o));
  }
  return out;
}

std::string RowsToText(const std::vector<RouteRow>& rows) {
  std::vector<std::array<std::string, 6>> cells;
  cells.push_back({"#", "ROUTE", "SOURCE", "HOSTS", "MATCH", "DESTINATION"});
  for (const auto& r : rows) {
    cells.push_back({std::to_string(r.order), r.name, r.source, r.hosts, r.match, r.destination});
  }
  std::array<size_t, 6> width{};
  for (const auto& row : cells) {
    for (size_t i = 0; i < 6; ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < 6; ++i) {
      line += row[i];
      if (i + 1 < 6) line.append(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace skiff::gateway
