#pragma once
// A small, strict XML reader for S3 responses (ListObjectsV2 results and error documents), so
// that the S3 client needs no XML library. It builds a tree of elements with their character
// data; attributes are skipped, namespace prefixes dropped, the five predefined entities,
// character references and CDATA decoded, comments and processing instructions ignored. DOCTYPE
// (and so every external or custom entity) is rejected. Depth is bounded; input size is bounded
// by the caller (the HTTP response limit). Thread-safe: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::http::xml {

struct Element {
  std::string name;  // local name: "s3:Key" and "Key" both give "Key"
  // Character data directly inside this element (not its children's), entities decoded, not
  // trimmed: S3 keys may begin or end with spaces.
  std::string text;
  std::vector<Element> children;

  // The first child named `name`, or null.
  const Element* Child(std::string_view name) const;
  // The text of the first child named `name`, or "" when there is none. The reference lives as
  // long as this element.
  const std::string& ChildText(std::string_view name) const;
};

// Parses one document. Errors: InvalidArgument naming the byte offset and what was expected.
Result<Element> Parse(std::string_view document, int max_depth = 32);

}  // namespace skiff::http::xml
