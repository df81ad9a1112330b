#pragma once
// The settings of the `skiff` command: what each is called in skiff.yaml, as a SKIFF_*
// environment variable and as a flag, with defaults. Precedence: flag > env > file > default.

#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace skiff::cli {

const std::vector<SettingSpec>& SettingSpecs();

// Loads settings: reads the config file named by --config / SKIFF_CONFIG (or ./skiff.yaml when
// it exists), then applies environment variables and `flags`.
Result<Settings> LoadSettings(const std::string& config_flag,
                              const std::map<std::string, std::string>& flags);

// "127.0.0.1:8080" -> ("127.0.0.1", 8080); "[::1]:8080" -> ("::1", 8080).
Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view addr);

}  // namespace skiff::cli
