#pragma once
// YAML <-> JSON conversion. YAML scalars resolve as kubectl resolves them (sigs.k8s.io/yaml:
// YAML 1.1 booleans yes/no/on/off, null/~, ints, floats); quoted scalars stay strings. Each
// document remembers the line of every mapping key so that errors can name a line.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"

namespace skiff {

struct YamlDocument {
  json::value value;
  int line = 1;  // 1-based line where the document starts
  // JSON pointer ("/metadata/name", "/spec/containers/0") -> 1-based line of that key or item.
  std::map<std::string, int> lines;

  // Line of a field given as dotted path ("metadata.name") or JSON pointer; falls back to the
  // nearest enclosing field that has a line, then to the document's line.
  int LineOf(std::string_view path) const;
};

// Parses a stream of YAML documents separated by `---`. Empty documents are skipped. A parse
// error names its line and column.
Result<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text);
// Parses exactly one YAML (or JSON) document.
Result<json::value> ParseYaml(std::string_view text);

// Resolves one plain (unquoted) scalar to JSON the way sigs.k8s.io/yaml does; see yaml.cpp.
json::value ResolveYamlScalar(std::string_view plain);

// Emits block-style YAML in key order, quoting strings that would otherwise read back as
// another type.
std::string ToYaml(const json::value& v);

}  // namespace skiff
