// Alignment (every power of two from 8 to 64 MB) and realloc in place (grow into a free
// neighbour, shrink by splitting), in the core heap and through lfh::Heap across the tiers.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "core_test_util.h"
#include "heap/heap.h"
#include "test_util.h"
#include "vm/vm.h"

using namespace core_test;
using lfh::Heap;

namespace {

struct PrivateHeap {
  std::unique_ptr<Heap> heap{new Heap()};
  PrivateHeap() {
    lfh::process_heap();
    REQUIRE(heap->init(0, 0, 0, 4, 256, true));
  }
  ~PrivateHeap() { heap->release_all(); }
};

}  // namespace

TEST_CASE("core heap: aligned blocks, the slack in front is a free block, nothing leaks") {
  TestCore t;
  std::vector<void *> v;
  for (std::size_t a = 32; a <= 256 * 1024; a *= 2) {
    for (std::size_t n : {std::size_t(1), std::size_t(100), std::size_t(20000), std::size_t(100000)}) {
      INFO("align " << a << " size " << n);
      if (!t.core.serves(n, a)) continue;
      char *p = static_cast<char *>(t.alloc(n, a));
      REQUIRE(p);
      CHECK(lfh_test::aligned(p, a));
      CHECK(t.usable(p) >= n);
      std::memset(p, 0x77, n);
      v.push_back(p);
    }
  }
  CHECK(t.core.validate());
  for (void *p : v) t.free(p);
  // Every segment is one free block again: the slack went back with its neighbours.
  CoreStats st = t.stats();
  CHECK(st.blocks == 0);
  CHECK(st.free_blocks == st.segments);
  CHECK(t.core.validate());
}

TEST_CASE("core heap: address space spent on alignment is at most the alignment") {
  TestCore t;
  void *first = t.alloc(20000);
  const std::size_t a = 256 * 1024;
  char *p = static_cast<char *>(t.alloc(100000, a));
  REQUIRE(p);
  CHECK(lfh_test::aligned(p, a));
  CoreBlockInfo i = t.info(p);
  CoreBlockInfo before = t.info(static_cast<char *>(i.block) - 1);
  // The block's front slack became a free block of less than align + its record.
  if (before.free) CHECK(before.size < a + kMinBlock);
  CHECK(t.stats().segments == 1);
  t.free(p);
  t.free(first);
}

TEST_CASE("lfh::Heap: every alignment from 8 bytes to 1 GB") {
  PrivateHeap ph;
  Heap &h = *ph.heap;
  for (std::size_t a = 8; a <= (std::size_t(1) << 30); a *= 2) {
    for (std::size_t n : {std::size_t(1), std::size_t(3000), std::size_t(20000), std::size_t(300000),
                          std::size_t(1) << 21}) {
      INFO("align " << a << " size " << n);
      const std::uint64_t reserved0 = lfh::vm::totals().reserved;
      char *p = static_cast<char *>(h.alloc_aligned(a, n));
      REQUIRE(p);
      CHECK(lfh_test::aligned(p, a));
      CHECK(lfh::usable_size(p) >= n);
      p[0] = 1;
      p[n - 1] = 2;
      // Address space: never the request plus the alignment again (a direct block's region is
      // reserved aligned and trimmed; small and core blocks come from the first few regions).
      const std::uint64_t grew = lfh::vm::totals().reserved - reserved0;
      CHECK(grew <= std::max<std::uint64_t>(8 << 20, n + n / 4 + (1 << 20)));
      lfh::free_block(p);
    }
  }
  h.trim();
  lfh::HeapStats st;
  h.stats(&st);
  CHECK(st.core_blocks == 0);
  CHECK(st.direct_blocks == 0);
  CHECK(st.core_segments == 0);
}

TEST_CASE("core heap: resize grows in place into a free neighbour, shrinks by splitting") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(100000));
  char *b = static_cast<char *>(t.alloc(100000));
  char *c = static_cast<char *>(t.alloc(100000));
  lfh_test::fill(a, 100000, 3);
  t.free(b);
  REQUIRE(t.resize(a, 150000));   // into half of b
  CHECK(t.usable(a) == block_bytes(150000) - kHeaderSize);
  CHECK(lfh_test::check(a, 100000, 3));
  CoreBlockInfo rest = t.info(a + 160000);
  CHECK(rest.free);
  CHECK(static_cast<char *>(rest.block) == a - kHeaderSize + block_bytes(150000));
  CHECK_FALSE(t.resize(a, 300000));   // c is in the way
  CHECK(t.usable(a) == block_bytes(150000) - kHeaderSize);
  REQUIRE(t.resize(a, 200000 - 32));   // exactly a and b
  CHECK(t.info(c).block == a - kHeaderSize + 2 * block_bytes(100000));
  // Shrink: the tail becomes a free block merged with nothing (c is busy) …
  REQUIRE(t.resize(a, 40000));
  CHECK(t.usable(a) == block_bytes(40000) - kHeaderSize);
  CHECK(t.info(a + 50000).free);
  CHECK(lfh_test::check(a, 40000, 3));
  // … and a second shrink merges its tail with that free block.
  REQUIRE(t.resize(a, 30000));
  CoreBlockInfo tail = t.info(a + 35000);
  CHECK(tail.free);
  CHECK(static_cast<char *>(tail.block) + tail.size == c - kHeaderSize);
  CHECK(t.core.validate());
  t.free(a);
  t.free(c);
}

TEST_CASE("lfh::Heap realloc: in place in the core heap, live bytes only across tiers") {
  PrivateHeap ph;
  Heap &h = *ph.heap;
  char *p = static_cast<char *>(h.alloc(100000));
  REQUIRE(p);
  lfh_test::fill(p, 100000, 5);
  // A fresh segment's tail is free: growth stays in place, and so does shrinking.
  CHECK(h.realloc(p, 300000) == p);
  CHECK(lfh_test::check(p, 100000, 5));
  CHECK(h.realloc(p, 60000) == p);
  CHECK(lfh_test::check(p, 60000, 5));
  CHECK(h.realloc(p, 90000, /*in_place_only=*/true) == p);
  // Down to the LFH.
  char *q = static_cast<char *>(h.realloc(p, 5000));
  REQUIRE(q);
  CHECK(q != p);
  CHECK(lfh::vm::pagemap_lookup(q)->kind == lfh::vm::OwnerKind::kLfhSubsegment);
  CHECK(lfh_test::check(q, 5000, 5));
  // Up to the core heap and on to a direct block.
  lfh_test::fill(q, 5000, 6);
  p = static_cast<char *>(h.realloc(q, 40000));
  REQUIRE(p);
  CHECK(lfh::vm::pagemap_lookup(p)->kind == lfh::vm::OwnerKind::kCoreSegment);
  CHECK(lfh_test::check(p, 5000, 6));
  lfh_test::fill(p, 40000, 7);
  q = static_cast<char *>(h.realloc(p, 12 << 20));   // above the 8 MB direct threshold
  REQUIRE(q);
  CHECK(lfh::vm::pagemap_lookup(q)->kind == lfh::vm::OwnerKind::kDirectBlock);
  CHECK(lfh_test::check(q, 40000, 7));
  // Direct growth past the headroom moves the pages (mremap) and keeps them.
  lfh_test::fill(q, 12 << 20, 8);
  char *r = static_cast<char *>(h.realloc(q, 40 << 20));
  REQUIRE(r);
  CHECK(lfh_test::check(r, 12 << 20, 8));
  CHECK(lfh::usable_size(r) >= (std::size_t(40) << 20));
  CHECK(lfh::vm::pagemap_lookup(q) == nullptr);
  // Back down into the core heap: the pointer may stay a direct block (its tail decommitted).
  char *s = static_cast<char *>(h.realloc(r, 200000));
  REQUIRE(s);
  CHECK(lfh_test::check(s, 200000, 8));
  lfh::free_block(s);
  h.trim();
  lfh::HeapStats st;
  h.stats(&st);
  CHECK(st.core_blocks == 0);
  CHECK(st.direct_blocks == 0);
}
