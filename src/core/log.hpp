#pragma once
// Logging: spdlog with fmt formatting, one process-wide logger writing to stderr. Secrets
// (tokens, passwords, cookies) are never passed to a log call; use Redact() on anything that
// might hold one.

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace skiff {

// level: trace, debug, info, warn, error, off (an unknown name means info). format: "text" or
// "json" (one JSON object per line). May be called again to reconfigure.
void InitLogging(std::string_view level, std::string_view format = "text");
// "abcd…(32 chars)": enough to tell two tokens apart, not enough to use one.
std::string Redact(std::string_view secret);

}  // namespace skiff
