#include "api/patch.hpp"

#include <algorithm>
#include <charconv>

namespace skiff::api {

namespace {

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

const json::value& NullValue() {
  static const json::value kNull;
  return kNull;
}

const json::value& ChildSchema(const json::value& schema, std::string_view key) {
  const json::object* s = schema.if_object();
  if (s == nullptr) return NullValue();
  if (const json::object* props = GetObject(schema, "properties")) {
    if (auto it = props->find(key); it != props->end()) return it->value();
  }
  if (const json::value* add = s->if_contains("additionalProperties"); add && add->is_object()) {
    return *add;
  }
  return NullValue();
}

Result<json::value> Strategic(const json::value& target, const json::value& patch,
                              const json::value& schema);

// A list item {"$patch": "replace"} (and nothing else) means: the other items replace the list.
bool IsListReplaceDirective(const json::value& item) {
  const json::object* o = item.if_object();
  if (o == nullptr || o->size() != 1) return false;
  const json::value* d = o->if_contains(kPatchDirective);
  return d != nullptr && d->is_string() && d->get_string() == "replace";
}

// Merges two lists by the merge key: patch items replace/merge the item with the same key,
// items with {"$patch": "delete"} remove it, new items are appended.
Result<json::array> MergeListByKey(const json::array& target, const json::array& patch,
                                   const std::string& key, const json::value& item_schema) {
  bool replace = std::any_of(patch.begin(), patch.end(), IsListReplaceDirective);
  json::array out = replace ? json::array() : target;
  for (const auto& p : patch) {
    if (IsListReplaceDirective(p)) continue;
    const json::object* po = p.if_object();
    if (po == nullptr) return InvalidArgument("strategic merge patch: list items must be objects");
    const json::value* kv = po->if_contains(key);
    if (kv == nullptr) {
      return InvalidArgument("strategic merge patch: list item is missing its merge key \"" + key +
                             "\"");
    }
    bool del = false;
    if (const json::value* d = po->if_contains(kPatchDirective)) {
      del = d->is_string() && d->get_string() == "delete";
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const json::value& t) {
      const json::object* to = t.if_object();
      return to != nullptr && to->if_contains(key) && to->at(key) == *kv;
    });
    if (del) {
      if (it != out.end()) out.erase(it);
      continue;
    }
    if (it != out.end()) {
      SKIFF_ASSIGN_OR_RETURN(*it, Strategic(*it, p, item_schema));
    } else {
      SKIFF_ASSIGN_OR_RETURN(json::value v, Strategic(json::object(), p, item_schema));
      out.push_back(std::move(v));
    }
  }
  return out;
}

Result<json::value> Strategic(const json::value& target, const json::value& patch,
                              const json::value& schema) {
  const json::object* po = patch.if_object();
  if (po == nullptr) return patch;
  json::object result = target.is_object() ? target.get_object() : json::object();
  if (const json::value* d = po->if_contains(kPatchDirective)) {
    if (!d->is_string()) return InvalidArgument("strategic merge patch: $patch must be a string");
    if (d->get_string() == "delete") return json::value(nullptr);
    if (d->get_string() == "replace") {
      json::object replaced = *po;
      replaced.erase(kPatchDirective);
      return json::value(std::move(replaced));
    }
    if (d->get_string() != "merge") {
      return InvalidArgument("strategic merge patch: unknown $patch directive \"" +
                             std::string(d->get_string()) + "\"");
    }
  }
  for (const auto& kv : *po) {
    std::string_view key = kv.key();
    if (key == kPatchDirective || key == kRetainKeys) continue;
    if (key.substr(0, kSetElementOrder.size()) == kSetElementOrder) continue;
    if (key.substr(0, kDeleteFromPrimitiveList.size()) == kDeleteFromPrimitiveList) {
      std::string field(key.substr(kDeleteFromPrimitiveList.size()));
      if (!kv.value().is_array()) {
        return InvalidArgument("strategic merge patch: " + std::string(key) + " must be a list");
      }
      if (auto* list = result.if_contains(field); list && list->is_array()) {
        json::array kept;
        for (const auto& item : list->get_array()) {
          const auto& del = kv.value().get_array();
          if (std::find(del.begin(), del.end(), item) == del.end()) kept.push_back(item);
        }
        *list = std::move(kept);
      }
      continue;
    }
    const json::value& value = kv.value();
    if (value.is_null()) {
      result.erase(key);
      continue;
    }
    const json::value& child_schema = ChildSchema(schema, key);
    const json::value* existing = result.if_contains(key);
    if (value.is_object()) {
      SKIFF_ASSIGN_OR_RETURN(json::value merged,
                             Strategic(existing ? *existing : json::value(), value, child_schema));
      if (merged.is_null()) {
        result.erase(key);
      } else {
        result[key] = std::move(merged);
      }
      continue;
    }
    if (value.is_array()) {
      std::string strategy = GetString(child_schema, "x-kubernetes-patch-strategy");
      std::string merge_key = GetString(child_schema, "x-kubernetes-patch-merge-key");
      if (strategy.find("merge") != std::string::npos && !merge_key.empty()) {
        // Also when there is no list yet: the patch's items still go through the merge so that
        // directives ({"$patch": "delete"} items, nested ones) are applied, not stored.
        const json::value* items =
            child_schema.is_object() ? child_schema.get_object().if_contains("items") : nullptr;
        static const json::array kEmpty;
        const json::array& base =
            existing != nullptr && existing->is_array() ? existing->get_array() : kEmpty;
        SKIFF_ASSIGN_OR_RETURN(
            json::array merged,
            MergeListByKey(base, value.get_array(), merge_key, items ? *items : NullValue()));
        result[key] = std::move(merged);
        continue;
      }
      if (strategy.find("merge") != std::string::npos && existing != nullptr &&
          existing->is_array()) {
        // Merge of a primitive list: union, keeping order.
        json::array merged = existing->get_array();
        for (const auto& item : value.get_array()) {
          if (std::find(merged.begin(), merged.end(), item) == merged.end()) merged.push_back(item);
        }
        result[key] = std::move(merged);
        continue;
      }
    }
    result[key] = value;
  }
  if (const json::value* retain = po->if_contains(kRetainKeys)) {
    if (!retain->is_array()) {
      return InvalidArgument("strategic merge patch: $retainKeys must be a list");
    }
    json::object kept;
    for (const auto& k : retain->get_array()) {
      if (!k.is_string()) {
        return InvalidArgument("strategic merge patch: $retainKeys must list strings");
      }
      if (auto* v = result.if_contains(k.get_string())) kept[k.get_string()] = *v;
    }
    result = std::move(kept);
  }
  return json::value(std::move(result));
}

// RFC 6902 section 4.6 equality: numbers are equal when their values are (1 == 1.0), objects
// regardless of member order, arrays element by element.
bool JsonEqual(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
    return a == b;  // int64/uint64 compare by value in Boost.JSON
  }
  if (a.kind() != b.kind()) return false;
  if (const json::array* x = a.if_array()) {
    const json::array& y = b.get_array();
    if (x->size() != y.size()) return false;
    for (size_t i = 0; i < x->size(); ++i) {
      if (!JsonEqual((*x)[i], y[i])) return false;
    }
    return true;
  }
  if (const json::object* x = a.if_object()) {
    const json::object& y = b.get_object();
    if (x->size() != y.size()) return false;
    for (const auto& kv : *x) {
      const json::value* other = y.if_contains(kv.key());
      if (other == nullptr || !JsonEqual(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// Parses an RFC 6901 pointer into unescaped tokens.
Result<std::vector<std::string>> PointerTokens(std::string_view ptr) {
  std::vector<std::string> out;
  if (ptr.empty()) return out;
  if (ptr.front() != '/')
    return InvalidArgument("JSON pointer \"" + std::string(ptr) + "\" must start with '/'");
  size_t pos = 1;
  while (true) {
    size_t next = ptr.find('/', pos);
    std::string_view raw = ptr.substr(pos, next == ptr.npos ? ptr.npos : next - pos);
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~') {
        if (i + 1 < raw.size() && raw[i + 1] == '0') {
          tok += '~';
        } else if (i + 1 < raw.size() && raw[i + 1] == '1') {
          tok += '/';
        } else {
          return InvalidArgument("JSON pointer \"" + std::string(ptr) + "\" has a bad ~ escape");
        }
        ++i;
      } else {
        tok += raw[i];
      }
    }
    out.push_back(std::move(tok));
    if (next == ptr.npos) break;
    pos = next + 1;
  }
  return out;
}

Result<size_t> ArrayIndex(const std::string& tok, size_t size, bool allow_end) {
  if (tok == "-" && allow_end) return size;
  size_t idx = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), idx);
  if (tok.empty() || ec != std::errc() || p != tok.data() + tok.size() ||
      (tok.size() > 1 && tok[0] == '0')) {
    return InvalidArgument("\"" + tok + "\" is not an array index");
  }
  if (idx > size || (!allow_end && idx == size)) {
    return InvalidArgument("array index " + tok + " is out of range");
  }
  return idx;
}

// Returns the parent container of the pointer's last token.
Result<json::value*> Parent(json::value& root, const std::vector<std::string>& toks) {
  json::value* cur = &root;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (auto* o = cur->if_object()) {
      auto it = o->find(toks[i]);
      if (it == o->end()) return InvalidArgument("path element \"" + toks[i] + "\" does not exist");
      cur = &it->value();
    } else if (auto* a = cur->if_array()) {
      SKIFF_ASSIGN_OR_RETURN(size_t idx, ArrayIndex(toks[i], a->size(), false));
      cur = &(*a)[idx];
    } else {
      return InvalidArgument("path element \"" + toks[i] + "\" is not a container");
    }
  }
  return cur;
}

Result<json::value> Get(json::value& root, const std::vector<std::string>& toks) {
  if (toks.empty()) return root;
  SKIFF_ASSIGN_OR_RETURN(json::value * parent, Parent(root, toks));
  if (auto* o = parent->if_object()) {
    auto it = o->find(toks.back());
    if (it == o->end()) return InvalidArgument("\"" + toks.back() + "\" does not exist");
    return it->value();
  }
  if (auto* a = parent->if_array()) {
    SKIFF_ASSIGN_OR_RETURN(size_t idx, ArrayIndex(toks.back(), a->size(), false));
    return (*a)[idx];
  }
  return InvalidArgument("parent is not a container");
}

Status Add(json::value& root, const std::vector<std::string>& toks, json::value v) {
  if (toks.empty()) {
    root = std::move(v);
    return Status::Ok();
  }
  SKIFF_ASSIGN_OR_RETURN(json::value * parent, Parent(root, toks));
  if (auto* o = parent->if_object()) {
    (*o)[toks.back()] = std::move(v);
    return Status::Ok();
  }
  if (auto* a = parent->if_array()) {
    SKIFF_ASSIGN_OR_RETURN(size_t idx, ArrayIndex(toks.back(), a->size(), true));
    a->insert(a->begin() + static_cast<std::ptrdiff_t>(idx), std::move(v));
    return Status::Ok();
  }
  return InvalidArgument("parent is not a container");
}

Status Remove(json::value& root, const std::vector<std::string>& toks) {
  if (toks.empty()) return InvalidArgument("cannot remove the whole document");
  SKIFF_ASSIGN_OR_RETURN(json::value * parent, Parent(root, toks));
  if (auto* o = parent->if_object()) {
    if (o->erase(toks.back()) == 0)
      return InvalidArgument("\"" + toks.back() + "\" does not exist");
    return Status::Ok();
  }
  if (auto* a = parent->if_array()) {
    SKIFF_ASSIGN_OR_RETURN(size_t idx, ArrayIndex(toks.back(), a->size(), false));
    a->erase(a->begin() + static_cast<std::ptrdiff_t>(idx));
    return Status::Ok();
  }
  return InvalidArgument("parent is not a container");
}

}  // namespace

json::value ApplyMergePatch(const json::value& target, const json::value& patch) {
  if (!patch.is_object()) return patch;
  json::object result = target.is_object() ? target.get_object() : json::object();
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      result.erase(kv.key());
    } else {
      const json::value* existing = result.if_contains(kv.key());
      result[kv.key()] = ApplyMergePatch(existing ? *existing : json::value(), kv.value());
    }
  }
  return result;
}

Result<json::value> ApplyStrategicMergePatch(const json::value& target, const json::value& patch,
                                             const json::value& schema) {
  if (!patch.is_object()) return InvalidArgument("a strategic merge patch must be a JSON object");
  return Strategic(target, patch, schema);
}

Result<json::value> ApplyJsonPatch(const json::value& target, const json::value& patch) {
  if (!patch.is_array()) return InvalidArgument("a JSON patch must be a JSON array of operations");
  json::value doc = target;
  size_t i = 0;
  for (const auto& opv : patch.get_array()) {
    auto fail = [&](const Status& s) {
      return InvalidArgument("JSON patch operation " + std::to_string(i) + ": " + s.message());
    };
    const json::object* op = opv.if_object();
    if (op == nullptr) return fail(InvalidArgument("must be an object"));
    std::string name = GetString(opv, "op");
    const json::value* pathv = op->if_contains("path");
    if (pathv == nullptr || !pathv->is_string()) return fail(InvalidArgument("missing \"path\""));
    auto toks = PointerTokens(pathv->get_string());
    if (!toks) return fail(toks.error());
    const json::value* value = op->if_contains("value");
    Status st;
    if (name == "add" || name == "replace" || name == "test") {
      if (value == nullptr) return fail(InvalidArgument("missing \"value\""));
    }
    if (name == "add") {
      st = Add(doc, *toks, *value);
    } else if (name == "remove") {
      st = Remove(doc, *toks);
    } else if (name == "replace") {
      // The whole document ("") may be replaced too (RFC 6902 section 4.3: the target must exist,
      // and the root always does).
      st = toks->empty() ? Status::Ok() : Remove(doc, *toks);
      if (st.ok()) st = Add(doc, *toks, *value);
    } else if (name == "move" || name == "copy") {
      const json::value* fromv = op->if_contains("from");
      if (fromv == nullptr || !fromv->is_string()) return fail(InvalidArgument("missing \"from\""));
      auto from = PointerTokens(fromv->get_string());
      if (!from) return fail(from.error());
      if (name == "move" && from->size() < toks->size() &&
          std::equal(from->begin(), from->end(), toks->begin())) {
        // RFC 6902 section 4.4: a location cannot be moved into one of its children.
        return fail(InvalidArgument("\"from\" must not be a proper prefix of \"path\""));
      }
      auto v = Get(doc, *from);
      if (!v) return fail(v.error());
      if (name == "move") st = Remove(doc, *from);
      if (st.ok()) st = Add(doc, *toks, std::move(*v));
    } else if (name == "test") {
      auto v = Get(doc, *toks);
      if (!v) return fail(v.error());
      if (!JsonEqual(*v, *value)) return fail(InvalidArgument("test failed: value differs"));
    } else {
      return fail(InvalidArgument("unknown op \"" + name + "\""));
    }
    if (!st.ok()) return fail(st);
    ++i;
  }
  return doc;
}

json::value CreateMergePatch(const json::value& from, const json::value& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json::object patch;
  const auto& f = from.get_object();
  const auto& t = to.get_object();
  for (const auto& kv : t) {
    const json::value* old = f.if_contains(kv.key());
    if (old == nullptr) {
      patch[kv.key()] = kv.value();
    } else if (*old != kv.value()) {
      if (old->is_object() && kv.value().is_object()) {
        patch[kv.key()] = CreateMergePatch(*old, kv.value());
      } else {
        patch[kv.key()] = kv.value();
      }
    }
  }
  for (const auto& kv : f) {
    if (!t.contains(kv.key())) patch[kv.key()] = nullptr;
  }
  return patch;
}

namespace {

// Keeps only deletions (nulls) of a merge patch, recursively.
json::value OnlyDeletions(const json::value& patch) {
  json::object out;
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      out[kv.key()] = nullptr;
    } else if (kv.value().is_object()) {
      json::value sub = OnlyDeletions(kv.value());
      if (!sub.get_object().empty()) out[kv.key()] = std::move(sub);
    }
  }
  return out;
}

// Fields of `modified` that differ from `current`; never deletes.
json::value Additions(const json::value& current, const json::value& modified) {
  json::object out;
  const json::object* cur = current.if_object();
  for (const auto& kv : modified.get_object()) {
    const json::value* c = cur ? cur->if_contains(kv.key()) : nullptr;
    if (c == nullptr) {
      out[kv.key()] = kv.value();
    } else if (*c != kv.value()) {
      if (c->is_object() && kv.value().is_object()) {
        json::value sub = Additions(*c, kv.value());
        if (!sub.get_object().empty()) out[kv.key()] = std::move(sub);
      } else {
        out[kv.key()] = kv.value();
      }
    }
  }
  return out;
}

void MergeInto(json::object& dst, const json::object& src) {
  for (const auto& kv : src) {
    json::value* d = dst.if_contains(kv.key());
    if (d != nullptr && d->is_object() && kv.value().is_object()) {
      MergeInto(d->as_object(), kv.value().get_object());
    } else {
      dst[kv.key()] = kv.value();
    }
  }
}

}  // namespace

json::value CreateThreeWayMergePatch(const json::value& original, const json::value& modified,
                                     const json::value& current) {
  json::object patch;
  if (original.is_object() && modified.is_object()) {
    patch = OnlyDeletions(CreateMergePatch(original, modified)).as_object();
  }
  if (modified.is_object()) MergeInto(patch, Additions(current, modified).as_object());
  return patch;
}

}  // namespace skiff::api
