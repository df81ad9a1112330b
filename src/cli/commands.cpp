#include "cli/commands.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "api/patch.hpp"
#include "cli/api_client.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/yaml.hpp"
#include "http/http.hpp"

namespace skiff::cli {

namespace {

constexpr std::string_view kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";
constexpr std::string_view kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

std::string CellText(const json::value& v) {
  if (v.is_null()) return "<none>";
  if (v.is_string()) return std::string(v.get_string());
  return Serialize(v);
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Result<std::string> ReadInput(const std::string& file) {
  if (file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return text;
  }
  return ReadFile(file, 64 << 20);
}

// Expands directories into their manifest files (sorted), as kubectl -f DIR does.
Result<std::vector<std::string>> ExpandFiles(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::error_code ec;
    if (f != "-" && std::filesystem::is_directory(f, ec)) {
      std::vector<std::string> found;
      for (const auto& e : std::filesystem::directory_iterator(f, ec)) {
        auto ext = e.path().extension().string();
        if (ext == ".yaml" || ext == ".yml" || ext == ".json") found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(f);
    }
  }
  if (out.empty()) return InvalidArgument("no manifests given: use -f FILE, -f DIR or -f -");
  return out;
}

struct Manifest {
  std::string file;
  YamlDocument doc;
  json::object object;
  std::string item_path;  // "/items/3" for members of a List, empty otherwise
};

Result<std::vector<Manifest>> LoadManifests(const std::vector<std::string>& files) {
  SKIFF_ASSIGN_OR_RETURN(auto paths, ExpandFiles(files));
  std::vector<Manifest> out;
  for (const auto& file : paths) {
    std::string name = file == "-" ? "STDIN" : file;
    auto text = ReadInput(file);
    if (!text) return InvalidArgument("cannot read " + name + ": " + text.error().message());
    auto docs = ParseYamlDocuments(*text);
    if (!docs) return InvalidArgument(name + ": " + docs.error().message());
    for (auto& doc : *docs) {
      if (!doc.value.is_object()) {
        return InvalidArgument(name + " line " + std::to_string(doc.line) +
                               ": a manifest must be a mapping with apiVersion, kind and metadata");
      }
      json::object obj = doc.value.as_object();
      std::string kind = GetString(doc.value, "kind");
      if (kind == "List" || (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0 &&
                             obj.contains("items"))) {
        const json::value* items = Find(doc.value, "items");
        if (items == nullptr || !items->is_array()) {
          return InvalidArgument(name + " line " + std::to_string(doc.line) +
                                 ": a List needs items");
        }
        for (size_t i = 0; i < items->get_array().size(); ++i) {
          const auto& item = items->get_array()[i];
          if (!item.is_object()) {
            return InvalidArgument(name + " line " +
                                   std::to_string(doc.LineOf("/items/" + std::to_string(i))) +
                                   ": list items must be mappings");
          }
          out.push_back({name, doc, item.get_object(), "/items/" + std::to_string(i)});
        }
        continue;
      }
      out.push_back({name, std::move(doc), std::move(obj), {}});
    }
  }
  return out;
}

// The line of `field` ("metadata.name") in a manifest, for error messages.
int LineOf(const Manifest& m, const std::string& field) {
  std::string pointer = m.item_path;
  size_t start = 0;
  while (start <= field.size() && !field.empty()) {
    size_t dot = field.find('.', start);
    pointer +=
        "/" + field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return m.doc.LineOf(pointer.empty() ? "/" : pointer);
}

Status CheckManifest(const Manifest& m) {
  const json::value root(m.object);
  for (const char* field : {"apiVersion", "kind", "metadata.name"}) {
    const json::value* v = Find(root, field);
    if (v == nullptr || !v->is_string() || v->get_string().empty()) {
      return InvalidArgument(m.file + " line " + std::to_string(LineOf(m, field)) + ": " + field +
                             " is required");
    }
  }
  return Status::Ok();
}

// Adds the manifest's line for the first field the server named.
std::string WithLine(const Manifest& m, const http::ClientResponse& resp, const std::string& msg) {
  auto body = ParseJson(resp.body);
  if (!body) return msg;
  const json::value* causes = Find(*body, "details.causes");
  if (causes == nullptr || !causes->is_array() || causes->get_array().empty()) {
    return msg + " (" + m.file + ")";
  }
  std::string field = GetString(causes->get_array()[0], "field");
  if (field.empty()) return msg;
  return msg + " (" + m.file + " line " + std::to_string(LineOf(m, field)) + ")";
}

std::string NamespaceFor(const ResourceRef& ref, const json::object& obj,
                         const std::string& flag_ns, Status* error) {
  if (!ref.namespaced) return {};
  std::string ns = GetString(obj, "metadata.namespace");
  if (!flag_ns.empty() && !ns.empty() && ns != flag_ns) {
    *error = InvalidArgument(
        "the namespace from the provided object \"" + ns + "\" does not match the namespace \"" +
        flag_ns + "\". You must pass '--namespace=" + ns + "' to perform this operation.");
  }
  if (ns.empty()) ns = flag_ns.empty() ? "default" : flag_ns;
  return ns;
}

}  // namespace

int RunGet(const Settings& settings, const GetOptions& o) {
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  auto ref = client->Resolve(o.resource);
  if (!ref) return Fail(ref.error());
  std::string ns = o.all_namespaces ? "" : (o.ns.empty() ? "default" : o.ns);
  bool structured = o.output == "yaml" || o.output == "json";
  if (!o.output.empty() && !structured && o.output != "wide" && o.output != "name") {
    return Fail(InvalidArgument("unknown output format \"" + o.output +
                                "\": use -o yaml, -o json, -o wide or -o name"));
  }
  std::string query;
  if (!o.selector.empty()) query = "?labelSelector=" + http::PercentEncode(o.selector);

  std::vector<json::value> objects;  // structured output
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> visible;
  int exit_code = 0;
  auto add_table = [&](const json::value& table) {
    const json::value* defs = Find(table, "columnDefinitions");
    if (rows.empty() && defs && defs->is_array()) {
      std::vector<std::string> header;
      if (o.all_namespaces && ref->namespaced) header.push_back("NAMESPACE");
      for (size_t i = 0; i < defs->get_array().size(); ++i) {
        const auto& d = defs->get_array()[i];
        const json::value* prio = Find(d, "priority");
        bool show =
            o.output == "wide" || prio == nullptr || !prio->is_int64() || prio->get_int64() == 0;
        if (show) {
          visible.push_back(i);
          header.push_back(Upper(GetString(d, "name")));
        }
      }
      rows.push_back(std::move(header));
    }
    if (const json::value* rws = Find(table, "rows"); rws && rws->is_array()) {
      for (const auto& r : rws->get_array()) {
        std::vector<std::string> line;
        if (o.all_namespaces && ref->namespaced)
          line.push_back(GetString(r, "object.metadata.namespace"));
        const json::value* cells = Find(r, "cells");
        for (size_t i : visible) {
          line.push_back(cells && cells->is_array() && i < cells->get_array().size()
                             ? CellText(cells->get_array()[i])
                             : "");
        }
        rows.push_back(std::move(line));
      }
    }
  };

  std::vector<std::string> names = o.names;
  bool list = names.empty();
  if (list) names.push_back("");
  for (const auto& name : names) {
    std::string path = ref->Path(ns, name) + (name.empty() ? query : "");
    auto resp = client->Do(
        "GET", path, {}, {},
        structured || o.output == "name" ? "application/json" : std::string(kTableAccept));
    if (!resp) return Fail(resp.error());
    if (resp->status != 200) {
      Fail(ServerError(*resp));
      exit_code = 1;
      continue;
    }
    auto body = ParseJson(resp->body);
    if (!body) return Fail(body.error());
    if (structured || o.output == "name") {
      if (list) {
        if (const auto* items = Find(*body, "items"); items && items->is_array()) {
          for (const auto& it : items->get_array()) objects.push_back(it);
        }
      } else {
        objects.push_back(std::move(*body));
      }
    } else {
      add_table(*body);
    }
  }
  if (o.output == "name") {
    for (const auto& obj : objects)
      std::printf("%s/%s\n", ref->DisplayKind().c_str(), GetString(obj, "metadata.name").c_str());
  } else if (structured) {
    json::value out;
    if (list || objects.size() != 1) {
      json::array items;
      for (auto& obj : objects) items.push_back(std::move(obj));
      out = json::object{{"apiVersion", "v1"},
                         {"kind", "List"},
                         {"metadata", json::object{{"resourceVersion", ""}}},
                         {"items", std::move(items)}};
    } else {
      out = std::move(objects.front());
    }
    if (o.output == "json") {
      std::printf("%s\n", Serialize(out).c_str());
    } else {
      std::printf("%s", ToYaml(out).c_str());
    }
  } else if (rows.size() <= 1) {
    if (list) {
      if (ref->namespaced && !o.all_namespaces) {
        std::fprintf(stderr, "No resources found in %s namespace.\n", ns.c_str());
      } else {
        std::fprintf(stderr, "No resources found\n");
      }
    }
  } else {
    PrintColumns(rows);
  }
  return exit_code;
}

int RunApply(const Settings& settings, const ApplyOptions& o) {
  auto manifests = LoadManifests(o.files);
  if (!manifests) return Fail(manifests.error());
  for (const auto& m : *manifests) {
    if (Status s = CheckManifest(m); !s.ok()) return Fail(s);
  }
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  int exit_code = 0;
  for (const auto& m : *manifests) {
    const json::value root(m.object);
    std::string api_version = GetString(root, "apiVersion");
    std::string kind = GetString(root, "kind");
    std::string name = GetString(root, "metadata.name");
    auto ref = client->ResolveKind(api_version, kind);
    if (!ref) {
      std::fprintf(stderr, "error: %s line %d: %s\n", m.file.c_str(), LineOf(m, "kind"),
                   ref.error().message().c_str());
      exit_code = 1;
      continue;
    }
    Status ns_error;
    std::string ns = NamespaceFor(*ref, m.object, o.ns, &ns_error);
    if (!ns_error.ok()) {
      Fail(ns_error);
      exit_code = 1;
      continue;
    }
    // The applied configuration is kept in an annotation, as kubectl keeps it, so that the two
    // tools can take turns on the same objects.
    json::object modified = m.object;
    json::object& md = EnsureObject(modified, "metadata");
    if (ref->namespaced) md["namespace"] = ns;
    json::object& annotations = EnsureObject(md, "annotations");
    annotations.erase(kLastApplied);
    if (annotations.empty()) md.erase("annotations");
    std::string applied = Serialize(modified);
    EnsureObject(EnsureObject(modified, "metadata"), "annotations")[kLastApplied] = applied;

    std::string display = ref->DisplayKind() + "/" + name;
    auto current = client->Do("GET", ref->Path(ns, name));
    if (!current) return Fail(current.error());
    if (current->status == 404) {
      auto created =
          client->Do("POST", ref->Path(ns, "") + "?fieldManager=skiff", Serialize(modified));
      if (!created) return Fail(created.error());
      if (created->status != 201 && created->status != 200) {
        std::fprintf(stderr, "%s\n",
                     WithLine(m, *created, ServerError(*created).message()).c_str());
        exit_code = 1;
        continue;
      }
      std::printf("%s created\n", display.c_str());
      continue;
    }
    if (current->status != 200) {
      Fail(ServerError(*current));
      exit_code = 1;
      continue;
    }
    auto cur = ParseJson(current->body);
    if (!cur) return Fail(cur.error());
    json::value original;
    std::string last = GetString(*cur, "metadata.annotations." + std::string(kLastApplied));
    if (const auto* ann = Find(*cur, "metadata.annotations"); ann && ann->is_object()) {
      if (const auto* v = ann->get_object().if_contains(kLastApplied); v && v->is_string()) {
        if (auto parsed = ParseJson(v->get_string())) original = std::move(*parsed);
      }
    }
    json::value patch = api::CreateThreeWayMergePatch(original, json::value(modified), *cur);
    if (patch.is_object() && patch.get_object().empty()) {
      std::printf("%s unchanged\n", display.c_str());
      continue;
    }
    auto patched = client->Do("PATCH", ref->Path(ns, name) + "?fieldManager=skiff",
                              Serialize(patch), "application/merge-patch+json");
    if (!patched) return Fail(patched.error());
    if (patched->status != 200) {
      std::fprintf(stderr, "%s\n", WithLine(m, *patched, ServerError(*patched).message()).c_str());
      exit_code = 1;
      continue;
    }
    std::printf("%s configured\n", display.c_str());
  }
  return exit_code;
}

int RunDelete(const Settings& settings, const DeleteOptions& o) {
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  struct Target {
    ResourceRef ref;
    std::string ns, name;
  };
  std::vector<Target> targets;
  if (!o.files.empty()) {
    auto manifests = LoadManifests(o.files);
    if (!manifests) return Fail(manifests.error());
    for (const auto& m : *manifests) {
      if (Status s = CheckManifest(m); !s.ok()) return Fail(s);
      const json::value root(m.object);
      auto ref = client->ResolveKind(GetString(root, "apiVersion"), GetString(root, "kind"));
      if (!ref) return Fail(ref.error());
      Status ns_error;
      std::string ns = NamespaceFor(*ref, m.object, o.ns, &ns_error);
      if (!ns_error.ok()) return Fail(ns_error);
      targets.push_back({*ref, ns, GetString(root, "metadata.name")});
    }
  } else {
    if (o.resource.empty() || o.names.empty()) {
      return Fail(InvalidArgument(
          "say what to delete: skiff delete KIND NAME [-n NAMESPACE] or skiff delete -f FILE"));
    }
    auto ref = client->Resolve(o.resource);
    if (!ref) return Fail(ref.error());
    for (const auto& name : o.names) {
      targets.push_back({*ref, ref->namespaced ? (o.ns.empty() ? "default" : o.ns) : "", name});
    }
  }
  int exit_code = 0;
  for (const auto& t : targets) {
    auto resp =
        client->Do("DELETE", t.ref.Path(t.ns, t.name), R"({"propagationPolicy":"Background"})");
    if (!resp) return Fail(resp.error());
    if (resp->status == 404 && o.ignore_not_found) continue;
    if (resp->status != 200 && resp->status != 202) {
      Fail(ServerError(*resp));
      exit_code = 1;
      continue;
    }
    std::string k = t.ref.DisplayKind();
    std::printf("%s \"%s\" deleted\n", k.c_str(), t.name.c_str());
  }
  return exit_code;
}

int RunAuthCanI(const Settings& settings, const CanIOptions& o) {
  // Errors exit 2: 1 means "no".
  auto fail = [](const Status& st) {
    Fail(st);
    return 2;
  };
  auto client = ApiClient::FromSettings(settings);
  if (!client) return fail(client.error());
  std::string resource = o.resource;
  std::string subresource;
  if (size_t slash = resource.find('/'); slash != std::string::npos) {
    subresource = resource.substr(slash + 1);
    resource.resize(slash);
  }
  auto ref = client->Resolve(resource);
  if (!ref) return fail(ref.error());
  json::object attrs{{"verb", o.verb},
                     {"group", ref->group},
                     {"version", ref->version},
                     {"resource", ref->plural}};
  if (!subresource.empty()) attrs["subresource"] = subresource;
  if (!o.name.empty()) attrs["name"] = o.name;
  if (ref->namespaced && !o.all_namespaces) attrs["namespace"] = o.ns.empty() ? "default" : o.ns;
  json::object review{{"apiVersion", "authorization.k8s.io/v1"},
                      {"spec", json::object{{"resourceAttributes", std::move(attrs)}}}};
  std::string path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
  if (!o.as.empty() || !o.as_groups.empty()) {
    review["kind"] = "SubjectAccessReview";
    json::object& spec = review["spec"].as_object();
    if (!o.as.empty()) spec["user"] = o.as;
    json::array groups;
    for (const auto& g : o.as_groups) groups.emplace_back(g);
    if (!groups.empty()) spec["groups"] = std::move(groups);
    path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
  } else {
    review["kind"] = "SelfSubjectAccessReview";
  }
  auto resp = client->Do("POST", path, Serialize(review));
  if (!resp) return fail(resp.error());
  if (resp->status != 201 && resp->status != 200) {
    return fail(ServerError(*resp));
  }
  auto body = ParseJson(resp->body);
  if (!body) return fail(body.error());
  const json::value* allowed = Find(*body, "status.allowed");
  bool yes = allowed != nullptr && allowed->is_bool() && allowed->get_bool();
  std::printf("%s\n", yes ? "yes" : "no");
  std::string reason = GetString(*body, "status.reason");
  if (o.verbose && !reason.empty()) std::printf("%s\n", reason.c_str());
  return yes ? 0 : 1;
}

Result<json::object> KubeconfigCluster(const std::string& server_url, const std::string& ca_file) {
  // kubectl sends bearer tokens only over TLS: point it at the TLS side of the listener.
  std::string server = server_url;
  json::object cluster;
  if (server.rfind("http://", 0) == 0 && !ca_file.empty()) server = "https://" + server.substr(7);
  cluster["server"] = server;
  if (server.rfind("https://", 0) == 0 && !ca_file.empty()) {
    SKIFF_ASSIGN_OR_RETURN(std::string ca, ReadFile(ca_file, 1 << 20));
    cluster["certificate-authority-data"] = Base64Encode(ca);
  } else if (server.rfind("http://", 0) == 0) {
    std::fprintf(stderr,
                 "warning: %s is plain HTTP and kubectl will not send the token over it; start "
                 "skiff with TLS (tls.mode auto, the default) and give --ca-file\n",
                 server.c_str());
  }
  return cluster;
}

int RunKubeconfig(const Settings& settings) {
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  auto cluster = KubeconfigCluster(client->server(), client->ca_file());
  if (!cluster) return Fail(cluster.error());
  json::object config{
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", json::array{json::object{{"name", "skiff"}, {"cluster", std::move(*cluster)}}}},
      {"users", json::array{json::object{{"name", "skiff-admin"},
                                         {"user", json::object{{"token", client->token()}}}}}},
      {"contexts", json::array{json::object{{"name", "skiff"},
                                            {"context", json::object{{"cluster", "skiff"},
                                                                     {"user", "skiff-admin"},
                                                                     {"namespace", "default"}}}}}},
      {"current-context", "skiff"},
      {"preferences", json::object()}};
  std::printf("%s", ToYaml(config).c_str());
  return 0;
}

int RunVersion(const Settings& settings) {
  std::printf("Client Version: skiff %s (%s)\n", SKIFF_VERSION, SKIFF_GIT_VERSION);
  auto client = ApiClient::FromSettings(settings);
  if (!client) return 0;
  http::ClientRequest req;
  req.url = client->server() + "/version";
  req.headers.Set("Authorization", "Bearer " + client->token());
  req.ca_file = client->ca_file();
  req.timeout = std::chrono::milliseconds(2000);
  auto resp = http::Fetch(req);
  if (resp && resp->status == 200) {
    auto body = ParseJson(resp->body);
    if (body)
      std::printf("Server Version: %s at %s\n", GetString(*body, "gitVersion").c_str(),
                  client->server().c_str());
  } else {
    std::printf("Server: not reachable at %s\n", client->server().c_str());
  }
  return 0;
}

}  // namespace skiff::cli
