#pragma once
// WaitUntil, shared by the unit tests: polls a condition until it holds or a deadline passes.
// The short pause between polls orders nothing: the deadline bounds the wait, the condition
// decides. Use it for state another thread or process reaches; never wait a fixed time.

#include <chrono>
#include <thread>

namespace skiff::testing {

template <class Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace skiff::testing
