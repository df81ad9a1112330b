#include "gateway/controller.hpp"

#include "core/log.hpp"
#include "gateway/kind.hpp"

namespace skiff::gateway {

RoutesController::RoutesController(store::Store& store, RoutesControllerOptions options)
    : store_(store), options_(std::move(options)), id_([] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1);
      }()) {}

std::shared_ptr<const RouteTable> RoutesController::table() const {
  struct Cached {
    uint64_t owner = 0;
    uint64_t generation = 0;
    std::shared_ptr<const RouteTable> table;  // aliases a holder of this thread's own
  };
  thread_local Cached cached;
  // Rebuild stores the table before it counts the generation: a generation seen here has its
  // table (or a later one) in table_.
  const uint64_t generation = generation_.load();
  if (cached.owner != id_ || cached.generation != generation || !cached.table) {
    auto holder = std::make_shared<const std::shared_ptr<const RouteTable>>(table_.load());
    if (!*holder) return nullptr;
    cached.table = std::shared_ptr<const RouteTable>(holder, holder->get());
    cached.owner = id_;
    cached.generation = generation;
  }
  return cached.table;
}

RoutesController::~RoutesController() { Stop(); }

Status RoutesController::Start() {
  int64_t version = 0;
  SKIFF_RETURN_IF_ERROR(Rebuild(&version));
  SKIFF_RETURN_IF_ERROR(StartWatch(version));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void RoutesController::Stop() {
  std::unique_ptr<store::Watch> watch;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    watch = std::move(watch_);
  }
  cv_.notify_all();
  if (watch) watch->Stop();
  if (thread_.joinable()) thread_.join();
}

Status RoutesController::StartWatch(int64_t from_version) {
  store::WatchOptions wo;
  wo.from_version = from_version;
  auto on_event = [this](const store::Event&) {
    {
      std::lock_guard lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  };
  auto on_error = [this](const Status& s) {
    spdlog::warn("VirtualService watch ended ({}); listing again", s.ToString());
    {
      std::lock_guard lock(mu_);
      rewatch_ = true;
    }
    cv_.notify_all();
  };
  SKIFF_ASSIGN_OR_RETURN(
      auto watch, store_.StartWatch(std::string(kVirtualServiceResource), wo, on_event, on_error));
  std::lock_guard lock(mu_);
  if (stopping_) {
    watch->Stop();
    return Status::Ok();
  }
  watch_ = std::move(watch);
  return Status::Ok();
}

Status RoutesController::Rebuild(int64_t* version) {
  SKIFF_ASSIGN_OR_RETURN(store::ListResult list,
                         store_.List(std::string(kVirtualServiceResource), {}));
  *version = list.resource_version;
  std::vector<VirtualService> services;
  services.reserve(list.items.size());
  for (const auto& item : list.items) {
    auto vs = ParseVirtualService(item.object, nullptr, options_.table.cluster_domain);
    if (!vs) {
      spdlog::error("VirtualService {}/{} is left out of the routing table: {}", item.key.ns,
                    item.key.name, vs.error().message());
      continue;
    }
    services.push_back(std::move(*vs));
  }
  SKIFF_ASSIGN_OR_RETURN(auto table, RouteTable::Build(options_.before, std::move(services),
                                                       options_.after, options_.table));
  table_.store(std::move(table));
  generation_.fetch_add(1);
  return Status::Ok();
}

void RoutesController::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || dirty_ || rewatch_; });
    if (stopping_) return;
    bool rewatch = rewatch_;
    dirty_ = false;
    rewatch_ = false;
    std::unique_ptr<store::Watch> old_watch;
    if (rewatch) old_watch = std::move(watch_);
    lock.unlock();
    if (old_watch) old_watch->Stop();
    int64_t version = 0;
    Status s = Rebuild(&version);
    if (!s.ok()) spdlog::error("cannot rebuild the routing table: {}", s.ToString());
    if (rewatch && s.ok()) {
      if (Status w = StartWatch(version); !w.ok()) {
        spdlog::error("cannot watch VirtualServices: {}", w.ToString());
      }
    }
    lock.lock();
  }
}

}  // namespace skiff::gateway
