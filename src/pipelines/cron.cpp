#include "pipelines/cron.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace skiff::pipelines {
namespace {

constexpr uint64_t kStarBit = uint64_t{1} << 63;

struct Bounds {
  unsigned min;
  unsigned max;
  const std::pair<std::string_view, unsigned>* names;
  size_t name_count;
};

constexpr std::pair<std::string_view, unsigned> kMonthNames[] = {
    {"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4},  {"may", 5},  {"jun", 6},
    {"jul", 7}, {"aug", 8}, {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
constexpr std::pair<std::string_view, unsigned> kDowNames[] = {
    {"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3}, {"thu", 4}, {"fri", 5}, {"sat", 6}};

constexpr Bounds kSeconds{0, 59, nullptr, 0};
constexpr Bounds kMinutes{0, 59, nullptr, 0};
constexpr Bounds kHours{0, 23, nullptr, 0};
constexpr Bounds kDom{1, 31, nullptr, 0};
constexpr Bounds kMonths{1, 12, kMonthNames, 12};
constexpr Bounds kDow{0, 6, kDowNames, 7};

std::string S(std::string_view v) { return std::string(v); }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// Go's strconv.Atoi, then robfig's "negative not allowed".
Result<unsigned> MustParseInt(std::string_view expr) {
  std::string_view digits = expr;
  bool neg = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    neg = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgument("Failed to parse int from " + S(expr) + ": strconv.Atoi: parsing \"" +
                           S(expr) + "\": invalid syntax");
  }
  if (neg) n = -n;
  if (n < 0) {
    return InvalidArgument("Negative number (" + std::to_string(n) + ") not allowed: " + S(expr));
  }
  if (n > 1000) n = 1000;  // beyond every bound; keeps the later range checks exact
  return static_cast<unsigned>(n);
}

Result<unsigned> ParseIntOrName(std::string_view expr, const Bounds& r) {
  if (r.names) {
    std::string lower(expr);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t i = 0; i < r.name_count; ++i) {
      if (r.names[i].first == lower) return r.names[i].second;
    }
  }
  return MustParseInt(expr);
}

uint64_t GetBits(unsigned min, unsigned max, unsigned step) {
  uint64_t bits = 0;
  for (unsigned i = min; i <= max; i += step) bits |= uint64_t{1} << i;
  return bits;
}

uint64_t All(const Bounds& r) { return GetBits(r.min, r.max, 1) | kStarBit; }

Result<uint64_t> GetRange(std::string_view expr, const Bounds& r) {
  std::vector<std::string_view> range_and_step = Split(expr, '/');
  std::vector<std::string_view> low_and_high = Split(range_and_step[0], '-');
  bool single = low_and_high.size() == 1;
  unsigned start = 0, end = 0, step = 1;
  uint64_t extra = 0;
  if (low_and_high[0] == "*" || low_and_high[0] == "?") {
    start = r.min;
    end = r.max;
    extra = kStarBit;
  } else {
    SKIFF_ASSIGN_OR_RETURN(start, ParseIntOrName(low_and_high[0], r));
    if (low_and_high.size() == 1) {
      end = start;
    } else if (low_and_high.size() == 2) {
      SKIFF_ASSIGN_OR_RETURN(end, ParseIntOrName(low_and_high[1], r));
    } else {
      return InvalidArgument("Too many hyphens: " + S(expr));
    }
  }
  if (range_and_step.size() == 2) {
    SKIFF_ASSIGN_OR_RETURN(step, MustParseInt(range_and_step[1]));
    if (single) end = r.max;  // "N/step" means "N-max/step"
  } else if (range_and_step.size() > 2) {
    return InvalidArgument("Too many slashes: " + S(expr));
  }
  if (start < r.min) {
    return InvalidArgument("Beginning of range (" + std::to_string(start) + ") below minimum (" +
                           std::to_string(r.min) + "): " + S(expr));
  }
  if (end > r.max) {
    return InvalidArgument("End of range (" + std::to_string(end) + ") above maximum (" +
                           std::to_string(r.max) + "): " + S(expr));
  }
  if (start > end) {
    return InvalidArgument("Beginning of range (" + std::to_string(start) +
                           ") beyond end of range (" + std::to_string(end) + "): " + S(expr));
  }
  if (step == 0) return InvalidArgument("Step of range should be a positive number: " + S(expr));
  return GetBits(start, end, step) | extra;
}

Result<uint64_t> GetField(std::string_view field, const Bounds& r) {
  uint64_t bits = 0;
  for (std::string_view expr : Split(field, ',')) {
    if (expr.empty()) continue;  // strings.FieldsFunc drops empty pieces
    SKIFF_ASSIGN_OR_RETURN(uint64_t b, GetRange(expr, r));
    bits |= b;
  }
  return bits;
}

// Go's time.ParseDuration, in nanoseconds (saturating; only the whole seconds matter here).
Result<double> ParseGoDuration(std::string_view s) {
  std::string orig(s);
  double total = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0.0;
  if (s.empty()) return InvalidArgument("time: invalid duration \"" + orig + "\"");
  while (!s.empty()) {
    size_t i = 0;
    double value = 0;
    bool any = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      value = value * 10 + (s[i] - '0');
      ++i;
      any = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        value += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        any = true;
      }
    }
    if (!any) return InvalidArgument("time: invalid duration \"" + orig + "\"");
    size_t u = i;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    double mult;
    if (unit == "ns") {
      mult = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      mult = 1e3;
    } else if (unit == "ms") {
      mult = 1e6;
    } else if (unit == "s") {
      mult = 1e9;
    } else if (unit == "m") {
      mult = 60e9;
    } else if (unit == "h") {
      mult = 3600e9;
    } else if (unit.empty()) {
      return InvalidArgument("time: missing unit in duration \"" + orig + "\"");
    } else {
      return InvalidArgument("time: unknown unit \"" + S(unit) + "\" in duration \"" + orig + "\"");
    }
    total += value * mult;
    s.remove_prefix(u);
  }
  if (total > 9.223372036854775807e18) {
    return InvalidArgument("time: invalid duration \"" + orig + "\"");
  }
  return neg ? -total : total;
}

Result<CronSchedule> ParseDescriptor(std::string_view d) {
  CronSchedule s;
  s.spec = std::string(d);
  auto at_midnight = [&] {
    s.second = uint64_t{1} << kSeconds.min;
    s.minute = uint64_t{1} << kMinutes.min;
    s.hour = uint64_t{1} << kHours.min;
  };
  if (d == "@yearly" || d == "@annually") {
    at_midnight();
    s.dom = uint64_t{1} << kDom.min;
    s.month = uint64_t{1} << kMonths.min;
    s.dow = All(kDow);
    return s;
  }
  if (d == "@monthly") {
    at_midnight();
    s.dom = uint64_t{1} << kDom.min;
    s.month = All(kMonths);
    s.dow = All(kDow);
    return s;
  }
  if (d == "@weekly") {
    at_midnight();
    s.dom = All(kDom);
    s.month = All(kMonths);
    s.dow = uint64_t{1} << kDow.min;
    return s;
  }
  if (d == "@daily" || d == "@midnight") {
    at_midnight();
    s.dom = All(kDom);
    s.month = All(kMonths);
    s.dow = All(kDow);
    return s;
  }
  if (d == "@hourly") {
    s.second = uint64_t{1} << kSeconds.min;
    s.minute = uint64_t{1} << kMinutes.min;
    s.hour = All(kHours);
    s.dom = All(kDom);
    s.month = All(kMonths);
    s.dow = All(kDow);
    return s;
  }
  constexpr std::string_view kEvery = "@every ";
  if (d.substr(0, kEvery.size()) == kEvery) {
    auto ns = ParseGoDuration(d.substr(kEvery.size()));
    if (!ns) {
      return InvalidArgument("Failed to parse duration " + S(d) + ": " + ns.error().message());
    }
    // robfig's Every: under a second becomes a second; otherwise rounded down to seconds.
    double seconds = std::floor(*ns / 1e9);
    s.every_seconds = seconds < 1 ? 1 : static_cast<int64_t>(seconds);
    return s;
  }
  return InvalidArgument("Unrecognized descriptor: " + S(d));
}

// Howard Hinnant's civil-from-days / days-from-civil (proleptic Gregorian, UTC).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool DayMatches(const CronSchedule& s, unsigned dom, unsigned weekday) {
  bool dom_match = (s.dom >> dom) & 1;
  bool dow_match = (s.dow >> weekday) & 1;
  if ((s.dom & kStarBit) || (s.dow & kStarBit)) return dom_match && dow_match;
  return dom_match || dow_match;
}

// The smallest set bit >= from and <= max, or -1.
int NextBit(uint64_t bits, unsigned from, unsigned max) {
  if (from > max) return -1;
  uint64_t mask = bits & (~uint64_t{0} << from);
  if (max < 63) mask &= (uint64_t{2} << max) - 1;
  if (mask == 0) return -1;
  return std::countr_zero(mask);
}

constexpr int64_t kDay = 86400;

// The latest fire time in [from, until], if any (from is a fire time or earlier).
std::optional<int64_t> LatestAtOrBefore(const CronSchedule& s, int64_t from, int64_t until) {
  if (until < from) return std::nullopt;
  // Find a window ending at `until` that holds a fire time, doubling it; then walk forward in
  // it. The walk visits only fire times in the window's older half.
  int64_t width = 1;
  std::optional<int64_t> found;
  while (true) {
    int64_t start = until - from <= width ? from : until - width;
    std::optional<int64_t> n = NextAfter(s, start - 1);
    if (n && *n <= until) {
      found = n;
      break;
    }
    if (start == from) return std::nullopt;
    width = width > std::numeric_limits<int64_t>::max() / 4
                ? std::numeric_limits<int64_t>::max() / 2
                : width * 2;
  }
  int64_t latest = *found;
  while (true) {
    std::optional<int64_t> n = NextAfter(s, latest);
    if (!n || *n > until) return latest;
    latest = *n;
  }
}

}  // namespace

Result<CronSchedule> ParseCron(std::string_view spec) {
  if (spec.empty()) return InvalidArgument("Empty spec string");
  if (spec[0] == '@') return ParseDescriptor(spec);
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < spec.size()) {
    while (i < spec.size() && std::isspace(static_cast<unsigned char>(spec[i]))) ++i;
    size_t start = i;
    while (i < spec.size() && !std::isspace(static_cast<unsigned char>(spec[i]))) ++i;
    if (i > start) fields.push_back(spec.substr(start, i - start));
  }
  if (fields.size() < 5 || fields.size() > 6) {
    return InvalidArgument("Expected 5 to 6 fields, found " + std::to_string(fields.size()) + ": " +
                           S(spec));
  }
  if (fields.size() == 5) fields.push_back("*");  // the optional day-of-week
  CronSchedule s;
  s.spec = std::string(spec);
  SKIFF_ASSIGN_OR_RETURN(s.second, GetField(fields[0], kSeconds));
  SKIFF_ASSIGN_OR_RETURN(s.minute, GetField(fields[1], kMinutes));
  SKIFF_ASSIGN_OR_RETURN(s.hour, GetField(fields[2], kHours));
  SKIFF_ASSIGN_OR_RETURN(s.dom, GetField(fields[3], kDom));
  SKIFF_ASSIGN_OR_RETURN(s.month, GetField(fields[4], kMonths));
  SKIFF_ASSIGN_OR_RETURN(s.dow, GetField(fields[5], kDow));
  return s;
}

std::optional<int64_t> NextAfter(const CronSchedule& s, int64_t after) {
  // Far outside any real schedule; keeps the arithmetic below from overflowing.
  constexpr int64_t kMargin = 400 * 366 * kDay;
  if (after >= std::numeric_limits<int64_t>::max() - kMargin ||
      after <= std::numeric_limits<int64_t>::min() + kMargin) {
    return std::nullopt;
  }
  if (s.every_seconds > 0) return after + s.every_seconds;
  int64_t t = after + 1;
  int64_t year0;
  unsigned m0, d0;
  CivilFromDays(FloorDiv(t, kDay), year0, m0, d0);
  const int64_t year_limit = year0 + 5;
  while (true) {
    int64_t days = FloorDiv(t, kDay);
    int64_t sod = t - days * kDay;
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, y, m, d);
    if (y > year_limit) return std::nullopt;
    if (!((s.month >> m) & 1)) {
      t = (m == 12 ? DaysFromCivil(y + 1, 1, 1) : DaysFromCivil(y, m + 1, 1)) * kDay;
      continue;
    }
    unsigned weekday = static_cast<unsigned>(((days % 7) + 11) % 7);  // 1970-01-01: Thursday
    if (!DayMatches(s, d, weekday)) {
      t = (days + 1) * kDay;
      continue;
    }
    unsigned hh = static_cast<unsigned>(sod / 3600);
    unsigned mm = static_cast<unsigned>((sod / 60) % 60);
    unsigned ss = static_cast<unsigned>(sod % 60);
    if (!((s.hour >> hh) & 1)) {
      int h = NextBit(s.hour, hh + 1, 23);
      t = h < 0 ? (days + 1) * kDay : days * kDay + h * 3600;
      continue;
    }
    if (!((s.minute >> mm) & 1)) {
      int mi = NextBit(s.minute, mm + 1, 59);
      t = mi < 0 ? days * kDay + (hh + 1) * 3600 : days * kDay + hh * 3600 + mi * 60;
      continue;
    }
    if (!((s.second >> ss) & 1)) {
      int se = NextBit(s.second, ss + 1, 59);
      t = se < 0 ? days * kDay + hh * 3600 + (mm + 1) * 60 : days * kDay + hh * 3600 + mm * 60 + se;
      continue;
    }
    return t;
  }
}

Status ValidateRecurringRun(std::optional<std::string_view> cron,
                            std::optional<int64_t> interval_seconds, int64_t max_concurrency,
                            bool v2beta1) {
  const std::string prefix = "Invalid input error: ";
  if (max_concurrency > 10 || max_concurrency < 1) {
    return InvalidArgument(
        prefix + (v2beta1 ? "Max concurrency of a recurring run must be at least 1 and at most "
                            "10. Received " +
                                std::to_string(max_concurrency)
                          : "The max concurrency of the job is out of range. Support 1-10. "
                            "Received " +
                                std::to_string(max_concurrency) + "."));
  }
  if (cron) {
    auto parsed = ParseCron(*cron);
    if (!parsed) {
      return InvalidArgument(prefix +
                             "Schedule cron is not a supported "
                             "format(https://godoc.org/github.com/robfig/cron). Error: " +
                             parsed.error().message());
    }
  }
  if (interval_seconds && *interval_seconds < 1) {
    return InvalidArgument(prefix + "Found invalid period schedule interval " +
                           std::to_string(*interval_seconds) +
                           ". Set at interval to least 1 second" + (v2beta1 ? "" : "."));
  }
  return Status::Ok();
}

std::optional<int64_t> NextScheduled(const Trigger& trigger, std::optional<int64_t> last_fired,
                                     int64_t created_at, int64_t now, bool no_catchup) {
  if (!trigger.cron && !trigger.interval_seconds) {
    if (last_fired) return std::nullopt;
    return created_at;
  }
  int64_t effective_last = last_fired           ? *last_fired
                           : trigger.start_time ? *trigger.start_time
                                                : created_at;
  int64_t start = effective_last;
  if (trigger.start_time && *trigger.start_time > start) start = *trigger.start_time;
  if (trigger.interval_seconds) {
    int64_t interval = *trigger.interval_seconds <= 0 ? 1 : *trigger.interval_seconds;
    int64_t result = start + interval;
    if (trigger.end_time && *trigger.end_time < result) return std::nullopt;
    if (no_catchup && now >= result + interval) return now;
    return result;
  }
  std::optional<int64_t> result = NextAfter(*trigger.cron, start);
  if (!result) return std::nullopt;
  if (trigger.end_time && *trigger.end_time < *result) return std::nullopt;
  if (!no_catchup) return result;
  int64_t until = now;
  if (trigger.end_time) until = std::min(until, *trigger.end_time);
  std::optional<int64_t> latest = LatestAtOrBefore(*trigger.cron, *result, until);
  return latest ? latest : result;
}

std::vector<int64_t> DueTimes(const Trigger& trigger, std::optional<int64_t> last_fired,
                              int64_t created_at, int64_t now, bool no_catchup, size_t max) {
  std::vector<int64_t> out;
  std::optional<int64_t> last = last_fired;
  while (out.size() < max) {
    std::optional<int64_t> next = NextScheduled(trigger, last, created_at, now, no_catchup);
    if (!next || *next > now) break;
    if (last && *next <= *last && (trigger.cron || trigger.interval_seconds)) break;
    out.push_back(*next);
    last = next;
  }
  return out;
}

}  // namespace skiff::pipelines
