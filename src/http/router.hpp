#pragma once
// Router: maps (method, path) to a handler. Patterns are exact ("/healthz") or prefix
// ("/api/*", matching "/api" and everything below it). The longest matching pattern wins; a
// path that matches a pattern but not its method answers 405 with an Allow header, a path
// that matches nothing answers 404. Each route runs inline (on the I/O thread; it must not
// block), on the blocking pool or on the CPU pool. Immutable after start; thread-safe.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.hpp"

namespace skiff::http {

enum class Execution { kInline, kBlocking, kCpu };

// A handler that computes its response without waiting on I/O of its own.
using SyncHandler = std::function<Response(Request&)>;

class Router {
 public:
  // `blocking` and `cpu` may be null only if no route uses them.
  Router(TaskRunner* blocking, TaskRunner* cpu) : blocking_(blocking), cpu_(cpu) {}

  // `methods` empty means any method. `name` labels metrics and logs (defaults to pattern).
  void Add(std::vector<std::string> methods, std::string pattern, Handler handler,
           std::string name = {});
  void Add(std::vector<std::string> methods, std::string pattern, SyncHandler handler,
           Execution exec, std::string name = {});

  // Dispatches; sets req.route and req.path_rest. Answers 404/405 itself.
  void Dispatch(Request& req, Responder respond) const;
  // The handler usable as the server's root. Refers to this Router, which must outlive it.
  Handler AsHandler() const;

 private:
  struct Route {
    std::vector<std::string> methods;
    std::string pattern;  // without the trailing "*"
    bool prefix = false;
    std::string name;
    Handler handler;
  };
  const Route* Match(const std::string& path, bool* path_matched) const;

  TaskRunner* blocking_;
  TaskRunner* cpu_;
  std::vector<Route> routes_;
};

// A JSON error body {"error": ..., "code": ..., "message": ...} for routes that have no
// protocol-specific error shape. "code" is the HTTP status (skiff::HttpStatusFor), "error" the
// Status reason or else its code name. A 500 never carries the Status message ("internal error").
Response ErrorResponse(const Status& status);
// The same body shape for statuses that have no Status code (405, 408, 413, 431).
Response ErrorResponse(int http_status, std::string_view error, std::string_view message);

}  // namespace skiff::http
