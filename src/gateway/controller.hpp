#pragma once
// RoutesController: keeps the gateway's RouteTable in step with the VirtualServices in the
// store. Lists them at Start (the first table is built before Start returns), then watches;
// every change rebuilds the whole table on the controller's own thread (coalescing bursts) and
// publishes it as an immutable snapshot. A VirtualService that no longer parses (stored by an
// older skiff with laxer rules) is left out of the table and logged; the others still route.
// Thread-safe: table() may be called from any thread.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "gateway/route_table.hpp"
#include "store/store.hpp"

namespace skiff::gateway {

struct RoutesControllerOptions {
  std::vector<BuiltinRoute> before;  // skiff's reserved routes
  std::vector<BuiltinRoute> after;   // model serving, the dashboard
  RouteTableOptions table;
};

class RoutesController {
 public:
  RoutesController(store::Store& store, RoutesControllerOptions options);
  ~RoutesController();  // Stop()
  RoutesController(const RoutesController&) = delete;
  RoutesController& operator=(const RoutesController&) = delete;

  // Builds the first table and starts watching. Errors: the store's, or a built-in route table
  // that does not compile (a bug).
  Status Start();
  void Stop();

  // The current table; never null after Start succeeded. Each thread keeps the table it last
  // got, checked against generation(): the shared snapshot (its lock bit and reference count)
  // is touched only when a new table is published, not by every request of every I/O thread.
  // What a thread gets is its own reference (an aliasing shared_ptr), so the copies a request
  // makes count on a line no other thread writes.
  std::shared_ptr<const RouteTable> table() const;
  // How many tables have been published (tests wait for a rebuild with it).
  uint64_t generation() const { return generation_.load(); }

 private:
  // Lists, compiles and publishes; `version` is the list's resource version (watch from it).
  Status Rebuild(int64_t* version);
  Status StartWatch(int64_t from_version);
  void Run();

  store::Store& store_;
  const RoutesControllerOptions options_;
  std::atomic<std::shared_ptr<const RouteTable>> table_;
  std::atomic<uint64_t> generation_{0};
  // Tells controllers apart in the threads' caches (an address may be reused).
  const uint64_t id_;

  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  bool dirty_ = false;
  bool rewatch_ = false;  // the watch ended: list again and restart it
  bool stopping_ = false;
  std::unique_ptr<store::Watch> watch_;
  std::thread thread_;
};

}  // namespace skiff::gateway
