#pragma once
// CachingAllocator: an allocator for objects a server makes and drops at the rate of its requests
// (the proxy's per-request shared state, made with std::allocate_shared): each thread keeps up
// to kCachedBlocks of the blocks it freed, per allocated type, and hands them out again before
// asking operator new, so that steady traffic costs a list push and pop per object instead of a
// malloc and a free.
//
// Threading: the cache is per thread and needs no lock; a block freed on another thread than
// the one that allocated it joins the freeing thread's cache. A thread's cached blocks are freed
// when it exits (blocks freed after that go straight to operator delete).

#include <cstddef>
#include <new>

namespace skiff {

template <class T>
class CachingAllocator {
 public:
  using value_type = T;
  static constexpr size_t kCachedBlocks = 64;

  CachingAllocator() noexcept = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit

  T* allocate(size_t n) {
    if (n == 1 && !Gone()) {
      Cache& c = ThreadCache();
      if (c.head != nullptr) {
        Node* block = c.head;
        c.head = block->next;
        --c.count;
        return reinterpret_cast<T*>(block);
      }
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }

  void deallocate(T* p, size_t n) noexcept {
    if (n == 1 && !Gone()) {
      Cache& c = ThreadCache();
      if (c.count < kCachedBlocks) {
        c.head = ::new (static_cast<void*>(p)) Node{c.head};  // the object is gone: reuse
        ++c.count;
        return;
      }
    }
    ::operator delete(p);
  }

  template <class U>
  bool operator==(const CachingAllocator<U>&) const noexcept {
    return true;
  }

 private:
  struct Node {
    Node* next;
  };
  static_assert(sizeof(T) >= sizeof(Node), "a block must hold a list link");
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "operator new's alignment");

  struct Cache {
    Node* head = nullptr;
    size_t count = 0;
    ~Cache() {
      GoneFlag() = true;
      while (head != nullptr) {
        Node* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
  };
  static Cache& ThreadCache() {
    thread_local Cache cache;
    return cache;
  }
  // Trivially destructible, so still readable while (and after) the thread's cache is destroyed.
  static bool& GoneFlag() {
    thread_local bool gone = false;
    return gone;
  }
  static bool Gone() { return GoneFlag(); }
};

}  // namespace skiff
