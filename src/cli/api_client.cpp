#include "cli/api_client.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/settings.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"

namespace skiff::cli {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One entry of an APIResourceList.
ResourceRef RefFromDiscovery(const json::value& r, const std::string& group,
                             const std::string& version) {
  ResourceRef ref;
  ref.group = group;
  ref.version = version;
  ref.kind = GetString(r, "kind");
  ref.plural = GetString(r, "name");
  ref.singular = GetString(r, "singularName");
  const json::value* ns = Find(r, "namespaced");
  ref.namespaced = ns != nullptr && ns->is_bool() && ns->get_bool();
  if (const auto* sn = Find(r, "shortNames"); sn && sn->is_array()) {
    for (const auto& s : sn->get_array()) {
      if (s.is_string()) ref.short_names.emplace_back(s.get_string());
    }
  }
  return ref;
}

}  // namespace

std::string AdminTokenPath(const std::string& data_dir) { return data_dir + "/admin.token"; }
std::string DefaultCaPath(const std::string& data_dir) { return data_dir + "/tls/ca.crt"; }

std::string ResourceRef::Path(const std::string& ns, const std::string& name) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) p += "/" + name;
  return p;
}

std::string ResourceRef::DisplayKind() const {
  std::string k = Lower(kind);
  return group.empty() ? k : k + "." + group;
}

Result<ServerEndpoint> ResolveServer(const Settings& settings) {
  ServerEndpoint e;
  e.url = settings.GetString("server");
  std::string ca = settings.GetString("caFile");
  if (ca.empty() && FileExists(DefaultCaPath(settings.GetString("dataDir")))) {
    ca = DefaultCaPath(settings.GetString("dataDir"));
  }
  if (e.url.empty()) {
    SKIFF_ASSIGN_OR_RETURN(auto hp, SplitHostPort(settings.GetString("addr")));
    std::string host = hp.first;
    if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    // Same port for both; prefer TLS when the server's private CA is at hand.
    e.url = (ca.empty() ? "http://" : "https://") + host + ":" + std::to_string(hp.second);
  }
  e.ca_file = ca;
  while (!e.url.empty() && e.url.back() == '/') e.url.pop_back();
  return e;
}

Result<ApiClient> ApiClient::FromSettings(const Settings& settings) {
  ApiClient c;
  SKIFF_ASSIGN_OR_RETURN(ServerEndpoint endpoint, ResolveServer(settings));
  c.server_ = endpoint.url;
  c.ca_file_ = endpoint.ca_file;
  c.token_ = settings.GetString("token");
  if (c.token_.empty()) {
    std::string path = AdminTokenPath(settings.GetString("dataDir"));
    auto text = ReadFile(path, 4096);
    if (!text) {
      return Unauthenticated(
          "no token: pass --token or set SKIFF_TOKEN, or point --data-dir at "
          "the server's data directory (cannot read " +
          path + ": " + text.error().message() + ")");
    }
    c.token_ = *text;
    while (!c.token_.empty() && (c.token_.back() == '\n' || c.token_.back() == '\r'))
      c.token_.pop_back();
  }
  return c;
}

Result<http::ClientResponse> ApiClient::Do(const std::string& method, const std::string& path,
                                           const std::string& body, const std::string& content_type,
                                           const std::string& accept,
                                           const http::HeaderMap& extra_headers) {
  http::ClientRequest req;
  req.method = method;
  req.url = server_ + path;
  req.ca_file = ca_file_;
  req.headers.Set("Authorization", "Bearer " + token_);
  req.headers.Set("Accept", accept);
  req.headers.Set("User-Agent", std::string("skiff/") + SKIFF_VERSION);
  for (const auto& [name, value] : extra_headers) req.headers.Add(name, value);
  if (!body.empty()) {
    req.headers.Set("Content-Type", content_type);
    req.body = body;
  }
  auto resp = http::Fetch(req);
  if (!resp) {
    return Unavailable("cannot reach skiff at " + server_ + ": " + resp.error().message() +
                       " (is `skiff up` running? set --server or SKIFF_SERVER)");
  }
  return resp;
}

Status ServerError(const http::ClientResponse& response) {
  auto body = ParseJson(response.body);
  std::string reason, message;
  if (body && body->is_object()) {
    reason = GetString(*body, "reason");
    message = GetString(*body, "message");
  }
  if (message.empty())
    message = response.body.empty() ? "HTTP " + std::to_string(response.status) : response.body;
  if (reason.empty()) reason = "HTTP " + std::to_string(response.status);
  Code code = Code::kUnknown;
  switch (response.status) {
    case 400:
      code = Code::kInvalidArgument;
      break;
    case 401:
      code = Code::kUnauthenticated;
      break;
    case 403:
      code = Code::kPermissionDenied;
      break;
    case 404:
      code = Code::kNotFound;
      break;
    case 409:
      code = reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kAborted;
      break;
    case 410:
      code = Code::kOutOfRange;
      break;
    case 422:
      code = Code::kInvalidArgument;
      break;
    default:
      code = response.status >= 500 ? Code::kInternal : Code::kInvalidArgument;
      break;
  }
  return Status(code, "Error from server (" + reason + "): " + message, reason);
}

Status ApiClient::LoadDiscovery() {
  if (resources_) return Status::Ok();
  std::vector<ResourceRef> out;
  std::vector<std::string> gv_paths = {"/api/v1"};
  SKIFF_ASSIGN_OR_RETURN(auto groups, Do("GET", "/apis"));
  if (groups.status != 200) return ServerError(groups);
  SKIFF_ASSIGN_OR_RETURN(json::value gl, ParseJson(groups.body));
  if (const auto* arr = Find(gl, "groups"); arr && arr->is_array()) {
    for (const auto& g : arr->get_array()) {
      std::string gv = GetString(g, "preferredVersion.groupVersion");
      if (!gv.empty()) gv_paths.push_back("/apis/" + gv);
    }
  }
  for (const auto& path : gv_paths) {
    SKIFF_ASSIGN_OR_RETURN(auto resp, Do("GET", path));
    if (resp.status != 200) return ServerError(resp);
    SKIFF_ASSIGN_OR_RETURN(json::value list, ParseJson(resp.body));
    std::string gv = GetString(list, "groupVersion");
    std::string group, version = gv;
    if (size_t slash = gv.find('/'); slash != std::string::npos) {
      group = gv.substr(0, slash);
      version = gv.substr(slash + 1);
    }
    const json::value* resources = Find(list, "resources");
    if (resources == nullptr || !resources->is_array()) continue;
    for (const auto& r : resources->get_array()) {
      std::string name = GetString(r, "name");
      if (name.find('/') != std::string::npos) continue;  // subresources
      out.push_back(RefFromDiscovery(r, group, version));
    }
  }
  resources_ = std::move(out);
  return Status::Ok();
}

Result<ResourceRef> ApiClient::Resolve(std::string_view name) {
  SKIFF_RETURN_IF_ERROR(LoadDiscovery());
  std::string lower = Lower(name);
  std::string group_suffix;
  // "inferenceservices.serving.kserve.io" or "isvc.serving.kserve.io".
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& r : *resources_) {
      std::string want = lower;
      if (pass == 1) {
        if (r.group.empty() || lower.size() <= r.group.size() + 1 ||
            lower.compare(lower.size() - r.group.size(), r.group.size(), r.group) != 0 ||
            lower[lower.size() - r.group.size() - 1] != '.') {
          continue;
        }
        want = lower.substr(0, lower.size() - r.group.size() - 1);
      }
      bool match = want == r.plural || want == r.singular || want == Lower(r.kind);
      for (const auto& s : r.short_names) match = match || want == s;
      if (match) return r;
    }
  }
  return NotFound("error: the server doesn't have a resource type \"" + std::string(name) + "\"");
}

Result<ResourceRef> ApiClient::ResolveKind(std::string_view api_version, std::string_view kind) {
  SKIFF_RETURN_IF_ERROR(LoadDiscovery());
  for (const auto& r : *resources_) {
    if (r.GroupVersion() == api_version && r.kind == kind) return r;
  }
  // The group may serve the kind in another version than the preferred one.
  std::string group(api_version);
  std::string version;
  if (size_t slash = group.find('/'); slash != std::string::npos) {
    version = group.substr(slash + 1);
    group.resize(slash);
  } else {
    version = group;
    group.clear();
  }
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  SKIFF_ASSIGN_OR_RETURN(auto resp, Do("GET", path));
  if (resp.status == 200) {
    SKIFF_ASSIGN_OR_RETURN(json::value list, ParseJson(resp.body));
    if (const auto* resources = Find(list, "resources"); resources && resources->is_array()) {
      for (const auto& r : resources->get_array()) {
        if (GetString(r, "kind") != kind || GetString(r, "name").find('/') != std::string::npos)
          continue;
        return RefFromDiscovery(r, group, version);
      }
    }
  }
  return NotFound("no matches for kind \"" + std::string(kind) + "\" in version \"" +
                  std::string(api_version) + "\"");
}

int Fail(const Status& s) {
  std::string msg = s.message();
  if (msg.rfind("error: ", 0) != 0 && msg.rfind("Error from server", 0) != 0) msg = "error: " + msg;
  std::fprintf(stderr, "%s\n", msg.c_str());
  return 1;
}

void PrintColumns(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size() && i < widths.size()) {
        line += std::string(widths[i] - r[i].size() + 3, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace skiff::cli
