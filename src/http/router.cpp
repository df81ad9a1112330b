#include "http/router.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <exception>

#include "core/log.hpp"

namespace skiff::http {

namespace {

bool MethodAllowed(const std::vector<std::string>& methods, const std::string& method) {
  if (methods.empty()) return true;
  for (const auto& m : methods) {
    if (m == method) return true;
    // A route that serves GET also serves HEAD; the server drops the body.
    if (method == "HEAD" && m == "GET") return true;
  }
  return false;
}

Response CallSync(const SyncHandler& h, Request& req) {
  try {
    return h(req);
  } catch (const std::exception& e) {
    SPDLOG_ERROR("handler for route {} threw: {}", req.route, e.what());
  } catch (...) {
    SPDLOG_ERROR("handler for route {} threw a non-exception", req.route);
  }
  return ErrorResponse(Internal("handler threw"));
}

// Runs `h` on `pool`. The request is moved into the task (the caller's Request& dies when the
// handler returns); the fields the server reads afterwards are copied back.
Handler OnPool(SyncHandler h, TaskRunner* pool) {
  SKIFF_CHECK(pool != nullptr);
  return [h = std::move(h), pool](Request& req, Responder respond) {
    auto owned = std::make_shared<Request>(std::move(req));
    req.method = owned->method;
    req.route = owned->route;
    req.path = owned->path;
    req.path_rest = owned->path_rest;
    req.keep_alive = owned->keep_alive;
    pool->Post([h, owned, respond = std::move(respond)]() { respond(CallSync(h, *owned)); });
  };
}

}  // namespace

void Router::Add(std::vector<std::string> methods, std::string pattern, Handler handler,
                 std::string name) {
  Route r;
  r.methods = std::move(methods);
  r.name = name.empty() ? pattern : std::move(name);
  if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, "/*") == 0) {
    r.prefix = true;
    pattern.resize(pattern.size() - 2);
  }
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Router::Add(std::vector<std::string> methods, std::string pattern, SyncHandler handler,
                 Execution exec, std::string name) {
  Handler h;
  switch (exec) {
    case Execution::kInline:
      h = [handler = std::move(handler)](Request& req, Responder respond) {
        respond(CallSync(handler, req));
      };
      break;
    case Execution::kBlocking:
      h = OnPool(std::move(handler), blocking_);
      break;
    case Execution::kCpu:
      h = OnPool(std::move(handler), cpu_);
      break;
  }
  Add(std::move(methods), std::move(pattern), std::move(h), std::move(name));
}

// Longest pattern wins; at equal length an exact pattern beats a prefix one. Returns a route
// carrying the winning pattern (the caller then picks among routes with that pattern by method).
const Router::Route* Router::Match(const std::string& path, bool* path_matched) const {
  const Route* best = nullptr;
  for (const Route& r : routes_) {
    bool matches;
    if (r.prefix) {
      matches = path.compare(0, r.pattern.size(), r.pattern) == 0 &&
                (path.size() == r.pattern.size() || path[r.pattern.size()] == '/');
    } else {
      matches = path == r.pattern;
    }
    if (!matches) continue;
    if (best == nullptr || r.pattern.size() > best->pattern.size() ||
        (r.pattern.size() == best->pattern.size() && best->prefix && !r.prefix)) {
      best = &r;
    }
  }
  *path_matched = best != nullptr;
  return best;
}

void Router::Dispatch(Request& req, Responder respond) const {
  bool path_matched = false;
  const Route* best = Match(req.path, &path_matched);
  if (best == nullptr) {
    req.route.clear();
    respond(ErrorResponse(NotFound("no route for " + req.path)));
    return;
  }
  std::string allow;
  for (const Route& r : routes_) {
    if (r.pattern != best->pattern || r.prefix != best->prefix) continue;
    if (MethodAllowed(r.methods, req.method)) {
      req.route = r.name;
      if (r.prefix) {
        size_t n = r.pattern.size();
        if (n < req.path.size() && req.path[n] == '/') ++n;
        req.path_rest = req.path.substr(std::min(n, req.path.size()));
      } else {
        req.path_rest.clear();
      }
      r.handler(req, std::move(respond));
      return;
    }
    for (const auto& m : r.methods) {
      if (allow.find(m) != std::string::npos) continue;
      if (!allow.empty()) allow += ", ";
      allow += m;
      if (m == "GET" && allow.find("HEAD") == std::string::npos) allow += ", HEAD";
    }
  }
  req.route = best->name;
  Response resp = ErrorResponse(405, "MethodNotAllowed", "method " + req.method + " not allowed");
  resp.headers.Set("Allow", allow);
  respond(std::move(resp));
}

Handler Router::AsHandler() const {
  return [this](Request& req, Responder respond) { Dispatch(req, std::move(respond)); };
}

Response ErrorResponse(const Status& status) {
  const int code = HttpStatusFor(status);
  if (code == 500) {
    // Internal, Unknown, DataLoss: the message may name files, queries or peers.
    return ErrorResponse(500, "INTERNAL", "internal error");
  }
  return ErrorResponse(code, status.reason().empty() ? CodeName(status.code()) : status.reason(),
                       status.message());
}

Response ErrorResponse(int http_status, std::string_view error, std::string_view message) {
  boost::json::object body;
  body["error"] = error;
  body["code"] = http_status;
  body["message"] = message;
  return Response::Json(http_status, boost::json::serialize(body));
}

}  // namespace skiff::http
