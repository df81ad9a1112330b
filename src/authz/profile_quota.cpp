#include "authz/profile_quota.hpp"

#include <charconv>

#include "api/api.hpp"
#include "api/request_info.hpp"
#include "authz/profile.hpp"

namespace skiff::authz {

namespace {

std::optional<int64_t> ParseCount(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64());
  if (v.is_string()) {
    std::string_view s = v.get_string();
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && ptr == s.data() + s.size() && n >= 0) return n;
  }
  return std::nullopt;
}

}  // namespace

Result<bool> QuotaGuard::Counted(const std::string& storage_resource, const std::string& ns) {
  store::ListOptions lo;
  lo.ns = ns;
  SKIFF_ASSIGN_OR_RETURN(store::ListResult quotas,
                         store_.List(std::string(kResourceQuotaResource), lo));
  const std::string key = "count/" + storage_resource;
  for (const auto& q : quotas.items) {
    const json::object* hard = GetObject(q.object, "spec.hard");
    if (hard != nullptr && hard->contains(key)) return true;
  }
  return false;
}

Status QuotaGuard::Check(const std::string& storage_resource, const std::string& ns,
                         const std::string& name) {
  store::ListOptions lo;
  lo.ns = ns;
  SKIFF_ASSIGN_OR_RETURN(store::ListResult quotas,
                         store_.List(std::string(kResourceQuotaResource), lo));
  const std::string key = "count/" + storage_resource;
  std::optional<int64_t> used;
  for (const auto& q : quotas.items) {
    const json::object* hard = GetObject(q.object, "spec.hard");
    if (hard == nullptr) continue;
    const json::value* limit_v = hard->if_contains(key);
    if (limit_v == nullptr) continue;
    auto limit = ParseCount(*limit_v);
    if (!limit) continue;  // not a count: validation of the Profile refuses these
    if (!used) {
      SKIFF_ASSIGN_OR_RETURN(store::ListResult objects, store_.List(storage_resource, lo));
      used = static_cast<int64_t>(objects.items.size());
    }
    if (*used + 1 > *limit) {
      return PermissionDenied(
          storage_resource + " \"" + name + "\" is forbidden: exceeded quota: " + q.key.name +
          ", requested: " + key + "=1, used: " + key + "=" + std::to_string(*used) +
          ", limited: " + key + "=" + std::to_string(*limit));
    }
  }
  return Status::Ok();
}

http::SyncHandler QuotaGuard::Wrap(http::SyncHandler api) {
  return [this, api = std::move(api)](http::Request& req) -> http::Response {
    if (req.method != "POST") return api(req);
    auto info = api::ParseRequestInfo(req.method, req.path, "");
    if (!info || !info->is_resource_request || info->verb != "create" || info->ns.empty() ||
        !info->subresource.empty() || !info->name.empty()) {
      return api(req);
    }
    std::string resource =
        info->group.empty() ? info->resource : info->resource + "." + info->group;
    auto counted = Counted(resource, info->ns);
    if (!counted) return api::StatusToResponse(counted.error());
    if (!*counted) return api(req);
    std::string name;
    if (auto body = ParseJsonObject(req.body)) name = GetString(*body, "metadata.name");
    std::lock_guard lock(create_mu_);
    if (Status s = Check(resource, info->ns, name); !s.ok()) return api::StatusToResponse(s);
    return api(req);
  };
}

}  // namespace skiff::authz
