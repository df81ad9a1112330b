#include "core/caching_allocator.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace skiff {
namespace {

struct Counted {
  static inline int alive = 0;
  explicit Counted(int v) : value(v) { ++alive; }
  ~Counted() { --alive; }
  int value;
  char payload[200] = {};
};

TEST(CachingAllocatorTest, AFreedBlockIsHandedOutAgainOnItsThread) {
  std::thread([] {  // a thread of its own: its cache starts empty
    CachingAllocator<Counted> a;
    Counted* first = a.allocate(1);
    a.deallocate(first, 1);
    Counted* again = a.allocate(1);
    EXPECT_EQ(again, first);
    Counted* other = a.allocate(1);  // the cache is empty again: a new block
    EXPECT_NE(other, again);
    a.deallocate(again, 1);
    a.deallocate(other, 1);
    // Last freed, first out.
    EXPECT_EQ(a.allocate(1), other);
    EXPECT_EQ(a.allocate(1), again);
    a.deallocate(again, 1);
    a.deallocate(other, 1);
  })
      .join();
}

TEST(CachingAllocatorTest, KeepsAtMostItsLimitAndAllocatesArraysAsUsual) {
  std::thread([] {
    CachingAllocator<Counted> a;
    const size_t n = CachingAllocator<Counted>::kCachedBlocks + 10;
    std::vector<Counted*> blocks;
    for (size_t i = 0; i < n; ++i) blocks.push_back(a.allocate(1));
    for (Counted* b : blocks) a.deallocate(b, 1);  // the last 10 go to operator delete
    std::set<Counted*> cached;
    for (size_t i = 0; i < CachingAllocator<Counted>::kCachedBlocks; ++i) {
      cached.insert(a.allocate(1));
    }
    EXPECT_EQ(cached.size(), CachingAllocator<Counted>::kCachedBlocks);
    for (size_t i = 0; i < CachingAllocator<Counted>::kCachedBlocks; ++i) {
      EXPECT_TRUE(cached.count(blocks[i]) == 1) << i;  // the first kCachedBlocks freed
    }
    for (Counted* b : cached) a.deallocate(b, 1);
    Counted* array = a.allocate(3);  // not from the cache
    EXPECT_EQ(cached.count(array), 0u);
    a.deallocate(array, 3);
  }).join();
}

TEST(CachingAllocatorTest, SharedObjectsAreBuiltAndDestroyedAndBlocksCrossThreads) {
  std::shared_ptr<Counted> made_here;
  std::thread([&] {
    auto p = std::allocate_shared<Counted>(CachingAllocator<Counted>(), 7);
    EXPECT_EQ(p->value, 7);
    EXPECT_EQ(Counted::alive, 1);
    made_here = p;
  }).join();  // the thread's cache is freed at its exit; the object lives on
  EXPECT_EQ(made_here->value, 7);
  std::thread([&] {
    made_here.reset();  // destroyed, its block kept by this thread
    EXPECT_EQ(Counted::alive, 0);
    auto q = std::allocate_shared<Counted>(CachingAllocator<Counted>(), 8);
    EXPECT_EQ(q->value, 8);
    EXPECT_EQ(Counted::alive, 1);
  }).join();
  EXPECT_EQ(Counted::alive, 0);
}

}  // namespace
}  // namespace skiff
