#pragma once
// Login back-off against password guessing: failures are counted per key (a user of a
// connector, a client address); past a threshold each further attempt must wait
// 1s * 2^(failures - threshold), capped at `max`. The threshold is `after` for a user and
// kAddressFactor * `after` for an address, because many honest users may share one address
// (a NAT, a corporate proxy) and their typos add up there. A success clears the user's count
// (not the address's); a count older than 4 * max starts over. Bounded memory: the oldest
// entries are dropped past max_entries. Thread-safe.

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "core/clock.hpp"

namespace skiff::identity {

class LoginThrottle {
 public:
  static constexpr int kAddressFactor = 4;
  LoginThrottle(const Clock& clock, int after, std::chrono::seconds max,
                size_t max_entries = 100'000)
      : clock_(clock), after_(after), max_(max), max_entries_(max_entries) {}

  // How long the caller must wait before trying `user` from `address`; 0 = go ahead.
  std::chrono::seconds RetryAfter(const std::string& user, const std::string& address) const;
  void RecordFailure(const std::string& user, const std::string& address);
  void RecordSuccess(const std::string& user);

 private:
  struct Entry {
    int failures = 0;
    std::chrono::steady_clock::time_point last;
  };
  std::chrono::seconds Wait(const std::string& key, int threshold) const;  // REQUIRES: mu_ held
  void Fail(const std::string& key);                                       // REQUIRES: mu_ held

  const Clock& clock_;
  const int after_;
  const std::chrono::seconds max_;
  const size_t max_entries_;
  mutable std::mutex mu_;  // guards entries_
  std::map<std::string, Entry> entries_;
};

}  // namespace skiff::identity
