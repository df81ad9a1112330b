#include "api/internal.hpp"
#include "api/validation.hpp"
#include "core/log.hpp"

namespace skiff::api::internal {

http::Response JsonResponse(int code, const json::value& body) {
  return http::Response::Json(code, Serialize(body));
}

std::string QualifiedResource(const KindInfo& kind) {
  return kind.group.empty() ? kind.plural : kind.plural + "." + kind.group;
}

json::object StatusObject(const Status& status, const KindInfo* kind, std::string_view resource,
                          std::string_view name) {
  std::string qr = kind != nullptr ? QualifiedResource(*kind) : std::string(resource);
  std::string quoted = "\"" + std::string(name) + "\"";
  std::string reason;
  std::string message = status.message();
  int code = HttpStatusFor(status);
  switch (status.code()) {
    case Code::kNotFound:
      reason = "NotFound";
      if (!qr.empty() && !name.empty()) message = qr + " " + quoted + " not found";
      break;
    case Code::kAlreadyExists:
      reason = "AlreadyExists";
      if (!qr.empty() && !name.empty()) message = qr + " " + quoted + " already exists";
      break;
    case Code::kAborted:
      reason = "Conflict";
      if (!qr.empty() && !name.empty()) {
        // A failed precondition says which one; any other conflict is a lost race.
        message = "Operation cannot be fulfilled on " + qr + " " + quoted + ": " +
                  (status.reason() == kPreconditionReason
                       ? status.message()
                       : std::string("the object has been modified; please apply your changes "
                                     "to the latest version and try again"));
      }
      break;
    case Code::kInvalidArgument:
      reason = status.reason() == "Invalid" ? "Invalid" : "BadRequest";
      break;
    case Code::kOutOfRange:
      reason = status.reason() == "Expired" ? "Expired" : "BadRequest";
      break;
    case Code::kUnauthenticated:
      reason = "Unauthorized";
      message = "Unauthorized";
      break;
    case Code::kPermissionDenied:
      reason = "Forbidden";
      break;
    case Code::kResourceExhausted:
      reason = code == 413 ? "RequestEntityTooLarge" : "TooManyRequests";
      break;
    case Code::kUnimplemented:
      reason = status.reason().empty() ? "MethodNotAllowed" : status.reason();
      code = status.reason() == "UnsupportedMediaType" ? 415 : 405;
      break;
    case Code::kUnavailable:
      reason = "ServiceUnavailable";
      break;
    case Code::kDeadlineExceeded:
      reason = "Timeout";
      break;
    case Code::kFailedPrecondition:
      reason = "BadRequest";
      break;
    default:
      reason = "InternalError";
      spdlog::error("internal error serving {} {}: {}", qr, name, status.ToString());
      message =
          "Internal error occurred: the server could not complete the request; see the "
          "skiff log for details";
      code = 500;
      break;
  }
  json::object details;
  if (!name.empty()) details["name"] = name;
  if (kind != nullptr) {
    if (!kind->group.empty()) details["group"] = kind->group;
    details["kind"] = kind->plural;
  } else if (!resource.empty()) {
    details["kind"] = resource;
  }
  json::object out{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
                   {"status", "Failure"}, {"message", message}, {"reason", reason},
                   {"code", code}};
  if (!details.empty()) out["details"] = std::move(details);
  return out;
}

http::Response StatusResponse(const Status& status, const KindInfo* kind, std::string_view resource,
                              std::string_view name) {
  json::object body = StatusObject(status, kind, resource, name);
  int code = static_cast<int>(body["code"].as_int64());
  http::Response r = JsonResponse(code, body);
  if (code == 401) r.headers.Set("WWW-Authenticate", "Bearer realm=\"skiff\"");
  return r;
}

http::Response ForbiddenResponse(const RequestInfo& info, std::string_view user,
                                 std::string_view reason) {
  std::string resource = info.resource;
  if (!info.subresource.empty()) resource += "/" + info.subresource;
  std::string message = "User \"" + std::string(user) + "\" cannot " + info.verb + " resource \"" +
                        resource + "\" in API group \"" + info.group + "\"";
  if (!info.ns.empty()) {
    message += " in the namespace \"" + info.ns + "\"";
  } else {
    message += " at the cluster scope";
  }
  if (!reason.empty()) message += ": " + std::string(reason);
  std::string qr = info.group.empty() ? info.resource : info.resource + "." + info.group;
  message = (info.name.empty() ? qr : qr + " \"" + info.name + "\"") + " is forbidden: " + message;
  json::object details{{"kind", info.resource}};
  if (!info.name.empty()) details["name"] = info.name;
  if (!info.group.empty()) details["group"] = info.group;
  json::object body{{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", json::object()},
                    {"status", "Failure"},
                    {"message", message},
                    {"reason", "Forbidden"},
                    {"details", std::move(details)},
                    {"code", 403}};
  return JsonResponse(403, body);
}

http::Response InvalidResponse(const KindInfo& kind, std::string_view name,
                               const FieldErrors& errors) {
  std::string message = kind.kind + " \"" + std::string(name) + "\" is invalid: ";
  if (errors.size() == 1) {
    message += FormatFieldError(errors[0]);
  } else {
    message += "[";
    for (size_t i = 0; i < errors.size(); ++i) {
      if (i) message += ", ";
      message += FormatFieldError(errors[i]);
    }
    message += "]";
  }
  json::array causes;
  for (const auto& e : errors) {
    std::string cause_msg = FormatFieldError(e);
    cause_msg = cause_msg.substr(e.field.size() + 2);
    causes.push_back(json::object{
        {"reason", FieldErrorReason(e.type)}, {"message", cause_msg}, {"field", e.field}});
  }
  json::object details{{"name", name}, {"kind", kind.kind}, {"causes", std::move(causes)}};
  if (!kind.group.empty()) details["group"] = kind.group;
  json::object body{{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", json::object()},
                    {"status", "Failure"},
                    {"message", message},
                    {"reason", "Invalid"},
                    {"details", std::move(details)},
                    {"code", 422}};
  return JsonResponse(422, body);
}

json::object SuccessStatus(const KindInfo& kind, std::string_view name) {
  json::object details{{"kind", kind.plural}};
  if (!name.empty()) details["name"] = name;
  if (!kind.group.empty()) details["group"] = kind.group;
  return json::object{{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object()},
                      {"status", "Success"},
                      {"details", std::move(details)}};
}

}  // namespace skiff::api::internal
