// lfh.hpp: RAII heap, heap_allocator with standard containers, heap_resource with std::pmr.
#include <catch2/catch.hpp>
#include <map>
#include <memory_resource>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "heap_test_util.h"
#include "lfh/lfh.hpp"

TEST_CASE("heap_allocator puts a std::vector and a std::map in a private heap") {
  heap_test::warm_up_metadata();
  lfh_stats_t before{};
  lfh_stats_get(&before);
  {
    lfh::heap h;
    std::vector<int, lfh::heap_allocator<int>> v{lfh::heap_allocator<int>(h)};
    for (int i = 0; i < 100000; ++i) v.push_back(i);
    CHECK(lfh_heap_of(v.data()) == h.get());
    using Alloc = lfh::heap_allocator<std::pair<const int, std::string>>;
    std::map<int, std::string, std::less<int>, Alloc> m{Alloc(h)};
    for (int i = 0; i < 2000; ++i) m.emplace(i, std::string(40, 'x'));
    CHECK(m.size() == 2000);
    CHECK(h.validate());
    std::size_t blocks = 0;
    h.walk([&](const lfh_heap_entry_t &e) { blocks += e.in_use; return true; });
    CHECK(blocks >= 2001);
    // The heap is destroyed with h, after v and m (declared later) have released their blocks.
  }
  lfh_stats_t after{};
  lfh_stats_get(&after);
  CHECK(after.reserved_bytes <= before.reserved_bytes);
}

TEST_CASE("heap_resource serves std::pmr containers and dropping the heap drops them at once") {
  lfh::heap h;
  lfh::heap_resource r(h);
  auto *m = new std::pmr::unordered_map<std::pmr::string, std::pmr::vector<int>>(&r);
  for (int i = 0; i < 5000; ++i) (*m)[std::pmr::string("key-" + std::to_string(i) + std::string(30, 'k'))].assign(10, i);
  CHECK(m->size() == 5000);
  CHECK(r.is_equal(r));
  lfh::heap_resource r2(h);
  CHECK(r.is_equal(r2));
  // Over-aligned requests are honoured.
  void *a = r.allocate(100, 256);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 256 == 0);
  r.deallocate(a, 100, 256);
  // No destructor run: the whole structure goes with the heap.
  h.reset();
  CHECK(lfh_heap_of(m) == nullptr);   // m itself came from operator new, not the heap
  ::operator delete(m);
}

TEST_CASE("lfh::heap is BasicLockable and movable") {
  lfh::heap h;
  {
    std::lock_guard<lfh::heap> g(h);
    void *p = h.allocate(64);
    h.deallocate(p);
  }
  lfh::heap moved(std::move(h));
  CHECK(moved.get() != nullptr);
  CHECK(h.get() == nullptr);
  void *p = moved.allocate(1 << 20, 4096);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 4096 == 0);
  CHECK(moved.size_of(p) >= (1u << 20));
}
