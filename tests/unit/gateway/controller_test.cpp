// RoutesController::table(): the per-thread snapshot each thread keeps is the controller's
// current table, on every thread, and a published table replaces it everywhere.

#include "gateway/controller.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/json.hpp"
#include "gateway/kind.hpp"
#include "unit/wait_until.hpp"

namespace skiff::gateway {
namespace {

using skiff::testing::WaitUntil;

std::unique_ptr<store::Store> MemoryStore() {
  store::SqliteOptions o;
  o.path = ":memory:";
  auto s = store::OpenSqliteStore(o);
  EXPECT_TRUE(s) << s.error();
  return std::move(*s);
}

json::object VirtualServiceDoc(const std::string& name, const std::string& prefix) {
  auto doc = ParseJson(R"({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
      "metadata": {"name": ")" +
                       name + R"(", "namespace": "default"},
      "spec": {"hosts": ["*"], "http": [{"name": ")" +
                       name + R"(", "match": [{"uri": {"prefix": ")" + prefix +
                       R"("}}], "route": [{"destination": {"host": "10.0.0.1"}}]}]}})");
  EXPECT_TRUE(doc) << doc.error();
  return doc->as_object();
}

// The table another thread gets.
std::shared_ptr<const RouteTable> TableOnAnotherThread(const RoutesController& c) {
  return std::async(std::launch::async, [&c] { return c.table(); }).get();
}

std::string RouteNameOf(const RouteTable& t, const std::string& path) {
  RouteRequest r;
  r.path = path;
  SeededRandom random(1);
  return t.Route(r, random).route_name;
}

TEST(RoutesControllerTest, EveryThreadSeesTheCurrentTableAndEachPublishedOne) {
  auto store = MemoryStore();
  ASSERT_TRUE(store);
  RoutesController controller(*store, RoutesControllerOptions{});
  ASSERT_TRUE(controller.Start().ok());
  auto first = controller.table();
  ASSERT_TRUE(first);
  EXPECT_EQ(controller.table().get(), first.get());
  EXPECT_EQ(TableOnAnotherThread(controller).get(), first.get());
  EXPECT_EQ(RouteNameOf(*first, "/a/x"), "");  // no route yet

  const uint64_t generation = controller.generation();
  auto created = store->Create({std::string(kVirtualServiceResource), "default", "a"},
                               VirtualServiceDoc("a", "/a/"));
  ASSERT_TRUE(created) << created.error();
  ASSERT_TRUE(WaitUntil([&] { return controller.generation() > generation; }));
  auto second = controller.table();
  ASSERT_TRUE(second);
  EXPECT_NE(second.get(), first.get());
  EXPECT_EQ(RouteNameOf(*second, "/a/x"), "a");
  EXPECT_EQ(TableOnAnotherThread(controller).get(), second.get());
  EXPECT_EQ(RouteNameOf(*first, "/a/x"), "");  // a request's table stays as it was

  // Another controller on this thread has its own table, and the first keeps its own.
  auto other_store = MemoryStore();
  ASSERT_TRUE(other_store);
  RoutesController other(*other_store, RoutesControllerOptions{});
  ASSERT_TRUE(other.Start().ok());
  EXPECT_EQ(RouteNameOf(*other.table(), "/a/x"), "");
  EXPECT_EQ(controller.table().get(), second.get());
  EXPECT_NE(other.table().get(), second.get());
}

}  // namespace
}  // namespace skiff::gateway
