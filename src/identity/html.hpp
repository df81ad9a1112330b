#pragma once
// The provider's HTML pages: plain, accessible, no JavaScript, every value escaped.

#include <string>
#include <string_view>
#include <vector>

#include "core/html.hpp"

namespace skiff::identity {

using skiff::HtmlEscape;

struct LoginPage {
  std::string title = "Log in to Skiff";
  std::string action;  // form action (path)
  std::string request_id;
  std::string csrf;
  std::string username_prompt;
  std::string username;  // re-filled after a failure
  std::string error;     // shown above the form when set
};
std::string RenderLogin(const LoginPage& page);

struct ChooserEntry {
  std::string name;
  std::string href;
};
std::string RenderChooser(const std::vector<ChooserEntry>& entries);

std::string RenderError(std::string_view title, std::string_view message);

}  // namespace skiff::identity
