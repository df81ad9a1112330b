#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "core/json.hpp"

namespace skiff {

namespace {

// "%*": the message as a JSON string literal (quoted and escaped), so that a message holding
// quotes, backslashes or newlines still makes one valid JSON line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string s = Serialize(json::value(json::string(msg.payload.data(), msg.payload.size())));
    dest.append(s.data(), s.data() + s.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void InitLogging(std::string_view level, std::string_view format) {
  // Idempotent: a second call (tests, a reload) replaces the logger instead of throwing
  // spdlog's "logger with name 'skiff' already exists".
  spdlog::drop("skiff");
  auto logger = spdlog::stderr_logger_mt("skiff");
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == "json") {
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":%*})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v");
  }
  logger->set_formatter(std::move(formatter));
  // spdlog maps an unknown name to "off", which would silence the process; use info instead.
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

std::string Redact(std::string_view secret) {
  if (secret.size() <= 8) return "…(" + std::to_string(secret.size()) + " chars)";
  return std::string(secret.substr(0, 4)) + "…(" + std::to_string(secret.size()) + " chars)";
}

}  // namespace skiff
