#pragma once
// Helpers shared by the api unit tests.

#include <gtest/gtest.h>

#include <string_view>

#include "core/json.hpp"

namespace skiff::api::testing {

// Parses JSON written in a test; a typo in the test fails loudly.
inline json::value J(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v) << "bad JSON in test: " << text << ": " << v.error();
  return v ? std::move(*v) : json::value();
}

inline json::object JO(std::string_view text) {
  json::value v = J(text);
  EXPECT_TRUE(v.is_object()) << text;
  return v.is_object() ? std::move(v.as_object()) : json::object();
}

}  // namespace skiff::api::testing
