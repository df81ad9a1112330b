#pragma once
// Dispatcher: request-flow steps 4 and 6 (DESIGN.md) for requests the authenticator chain let
// through: routes them with the current RouteTable (following re-entries through skiff's own
// gateway hosts, at most RouteTable::kMaxReenter times), applies the route's rewrites, header
// operations, fault delay/abort and time-out, and dispatches to an in-process service or the
// reverse proxy, or answers a redirect, direct response or 404 itself.
//
// A request that matches nothing gets 404: JSON naming the closest candidate routes for API
// clients, a short HTML page for browsers (Accept: text/html). A re-entry loop gets 508.
//
// Threading: immutable after construction; Handle may run on any number of I/O threads at once
// and never blocks. Services are called on the calling thread (or the timer thread after a
// fault delay) and must not block, like any http::Handler.

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "authz/authz.hpp"
#include "gateway/proxy.hpp"
#include "gateway/route_table.hpp"
#include "gateway/timers.hpp"
#include "http/http.hpp"

namespace skiff::gateway {

// In-process services by the id built-in routes name ("api", "identity", "serving", ...).
using ServiceMap = std::map<std::string, http::Handler, std::less<>>;

// What routing decided for a request, re-entries followed.
struct RoutePlan {
  Decision decision;  // the final hop's decision
  // The table that made it: the decision's views (Decision::source) point into it.
  std::shared_ptr<const RouteTable> table;
  RouteRequest request;  // the request as the final hop dispatches it (rewrites applied)
  int hops = 1;          // 1 + re-entries
  bool loop = false;     // re-entered more than kMaxReenter times (508)
  // Response header operations of every hop, outermost first.
  std::vector<HeaderOp> response_headers;
  std::optional<std::chrono::milliseconds> timeout;  // the tightest of the hops'
  std::chrono::milliseconds delay{0};                // fault delays of every hop, summed
  // The VirtualServices whose routes the request took, outermost first ("ns", "name"): views
  // of the table's, like Decision::vs_namespace and vs_name. At most one per hop.
  std::array<std::pair<std::string_view, std::string_view>, RouteTable::kMaxReenter + 1>
      virtual_service_slots{};
  size_t virtual_service_count = 0;
  std::span<const std::pair<std::string_view, std::string_view>> virtual_services() const {
    return {virtual_service_slots.data(), virtual_service_count};
  }
};

// The request as routing sees it: method, normalized path, raw query, Host, scheme, and
// `headers` (the request's own: a copy, or moved out of it by a caller that puts them back).
RouteRequest RouteRequestFrom(const http::Request& req, http::HeaderMap headers);
// The same written into `out` (a default RouteRequest), with the path and query given (a
// caller that puts them back moves the request's own in).
void FillRouteRequest(const http::Request& req, http::HeaderMap&& headers, std::string&& path,
                      std::string&& query, RouteRequest& out);
inline RouteRequest RouteRequestFrom(const http::Request& req) {
  return RouteRequestFrom(req, req.headers);
}
// Keeps the client's X-Request-Id when it is well-formed (1-128 visible ASCII characters),
// else sets a new random UUID; records it in req.notes (when set).
void EnsureRequestId(http::Request& req);

class Dispatcher;

struct DispatcherOptions {
  std::string upstream_ca_file;  // extra trust anchor for https upstreams; "" = system store
  // A body the listener streamed (for an upstream) that ends at an in-process service is
  // collected first, up to this size (413 above): the listener's http.maxBodyBytes.
  size_t max_collected_body_bytes = 8 * 1024 * 1024;
  // Authorization of VirtualService routes (null: none, for tests of routing alone). A route
  // of a VirtualService in namespace NS may be taken by those who may "get" that
  // VirtualService (networking.istio.io virtualservices in NS: every role of NS, as Kubeflow's
  // AuthorizationPolicies let a namespace's contributors reach its workloads). Every
  // VirtualService on the way decides (re-entries included); a refusal is 403 with flag UAEX.
  // What the destination itself allows (a model's "predict", the API's RBAC) is the
  // destination's to decide. Must outlive the Dispatcher.
  const authz::Authorizer* authorizer = nullptr;
};

// The authorization a VirtualService route needs (see DispatcherOptions::authorizer).
authz::Attributes VirtualServiceAttributes(const std::string& ns, const std::string& name);

// Whether the listener should stream this request's body (ServerOptions::stream_body): it has
// one and routing sends it to an upstream, which gets it as it arrives.
bool ShouldStreamBody(const Dispatcher& dispatcher, const http::Request& head);

class Dispatcher {
 public:
  using TableSource = std::function<std::shared_ptr<const RouteTable>()>;
  // `proxy` and `timers` must outlive the Dispatcher; `table` is called once per request.
  Dispatcher(TableSource table, ServiceMap services, const Proxy* proxy, Timers* timers,
             DispatcherOptions options = {});

  // Routes `req` (req.path is normalized by the server) and answers through `respond`.
  void Handle(http::Request& req, http::Responder respond) const;

  // Routing only: what Handle would do with `request`, following re-entries; with `hops`, one
  // Trace per routing pass (the first for the request as sent, then one per re-entry). Sends
  // nothing.
  RoutePlan Plan(RouteRequest request, Random& random, std::vector<Trace>* hops = nullptr) const;

  std::shared_ptr<const RouteTable> table() const { return table_(); }

 private:
  // What routing changed of a request, kept for Handle only when it changes (the usual request
  // is routed as it came: its path and query are moved into routing and back, not copied).
  struct Original {
    bool rewritten = false;  // some hop changed the path or query: path and query hold them
    std::string path, query;
    http::HeaderMap headers;  // the headers as sent, when the first hop re-entered (the only
                              // way an unrouted plan holds changed headers)
  };
  // Plan for plan.request (routed in place: the request as the final hop dispatches it), and
  // with `original`: what the request was before routing changed it (see Original). REQUIRES:
  // `plan` is a default RoutePlan but for its request.
  void PlanInPlace(RoutePlan& plan, Random& random, std::vector<Trace>* hops,
                   Original* original) const;
  void Dispatch(std::shared_ptr<http::Request> req, RoutePlan&& plan,
                http::Responder respond) const;
  void Mirror(const http::Request& req, const Decision& d) const;
  void CollectBody(std::shared_ptr<http::BodySource> source, std::shared_ptr<http::Request> req,
                   RoutePlan plan, http::Responder respond) const;

  TableSource table_;
  ServiceMap services_;
  const Proxy* proxy_;
  Timers* timers_;
  DispatcherOptions options_;
};

}  // namespace skiff::gateway
