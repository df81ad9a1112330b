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

int DaysIn(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

Status BadDuration(std::string_view s, std::string_view why) {
  return InvalidArgument("invalid duration \"" + std::string(s) + "\": " + std::string(why));
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
  if (!Digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, h) || s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' ||
      !Digits(s, 17, 2, se)) {
    return InvalidArgument("invalid RFC 3339 time \"" + std::string(s) + "\"");
  }
  // Ranges as Go's time.Parse checks them (it rejects leap second 60 and February 30th).
  if (mo < 1 || mo > 12 || d < 1 || d > DaysIn(y, mo) || h > 23 || mi > 59 || se > 59) {
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
    if (oh > 23 || om > 59) {
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
  const std::string_view original = s;
  if (s.empty()) return InvalidArgument("empty duration");
  if (s.front() == '-') return BadDuration(original, "negative durations are not allowed");
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return BadDuration(original, "no number");
  bool all_digits = !s.empty();
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    if (s.size() > 12) return BadDuration(original, "too large");
    return milliseconds(std::stoll(std::string(s)) * 1000);
  }
  // Go's time.ParseDuration grammar: one or more "<decimal><unit>", where the decimal has
  // digits before or after an optional '.'.
  double total_ms = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    size_t int_digits = 0, frac_digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos, ++int_digits;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos, ++frac_digits;
    }
    if (int_digits + frac_digits == 0) {
      return BadDuration(original, "use a number and unit such as 300ms, 30s, 5m or 1h30m");
    }
    if (int_digits > 15) return BadDuration(original, "too large");
    const double n = std::strtod(std::string(s.substr(start, pos - start)).c_str(), nullptr);
    const size_t ustart = pos;
    while (pos < s.size() && !((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '.')) ++pos;
    const std::string_view unit = s.substr(ustart, pos - ustart);
    double mult;
    if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60'000;
    } else if (unit == "h") {
      mult = 3'600'000;
    } else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") {  // micro sign, mu
      mult = 0.001;
    } else if (unit == "ns") {
      mult = 0.000001;
    } else if (unit.empty()) {
      return BadDuration(original, "missing unit after a number (use ms, s, m or h)");
    } else {
      return BadDuration(original,
                         "unknown unit \"" + std::string(unit) + "\" (use ms, s, m or h)");
    }
    total_ms += n * mult;
  }
  if (total_ms > 1e15) return BadDuration(original, "too large");
  return milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  // Go's time.Duration.String() without its zero components: "1h30m", "2m5s", "1.5s", "250ms",
  // "0s". ParseDuration reads every non-negative result back to the same value.
  int64_t ms = d.count();
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms == 0) return "0s";
  if (ms < 1000) return out + std::to_string(ms) + "ms";
  const int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s || frac) {
    out += std::to_string(s);
    if (frac) {
      char buf[8];
      std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
      std::string f = buf;
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    out += "s";
  }
  return out;
}

std::string ShortAge(std::chrono::system_clock::duration d) {
  // k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl prints as AGE: about
  // two significant figures, and "<invalid>" for a time more than a second in the future.
  using namespace std::chrono;
  const int64_t s = duration_cast<seconds>(d).count();  // truncates toward zero, as Go's int()
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 60 * 2) return std::to_string(s) + "s";
  const int64_t minutes = s / 60;
  if (minutes < 10) {
    const int64_t rem = s % 60;
    return std::to_string(minutes) + "m" + (rem ? std::to_string(rem) + "s" : "");
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  const int64_t hours = s / 3600;
  if (hours < 8) {
    const int64_t rem = minutes % 60;
    return std::to_string(hours) + "h" + (rem ? std::to_string(rem) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    const int64_t rem = hours % 24;
    return std::to_string(hours / 24) + "d" + (rem ? std::to_string(rem) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    const int64_t rem = hours / 24 % 365;
    return std::to_string(hours / 24 / 365) + "y" + (rem ? std::to_string(rem) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

}  // namespace skiff
