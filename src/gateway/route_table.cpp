#include "gateway/route_table.hpp"

namespace skiff::gateway {

struct RouteTable::Impl {};

SeededRandom::SeededRandom(uint64_t seed) : state_(seed) {}
uint64_t SeededRandom::Below(uint64_t n) {
  state_ += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) % n;
}
Random& ThreadLocalRandom() {
  thread_local SeededRandom r(0);
  return r;
}
std::string RouteRequest::Host() const { return authority; }
std::vector<BuiltinRoute> PlatformRoutes(std::string_view) { return {}; }
void ApplyHeaderOps(const std::vector<HeaderOp>&, http::HeaderMap&) {}
std::string_view Decision::KindName(Kind) { return ""; }
json::object Decision::ToJson() const { return {}; }
std::string Decision::ToText() const { return ""; }
json::object Trace::ToJson() const { return {}; }
std::string Trace::ToText() const { return ""; }
json::array RowsToJson(const std::vector<RouteRow>&) { return {}; }
std::string RowsToText(const std::vector<RouteRow>&) { return ""; }
Result<std::shared_ptr<const RouteTable>> RouteTable::Build(std::vector<BuiltinRoute>,
                                                            std::vector<VirtualService>,
                                                            std::vector<BuiltinRoute>,
                                                            RouteTableOptions) {
  return std::make_shared<const RouteTable>(std::make_unique<Impl>());
}
Decision RouteTable::Route(const RouteRequest&, Random&, Trace*) const { return {}; }
std::vector<RouteRow> RouteTable::List() const { return {}; }
RouteTable::RouteTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouteTable::~RouteTable() = default;

}  // namespace skiff::gateway
