#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace skiff {

void InitLogging(std::string_view level, std::string_view format) {
  auto logger = spdlog::stderr_logger_mt("skiff");
  if (format == "json") {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

std::string Redact(std::string_view secret) {
  if (secret.size() <= 8) return "…(" + std::to_string(secret.size()) + " chars)";
  return std::string(secret.substr(0, 4)) + "…(" + std::to_string(secret.size()) + " chars)";
}

}  // namespace skiff
