// Writes: create, update (PUT), patch, delete and deletecollection, with the checks the
// Kubernetes API server makes, in its words.
#include "api/patch.hpp"
#include "api/protobuf.hpp"
#include "api/resource_api_impl.hpp"
#include "api/validation.hpp"
#include "core/crypto.hpp"
#include "core/yaml.hpp"

namespace skiff::api {

using internal::InvalidResponse;
using internal::JsonResponse;
using internal::StatusResponse;

namespace {

std::string ContentType(const http::Request& req) {
  std::string ct(req.headers.Get("Content-Type").value_or(""));
  if (size_t semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  for (auto& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ct;
}

// Decodes a create/update body: JSON, YAML for curl users (errors then name the line), or
// Kubernetes protobuf from kubectl's typed clients for kinds with a descriptor.
Result<json::object> DecodeObject(const http::Request& req, const KindInfo& kind) {
  std::string ct = ContentType(req);
  if (req.body.empty())
    return InvalidArgument("the request body is empty: send the object as JSON");
  json::value v;
  if (ct == "application/yaml" || ct == "application/x-yaml" || ct == "text/yaml") {
    SKIFF_ASSIGN_OR_RETURN(v, ParseYaml(req.body));
  } else if (ct.empty() || ct == "application/json" || ct == "*/*") {
    SKIFF_ASSIGN_OR_RETURN(v, ParseJson(req.body));
  } else if (ct == "application/vnd.kubernetes.protobuf") {
    if (kind.protobuf == nullptr) {
      return Status(Code::kUnimplemented,
                    kind.kind + " (" + kind.GroupVersion() +
                        ") cannot be sent as application/vnd.kubernetes.protobuf: send "
                        "application/json",
                    "UnsupportedMediaType");
    }
    return DecodeKubernetesProtobuf(req.body, *kind.protobuf, kind.GroupVersion(), kind.kind);
  } else {
    return Status(Code::kUnimplemented,
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json, application/yaml",
                  "UnsupportedMediaType");
  }
  if (!v.is_object()) return InvalidArgument("the request body must be a JSON object");
  return std::move(v.as_object());
}

Status CheckTypeMeta(const KindInfo& kind, const json::object& obj) {
  const json::value root(obj);
  std::string api_version = GetString(root, "apiVersion");
  std::string k = GetString(root, "kind");
  if (!api_version.empty() && api_version != kind.GroupVersion()) {
    return InvalidArgument("the API version in the data (" + api_version +
                           ") does not match the expected API version (" + kind.GroupVersion() +
                           ")");
  }
  if (!k.empty() && k != kind.kind) {
    return InvalidArgument("the kind in the data (" + k + ") does not match the expected kind (" +
                           kind.kind + ")");
  }
  return Status::Ok();
}

Result<bool> DryRun(const http::Request& req) {
  auto dry = req.Query("dryRun");
  if (!dry || dry->empty()) return false;
  if (*dry == "All") return true;
  return InvalidArgument("dryRun must be \"All\", got \"" + *dry + "\"");
}

// Checks types and unknown fields per ?fieldValidation; fills `warnings` under Warn.
Status CheckFields(const http::Request& req, const KindInfo& kind, json::object& obj,
                   std::vector<std::string>& warnings) {
  SKIFF_ASSIGN_OR_RETURN(FieldValidation mode,
                         ParseFieldValidation(req.Query("fieldValidation").value_or("")));
  SchemaCheck check = CheckSchema(kind, obj, mode);
  if (!check.type_errors.empty()) {
    std::string msg = kind.kind + " in version \"" + kind.version + "\" cannot be handled as a " +
                      kind.kind + ": ";
    for (size_t i = 0; i < check.type_errors.size(); ++i) {
      if (i) msg += ", ";
      msg += check.type_errors[i];
    }
    return InvalidArgument(msg);
  }
  if (check.unknown_fields.empty()) return Status::Ok();
  if (mode == FieldValidation::kStrict) {
    std::string msg = "strict decoding error: ";
    for (size_t i = 0; i < check.unknown_fields.size(); ++i) {
      if (i) msg += ", ";
      msg += "unknown field \"" + check.unknown_fields[i] + "\"";
    }
    return InvalidArgument(msg);
  }
  if (mode == FieldValidation::kWarn) {
    for (const auto& f : check.unknown_fields) warnings.push_back("unknown field \"" + f + "\"");
  }
  return Status::Ok();
}

void AddWarnings(http::Response& r, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    r.headers.Add("Warning", "299 - \"" + escaped + "\"");
  }
}

FieldErrors ValidateAll(const KindInfo& kind, const json::object& obj) {
  FieldErrors errs = ValidateMetadata(kind, obj);
  if (kind.validate) {
    FieldErrors more = kind.validate(obj);
    errs.insert(errs.end(), more.begin(), more.end());
  }
  return errs;
}

}  // namespace

http::Response ResourceApi::Impl::Create(const http::Request& req, const KindInfo& kind,
                                         const RequestInfo& info) {
  auto decoded = DecodeObject(req, kind);
  if (!decoded) return StatusResponse(decoded.error(), &kind);
  json::object obj = std::move(*decoded);
  auto dry = DryRun(req);
  if (!dry) return StatusResponse(dry.error());
  if (Status s = CheckTypeMeta(kind, obj); !s.ok()) return StatusResponse(s, &kind);
  std::vector<std::string> warnings;
  if (Status s = CheckFields(req, kind, obj, warnings); !s.ok()) return StatusResponse(s, &kind);

  json::object& md = EnsureObject(obj, "metadata");
  if (kind.namespaced) {
    std::string body_ns = GetString(md, "namespace");
    if (!body_ns.empty() && body_ns != info.ns) {
      return StatusResponse(InvalidArgument(
          "the namespace of the provided object does not match the namespace sent on the "
          "request"));
    }
    md["namespace"] = info.ns;
  } else {
    md.erase("namespace");
  }
  std::string name = GetString(md, "name");
  if (name.empty()) {
    std::string generate = GetString(md, "generateName");
    if (!generate.empty()) {
      name = generate + internal::GenerateSuffix();
      md["name"] = name;
    }
  }
  if (const auto* rv = md.if_contains("resourceVersion");
      rv && rv->is_string() && !rv->get_string().empty()) {
    return StatusResponse(
        InvalidArgument("resourceVersion should not be set on objects to be created"));
  }
  md.erase("resourceVersion");
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  md.erase("selfLink");
  md.erase("managedFields");
  md["uid"] = NewUid();
  md["creationTimestamp"] = FormatRfc3339(clock.Now());
  md["generation"] = 1;
  obj["apiVersion"] = kind.GroupVersion();
  obj["kind"] = kind.kind;
  if (kind.status_subresource) obj.erase("status");
  if (kind.prepare_for_create) kind.prepare_for_create(obj);

  FieldErrors errs = ValidateAll(kind, obj);
  if (!errs.empty()) return InvalidResponse(kind, name, errs);

  if (kind.namespaced) {
    auto ns = store.Get({"namespaces", "", info.ns});
    if (!ns) {
      if (ns.error().code() == Code::kNotFound) {
        return StatusResponse(NotFound(""), kinds.ByPlural("", "v1", "namespaces"), "namespaces",
                              info.ns);
      }
      return StatusResponse(ns.error());
    }
  }
  if (*dry) {
    http::Response r = Render(req, kind, 201, std::move(obj));
    AddWarnings(r, warnings);
    return r;
  }
  auto created = store.Create({kind.StorageResource(), info.ns, name}, std::move(obj));
  if (!created) return StatusResponse(created.error(), &kind, {}, name);
  if (options.on_write) options.on_write(*created, false);
  http::Response r = Render(req, kind, 201, std::move(created->object));
  AddWarnings(r, warnings);
  return r;
}

http::Response ResourceApi::Impl::Review(const http::Request& req, const KindInfo& kind,
                                         const RequestInfo& info) {
  auto decoded = DecodeObject(req, kind);
  if (!decoded) return StatusResponse(decoded.error(), &kind);
  json::object obj = std::move(*decoded);
  if (Status s = CheckTypeMeta(kind, obj); !s.ok()) return StatusResponse(s, &kind);
  std::vector<std::string> warnings;
  if (Status s = CheckFields(req, kind, obj, warnings); !s.ok()) return StatusResponse(s, &kind);
  if (kind.namespaced) EnsureObject(obj, "metadata")["namespace"] = info.ns;
  auto answer = kind.review(req.principal ? &*req.principal : nullptr, std::move(obj));
  if (!answer) return StatusResponse(answer.error(), &kind);
  http::Response r = Render(req, kind, 201, std::move(*answer));
  AddWarnings(r, warnings);
  return r;
}

http::Response ResourceApi::Impl::WriteUpdate(const http::Request& req, const KindInfo& kind,
                                              const RequestInfo& info, json::object obj,
                                              const store::Object& old, int64_t expected_version,
                                              bool* retryable_conflict) {
  *retryable_conflict = false;
  auto dry = DryRun(req);
  if (!dry) return StatusResponse(dry.error());
  if (Status s = CheckTypeMeta(kind, obj); !s.ok()) return StatusResponse(s, &kind);
  std::vector<std::string> warnings;
  if (Status s = CheckFields(req, kind, obj, warnings); !s.ok()) return StatusResponse(s, &kind);

  const json::value old_root(old.object);
  json::object& md = EnsureObject(obj, "metadata");
  std::string body_name = GetString(md, "name");
  if (!body_name.empty() && body_name != info.name) {
    return StatusResponse(InvalidArgument("the name of the object (" + body_name +
                                          ") does not match the name on the URL (" + info.name +
                                          ")"));
  }
  md["name"] = info.name;
  if (kind.namespaced) {
    std::string body_ns = GetString(md, "namespace");
    if (!body_ns.empty() && body_ns != info.ns) {
      return StatusResponse(InvalidArgument(
          "the namespace of the provided object does not match the namespace sent on the "
          "request"));
    }
    md["namespace"] = info.ns;
  } else {
    md.erase("namespace");
  }
  std::string body_uid = GetString(md, "uid");
  std::string old_uid = GetString(old_root, "metadata.uid");
  if (!body_uid.empty() && body_uid != old_uid) {
    return StatusResponse(internal::PreconditionFailed("UID in precondition: " + body_uid +
                                                       ", UID in object meta: " + old_uid),
                          &kind, {}, info.name);
  }
  // Server-owned metadata is carried over; clients cannot change it.
  md["uid"] = old_uid;
  md["creationTimestamp"] = GetString(old_root, "metadata.creationTimestamp");
  md.erase("resourceVersion");
  md.erase("selfLink");
  md.erase("managedFields");
  obj["apiVersion"] = kind.GroupVersion();
  obj["kind"] = kind.kind;

  if (kind.status_subresource) {
    if (info.subresource == "status") {
      // Only .status changes through /status.
      json::object merged = old.object;
      if (const auto* st = obj.if_contains("status")) {
        merged["status"] = *st;
      } else {
        merged.erase("status");
      }
      obj = std::move(merged);
    } else if (const auto* st = old.object.if_contains("status")) {
      obj["status"] = *st;
    } else {
      obj.erase("status");
    }
  }
  if (kind.prepare_for_update) kind.prepare_for_update(obj, old.object);
  int64_t old_generation = 1;
  if (const auto* g = Find(old_root, "metadata.generation"); g && g->is_int64()) {
    old_generation = g->get_int64();
  }
  EnsureObject(obj, "metadata")["generation"] =
      internal::SpecChanged(obj, old.object) ? old_generation + 1 : old_generation;

  FieldErrors errs = ValidateAll(kind, obj);
  if (kind.validate_update) {
    FieldErrors more = kind.validate_update(obj, old.object);
    errs.insert(errs.end(), more.begin(), more.end());
  }
  if (!errs.empty()) return InvalidResponse(kind, info.name, errs);

  if (internal::Comparable(obj) == internal::Comparable(old.object) || *dry) {
    // Nothing changed (or a dry run): answer with the current state, write nothing.
    json::object current = *dry ? std::move(obj) : old.object;
    if (*dry) {
      EnsureObject(current, "metadata")["resourceVersion"] = std::to_string(old.resource_version);
    }
    http::Response r = Render(req, kind, 200, std::move(current));
    AddWarnings(r, warnings);
    return r;
  }
  auto updated =
      store.Update({kind.StorageResource(), info.ns, info.name}, std::move(obj), expected_version);
  if (!updated) {
    *retryable_conflict = updated.error().code() == Code::kAborted;
    return StatusResponse(updated.error(), &kind, {}, info.name);
  }
  if (options.on_write) options.on_write(*updated, false);
  http::Response r = Render(req, kind, 200, std::move(updated->object));
  AddWarnings(r, warnings);
  return r;
}

http::Response ResourceApi::Impl::Update(const http::Request& req, const KindInfo& kind,
                                         const RequestInfo& info) {
  auto decoded = DecodeObject(req, kind);
  if (!decoded) return StatusResponse(decoded.error(), &kind);
  json::object obj = std::move(*decoded);
  auto old = store.Get({kind.StorageResource(), info.ns, info.name});
  if (!old) return StatusResponse(old.error(), &kind, {}, info.name);
  int64_t expected = 0;
  std::string rv = GetString(obj, "metadata.resourceVersion");
  if (!rv.empty()) {
    expected = internal::ParseVersion(rv);
    if (expected <= 0) {
      return StatusResponse(
          InvalidArgument("metadata.resourceVersion \"" + rv + "\" is not valid"));
    }
    if (expected != old->resource_version) {
      return StatusResponse(Conflict(""), &kind, {}, info.name);
    }
  }
  bool retry = false;
  return WriteUpdate(req, kind, info, std::move(obj), *old, expected, &retry);
}

http::Response ResourceApi::Impl::Patch(const http::Request& req, const KindInfo& kind,
                                        const RequestInfo& info) {
  std::string ct = ContentType(req);
  if (ct == "application/apply-patch+yaml") {
    return StatusResponse(
        Status(Code::kUnimplemented,
               "server-side apply is not available in skiff: use client-side apply (kubectl "
               "apply without --server-side), which skiff supports",
               "UnsupportedMediaType"),
        &kind);
  }
  if (ct != "application/merge-patch+json" && ct != "application/strategic-merge-patch+json" &&
      ct != "application/json-patch+json") {
    return StatusResponse(
        Status(Code::kUnimplemented,
               "the body of the request was in an unknown format - accepted media types include: "
               "application/json-patch+json, application/merge-patch+json, "
               "application/strategic-merge-patch+json",
               "UnsupportedMediaType"),
        &kind);
  }
  auto patch = ParseJson(req.body);
  if (!patch) return StatusResponse(patch.error(), &kind);
  int64_t precondition = 0;
  if (ct != "application/json-patch+json") {
    if (!patch->is_object()) {
      return StatusResponse(InvalidArgument("a merge patch must be a JSON object"), &kind);
    }
    std::string rv = GetString(*patch, "metadata.resourceVersion");
    if (!rv.empty()) {
      precondition = internal::ParseVersion(rv);
      if (precondition <= 0) {
        return StatusResponse(
            InvalidArgument("metadata.resourceVersion \"" + rv + "\" is not valid"));
      }
    }
  }
  for (int attempt = 0;; ++attempt) {
    auto old = store.Get({kind.StorageResource(), info.ns, info.name});
    if (!old) return StatusResponse(old.error(), &kind, {}, info.name);
    if (precondition != 0 && precondition != old->resource_version) {
      return StatusResponse(Conflict(""), &kind, {}, info.name);
    }
    json::value current(old->object);
    Result<json::value> patched = current;
    if (ct == "application/merge-patch+json") {
      patched = ApplyMergePatch(current, *patch);
    } else if (ct == "application/strategic-merge-patch+json") {
      patched = ApplyStrategicMergePatch(current, *patch, kind.schema);
    } else {
      patched = ApplyJsonPatch(current, *patch);
    }
    if (!patched) return StatusResponse(patched.error(), &kind, {}, info.name);
    if (!patched->is_object()) {
      return StatusResponse(InvalidArgument("the patch did not result in an object"), &kind);
    }
    // The stored resourceVersion is carried to WriteUpdate by `expected`, not by the body.
    bool retry = false;
    http::Response r = WriteUpdate(req, kind, info, std::move(patched->as_object()), *old,
                                   old->resource_version, &retry);
    if (!retry || precondition != 0 || attempt + 1 >= options.max_patch_retries) return r;
  }
}

http::Response ResourceApi::Impl::Delete(const http::Request& req, const KindInfo& kind,
                                         const RequestInfo& info) {
  auto dry = DryRun(req);
  if (!dry) return StatusResponse(dry.error());
  int64_t expected = 0;
  std::string expected_uid;
  if (!req.body.empty()) {
    auto opts = ParseJsonObject(req.body);
    if (!opts) return StatusResponse(opts.error());
    const json::value root(*opts);
    std::string rv = GetString(root, "preconditions.resourceVersion");
    if (!rv.empty()) {
      expected = internal::ParseVersion(rv);
      if (expected <= 0) {
        return StatusResponse(
            InvalidArgument("preconditions.resourceVersion \"" + rv + "\" is not valid"));
      }
    }
    expected_uid = GetString(root, "preconditions.uid");
    std::string policy = GetString(root, "propagationPolicy");
    if (!policy.empty() && policy != "Foreground" && policy != "Background" && policy != "Orphan") {
      return StatusResponse(
          InvalidArgument("propagationPolicy must be Foreground, Background or Orphan"));
    }
  }
  store::Key key{kind.StorageResource(), info.ns, info.name};
  const bool is_namespace = kind.group.empty() && kind.plural == "namespaces";
  // The checks and the write are retried together when the object (or, for a namespace,
  // anything in it) changed between our reads and the commit; a resourceVersion precondition
  // is then simply no longer met.
  for (int attempt = 0;; ++attempt) {
    auto current = store.Get(key);
    if (!current) return StatusResponse(current.error(), &kind, {}, info.name);
    std::string current_uid = GetString(current->object, "metadata.uid");
    if (!expected_uid.empty() && expected_uid != current_uid) {
      return StatusResponse(internal::PreconditionFailed("UID in precondition: " + expected_uid +
                                                         ", UID in object meta: " + current_uid),
                            &kind, {}, info.name);
    }
    if (expected != 0 && expected != current->resource_version) {
      return StatusResponse(
          internal::PreconditionFailed(
              "ResourceVersion in precondition: " + std::to_string(expected) +
              ", ResourceVersion in object meta: " + std::to_string(current->resource_version)),
          &kind, {}, info.name);
    }
    if (*dry) return Render(req, kind, 200, std::move(current->object));

    std::vector<store::Mutation> mutations;
    if (is_namespace) {
      // Deleting a namespace deletes everything in it, in the same transaction.
      std::vector<std::string> seen;
      for (const auto& k : kinds.NamespacedKinds()) {
        std::string resource = k->StorageResource();
        if (std::find(seen.begin(), seen.end(), resource) != seen.end()) continue;
        seen.push_back(resource);
        store::ListOptions lo;
        lo.ns = info.name;
        auto items = store.List(resource, lo);
        if (!items) return StatusResponse(items.error());
        for (auto& o : items->items) {
          mutations.push_back({store::Mutation::Op::kDelete, o.key, {}, o.resource_version});
        }
      }
    }
    mutations.push_back({store::Mutation::Op::kDelete, key, {}, current->resource_version});
    auto done = store.Commit(std::move(mutations));
    if (!done) {
      if (done.error().code() == Code::kAborted && expected == 0 &&
          attempt + 1 < options.max_patch_retries) {
        continue;
      }
      return StatusResponse(done.error(), &kind, {}, info.name);
    }
    if (options.on_write) {
      for (const auto& o : *done) options.on_write(o, true);
    }
    json::object last = std::move(done->back().object);
    if (is_namespace) EnsureObject(last, "status")["phase"] = "Terminating";
    return Render(req, kind, 200, std::move(last));
  }
}

http::Response ResourceApi::Impl::DeleteCollection(const http::Request& req, const KindInfo& kind,
                                                   const RequestInfo& info) {
  if (kind.group.empty() && kind.plural == "namespaces") {
    return StatusResponse(Status(
        Code::kUnimplemented, "the server does not allow this method on the requested resource"));
  }
  auto dry = DryRun(req);
  if (!dry) return StatusResponse(dry.error());
  store::ListOptions lo;
  lo.ns = info.ns;
  std::vector<internal::FieldRequirement> fields;
  if (Status st = internal::ParseSelectors(req, &lo.label_selector, &fields); !st.ok()) {
    return StatusResponse(st);
  }
  auto items = store.List(kind.StorageResource(), lo);
  if (!items) return StatusResponse(items.error(), &kind);
  std::vector<store::Mutation> mutations;
  json::array deleted;
  for (auto& o : items->items) {
    if (!fields.empty() && !internal::MatchesFields(o.object, fields)) continue;
    mutations.push_back({store::Mutation::Op::kDelete, o.key, {}, o.resource_version});
    deleted.push_back(Present(kind, o.object));
  }
  if (!*dry && !mutations.empty()) {
    auto done = store.Commit(std::move(mutations));
    if (!done) return StatusResponse(done.error(), &kind);
    if (options.on_write) {
      for (const auto& o : *done) options.on_write(o, true);
    }
  }
  return JsonResponse(
      200, json::object{{"kind", kind.ListKind()},
                        {"apiVersion", kind.GroupVersion()},
                        {"metadata",
                         json::object{{"resourceVersion", std::to_string(store.CurrentVersion())}}},
                        {"items", std::move(deleted)}});
}

}  // namespace skiff::api
