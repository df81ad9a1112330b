#include "core/clock.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace skiff {

namespace {

class RealClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::now();
  }
};

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t, bool micros) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  if (secs > t) secs -= seconds(1);
  std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micros) {
    auto us = duration_cast<microseconds>(t - secs).count();
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  out += 'Z';
  return out;
}

Result<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mo) ||
      s[7] != '-' || !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, h) || s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' ||
      !Digits(s, 17, 2, se)) {
    return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\"");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) {
    return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\": out of range");
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\"");
    while (digits++ < 9) nanos *= 10;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om)) {
      return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\": bad offset");
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\": missing zone");
  }
  if (pos != s.size()) return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\"");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  std::time_t tt = timegm(&tm);
  using namespace std::chrono;
  auto tp = system_clock::from_time_t(tt) - minutes(offset_min);
  return tp + duration_cast<system_clock::duration>(nanoseconds(nanos));
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  using namespace std::chrono;
  if (s.empty()) return InvalidArgument("empty duration");
  bool all_digits = true;
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    if (s.size() > 12) return InvalidArgument("duration \"" + std::string(s) + "\" is too large");
    return milliseconds(std::stoll(std::string(s)) * 1000);
  }
  double total_ms = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    while (pos < s.size() && ((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '.')) ++pos;
    if (start == pos) {
      return InvalidArgument("invalid duration \"" + std::string(s) +
                             "\": use a number and unit such as 300ms, 30s, 5m or 1h");
    }
    double n = std::strtod(std::string(s.substr(start, pos - start)).c_str(), nullptr);
    size_t ustart = pos;
    while (pos < s.size() && !((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '.')) ++pos;
    std::string_view unit = s.substr(ustart, pos - ustart);
    double mult;
    if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60'000;
    } else if (unit == "h") {
      mult = 3'600'000;
    } else if (unit == "us" || unit == "µs") {
      mult = 0.001;
    } else if (unit == "ns") {
      mult = 0.000001;
    } else {
      return InvalidArgument("invalid duration \"" + std::string(s) + "\": unknown unit \"" +
                             std::string(unit) + "\" (use ms, s, m or h)");
    }
    total_ms += n * mult;
  }
  if (total_ms > 1e15) return InvalidArgument("duration \"" + std::string(s) + "\" is too large");
  return milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s != 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s != 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string ShortAge(std::chrono::system_clock::duration d) {
  using namespace std::chrono;
  auto s = duration_cast<seconds>(d).count();
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  auto m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  auto h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  auto days = h / 24;
  if (days < 8) return std::to_string(days) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  if (days < 365 * 2) return std::to_string(days) + "d";
  auto years = days / 365;
  if (years < 8) return std::to_string(years) + "y" + (days % 365 ? std::to_string(days % 365) + "d" : "");
  return std::to_string(years) + "y";
}

}  // namespace skiff
