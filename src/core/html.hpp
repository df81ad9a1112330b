#pragma once
// HTML text escaping for the pages skiff renders itself (login, 404s, the dashboard's shell).

#include <string>
#include <string_view>

namespace skiff {

// `s` with & < > " ' replaced by entities: safe in element text and quoted attribute values.
std::string HtmlEscape(std::string_view s);

}  // namespace skiff
