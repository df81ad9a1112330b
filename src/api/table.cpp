#include "api/table.hpp"

#include <charconv>

namespace skiff::api {

namespace {

// Splits ".a.b[0].c[?(@.k==\"v\")]" into steps.
struct Step {
  enum class Type { kField, kIndex, kFilter } type;
  std::string field;  // kField, or the filter's key
  size_t index = 0;
  std::string value;  // filter value
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::vector<Step> ParsePath(std::string_view p) {
  std::vector<Step> steps;
  if (!p.empty() && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      size_t start = i;
      while (i < p.size() && p[i] != '.' && p[i] != '[') ++i;
      if (i > start)
        steps.push_back({Step::Type::kField, std::string(p.substr(start, i - start)), 0, {}});
    } else if (p[i] == '[') {
      size_t end = p.find(']', i);
      if (end == p.npos) break;
      std::string_view inner = p.substr(i + 1, end - i - 1);
      if (inner.size() > 4 && inner.substr(0, 4) == "?(@.") {
        // ?(@.key=="value")
        size_t eq = inner.find("==");
        if (eq != inner.npos) {
          std::string key(Trim(inner.substr(4, eq - 4)));
          std::string_view val = inner.substr(eq + 2);
          if (!val.empty() && val.back() == ')') val.remove_suffix(1);
          val = Trim(val);  // kubectl writes both `@.type=="Ready"` and `@.type == "Ready"`
          if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'')) {
            val = val.substr(1, val.size() - 2);
          }
          steps.push_back({Step::Type::kFilter, key, 0, std::string(val)});
        }
      } else if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"')) {
        steps.push_back(
            {Step::Type::kField, std::string(inner.substr(1, inner.size() - 2)), 0, {}});
      } else {
        size_t idx = 0;
        std::from_chars(inner.data(), inner.data() + inner.size(), idx);
        steps.push_back({Step::Type::kIndex, {}, idx, {}});
      }
      i = end + 1;
    } else {
      size_t start = i;
      while (i < p.size() && p[i] != '.' && p[i] != '[') ++i;
      steps.push_back({Step::Type::kField, std::string(p.substr(start, i - start)), 0, {}});
    }
  }
  return steps;
}

std::string ColumnDescription(const PrinterColumn& c) { return c.description; }

json::value Cell(const PrinterColumn& c, const json::object& obj,
                 std::chrono::system_clock::time_point now) {
  json::value v = c.compute ? c.compute(obj) : EvalColumnPath(json::value(obj), c.json_path);
  if (c.type == "date" && v.is_string()) {
    auto t = ParseRfc3339(v.get_string());
    if (t) return json::string(ShortAge(now - *t));
  }
  return v;
}

}  // namespace

json::value EvalColumnPath(const json::value& root, std::string_view path) {
  const json::value* cur = &root;
  for (const Step& s : ParsePath(path)) {
    if (s.type == Step::Type::kField) {
      const json::object* o = cur->if_object();
      if (o == nullptr) return nullptr;
      auto it = o->find(s.field);
      if (it == o->end()) return nullptr;
      cur = &it->value();
    } else if (s.type == Step::Type::kIndex) {
      const json::array* a = cur->if_array();
      if (a == nullptr || s.index >= a->size()) return nullptr;
      cur = &(*a)[s.index];
    } else {
      const json::array* a = cur->if_array();
      if (a == nullptr) return nullptr;
      const json::value* found = nullptr;
      for (const auto& item : *a) {
        const json::value* f = Find(item, s.field);
        // Strings compare by text; booleans and numbers by their JSON spelling (==true, ==100).
        if (f != nullptr && (f->is_string() ? f->get_string() == s.value
                                            : !f->is_structured() && Serialize(*f) == s.value)) {
          found = &item;
          break;
        }
      }
      if (found == nullptr) return nullptr;
      cur = found;
    }
  }
  return *cur;
}

Result<IncludeObject> ParseIncludeObject(std::string_view value) {
  if (value.empty() || value == "Metadata") return IncludeObject::kMetadata;
  if (value == "None") return IncludeObject::kNone;
  if (value == "Object") return IncludeObject::kObject;
  return InvalidArgument("includeObject must be one of None, Metadata or Object");
}

json::object PartialObjectMetadata(const json::object& obj) {
  json::object out;
  out["kind"] = "PartialObjectMetadata";
  out["apiVersion"] = "meta.k8s.io/v1";
  if (const auto* md = obj.if_contains("metadata")) out["metadata"] = *md;
  return out;
}

json::object MakeTable(const KindInfo& kind, const std::vector<json::object>& objects,
                       std::chrono::system_clock::time_point now, IncludeObject include,
                       json::object list_metadata, bool with_headers) {
  json::object table;
  table["kind"] = "Table";
  table["apiVersion"] = "meta.k8s.io/v1";
  table["metadata"] = std::move(list_metadata);
  bool has_age = false;
  for (const auto& c : kind.columns) has_age = has_age || c.name == "Age";
  if (with_headers) {
    json::array defs;
    defs.push_back(json::object{
        {"name", "Name"},
        {"type", "string"},
        {"format", "name"},
        {"description",
         "Name must be unique within a namespace. Is required when creating resources, although "
         "some resources may allow a client to request the generation of an appropriate name "
         "automatically. Name is primarily intended for creation idempotence and configuration "
         "definition. Cannot be updated."},
        {"priority", 0}});
    for (const auto& c : kind.columns) {
      defs.push_back(json::object{{"name", c.name},
                                  {"type", c.type == "date" ? "string" : c.type},
                                  {"format", c.format},
                                  {"description", ColumnDescription(c)},
                                  {"priority", c.priority}});
    }
    if (!has_age) {
      defs.push_back(json::object{
          {"name", "Age"},
          {"type", "string"},
          {"format", ""},
          {"description",
           "CreationTimestamp is a timestamp representing the server time when this object was "
           "created."},
          {"priority", 0}});
    }
    table["columnDefinitions"] = std::move(defs);
  } else {
    table["columnDefinitions"] = nullptr;
  }
  json::array rows;
  for (const auto& obj : objects) {
    json::array cells;
    const json::value root(obj);
    cells.push_back(json::string(GetString(root, "metadata.name")));
    for (const auto& c : kind.columns) cells.push_back(Cell(c, obj, now));
    if (!has_age) {
      auto created = ParseRfc3339(GetString(root, "metadata.creationTimestamp"));
      cells.push_back(json::string(created ? ShortAge(now - *created) : "<unknown>"));
    }
    json::object row;
    row["cells"] = std::move(cells);
    switch (include) {
      case IncludeObject::kNone:
        break;
      case IncludeObject::kMetadata:
        row["object"] = PartialObjectMetadata(obj);
        break;
      case IncludeObject::kObject:
        row["object"] = obj;
        break;
    }
    rows.push_back(std::move(row));
  }
  table["rows"] = std::move(rows);
  return table;
}

}  // namespace skiff::api
