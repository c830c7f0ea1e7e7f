// lfh::Heap through lfh_internal (glibc keeps malloc in this process): every bucket, alignment,
// usable size, zeroing, realloc across tiers, lfh_owns, private heaps and their teardown.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "heap/heap.h"
#include "heap/runtime.h"
#include "lfh/lfh.h"
#include "test_util.h"
#include "vm/vm.h"

using namespace lfh;
using namespace lfh::lfh_buckets;
using lfh_test::aligned;

namespace {

// A private heap set up like the process heap (look-aside lists on) and torn down at scope exit.
struct PrivateHeap {
  Heap heap;
  explicit PrivateHeap(unsigned flags = 0, std::size_t maximum = 0, bool lookaside = true) {
    process_heap();   // initialises the runtime: page map, link key
    REQUIRE(heap.init(flags, 0, maximum, 4, 256, lookaside));
  }
  ~PrivateHeap() { heap.release_all(); }
};

// Alignment an LFH block of a request of n bytes must have.
// What malloc(n) promises: 16-byte alignment unless n's bucket is an 8-byte step (only requests
// of at most 8 or of 17..24 bytes: from 32 bytes on — sizeof(max_align_t) — requests are rounded
// to 16-byte multiples, see bucket_for_request).
std::size_t expected_alignment(std::size_t n) {
  std::size_t s = block_size(bucket_for_request(n));
  return s % 16 == 0 ? 16 : 8;
}

}  // namespace

TEST_CASE("every bucket allocates aligned usable writable blocks") {
  PrivateHeap ph;
  Heap &h = ph.heap;
  for (unsigned b = 0; b < kBuckets; ++b) {
    const std::size_t bs = block_size(b);
    const std::size_t smallest = b ? block_size(b - 1) + 1 : 1;   // smallest request of bucket b
    for (std::size_t n : {smallest, bs}) {
      INFO("bucket " << b << " request " << n);
      void *p = h.alloc(n);
      REQUIRE(p != nullptr);
      const unsigned got = bucket_for_request(n);
      CHECK(aligned(p, expected_alignment(n)));
      CHECK(aligned(p, block_alignment(got)));
      CHECK(usable_size(p) == block_size(got));
      CHECK(block_size(got) >= n);
      CHECK(block_size(got) - n < 16 + (got == b ? bs - n : 0));   // no more slack than rounding to 16 adds
      CHECK(owner_heap(p) == &h);
      CHECK(lfh_owns(p));
      lfh_test::fill(p, bs, 42);
      CHECK(lfh_test::check(p, bs, 42));
      free_block(p);
    }
  }
}

TEST_CASE("multiples of 16 and every request of 32 bytes or more are 16-aligned") {
  PrivateHeap ph;
  std::vector<void *> live;
  for (std::size_t n = 16; n <= kMaxSize; n += 16) {
    void *p = ph.heap.alloc(n);
    REQUIRE(p != nullptr);
    if (!aligned(p, 16)) FAIL("size " << n << " at " << p);
    live.push_back(p);
  }
  for (std::size_t n : {8, 24}) {   // 8-byte-step buckets: 8-aligned
    for (int i = 0; i < 50; ++i) {
      void *p = ph.heap.alloc(n);
      REQUIRE(p != nullptr);
      if (!aligned(p, 8)) FAIL("size " << n << " at " << p);
      live.push_back(p);
    }
  }
  for (std::size_t n = 32; n <= 1024; ++n) {   // max_align_t (32 bytes) fits: 16-aligned
    void *p = ph.heap.alloc(n);
    REQUIRE(p != nullptr);
    if (!aligned(p, 16)) FAIL("size " << n << " at " << p);
    live.push_back(p);
  }
  for (void *p : live) free_block(p);
}

TEST_CASE("many blocks of one bucket do not overlap and keep their contents") {
  PrivateHeap ph;
  for (unsigned b : {0u, 5u, 31u, 47u, 63u, 95u, 127u}) {
    const std::size_t bs = block_size(b), n = 3 * blocks_per_span(b) + 7;
    INFO("bucket " << b);
    std::vector<char *> blocks;
    for (std::size_t i = 0; i < n; ++i) {
      char *p = static_cast<char *>(ph.heap.alloc(bs));
      REQUIRE(p != nullptr);
      lfh_test::fill(p, bs, lfh_test::seed_for(p, bs));
      blocks.push_back(p);
    }
    std::vector<char *> sorted = blocks;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i + 1 < sorted.size(); ++i) REQUIRE(sorted[i] + bs <= sorted[i + 1]);
    for (char *p : blocks) REQUIRE(lfh_test::check(p, bs, lfh_test::seed_for(p, bs)));
    for (char *p : blocks) free_block(p);
  }
  // Everything came back: after a trim the heap holds no block.
  ph.heap.trim();
  HeapStats st;
  ph.heap.stats(&st);
  CHECK(st.lfh_blocks_out == 0);
}

TEST_CASE("alloc_zeroed returns zeros even where a dirty block is reused") {
  PrivateHeap ph;
  for (std::size_t n : {1, 8, 100, 1000, 16384, 20000, 300000}) {
    INFO("size " << n);
    void *dirty = ph.heap.alloc(n);
    REQUIRE(dirty != nullptr);
    std::memset(dirty, 0xab, n);
    free_block(dirty);
    void *p = ph.heap.alloc_zeroed(n);
    REQUIRE(p != nullptr);
    CHECK(lfh_test::all_zero(p, n));
    free_block(p);
  }
}

TEST_CASE("realloc keeps the contents across LFH -> large -> LFH") {
  PrivateHeap ph;
  Heap &h = ph.heap;
  char *p = static_cast<char *>(h.alloc(100));
  REQUIRE(p != nullptr);
  lfh_test::fill(p, 100, 1);
  // Through every tier and back: bigger LFH bucket, large block, direct block, LFH, small bucket.
  std::size_t live = 100;
  std::uint64_t seed = 1;
  for (std::size_t n : {std::size_t(1000), std::size_t(100000), std::size_t(4) << 20, std::size_t(5000),
                        std::size_t(24)}) {
    INFO("realloc " << live << " -> " << n);
    p = static_cast<char *>(h.realloc(p, n));
    REQUIRE(p != nullptr);
    CHECK(owner_heap(p) == &h);
    CHECK(usable_size(p) >= n);
    CHECK(lfh_test::check(p, std::min(live, n), seed));
    lfh_test::fill(p, n, ++seed);
    live = n;
  }
  CHECK(usable_size(p) == block_size(bucket_of(24)));
  free_block(p);
}

TEST_CASE("a direct block grows in place within its headroom") {
  PrivateHeap ph;
  const std::size_t n = std::size_t(16) << 20;   // above the direct threshold (8 MB)
  char *p = static_cast<char *>(ph.heap.alloc(n));
  REQUIRE(p != nullptr);
  lfh_test::fill(p, n, 3);
  char *q = static_cast<char *>(ph.heap.realloc(p, n + n / 8));   // direct.h: 25 % headroom
  REQUIRE(q != nullptr);
  CHECK(q == p);
  CHECK(usable_size(q) >= n + n / 8);
  CHECK(lfh_test::check(q, n, 3));
  free_block(q);
}

TEST_CASE("realloc within a block's bucket stays in place") {
  PrivateHeap ph;
  char *p = static_cast<char *>(ph.heap.alloc(1000));
  REQUIRE(p != nullptr);
  CHECK(ph.heap.realloc(p, 1024) == p);
  CHECK(ph.heap.realloc(p, 993) == p);
  free_block(p);
}

TEST_CASE("realloc to a multiple of 16 returns a 16-aligned block") {
  PrivateHeap ph;
  // 24-byte blocks are 8-aligned (and private code may still get 40, 56, … 248-byte blocks from
  // aligned paths): shrinking one in place to a multiple of 16 would break the alignment a fresh
  // block of that size has.
  for (std::size_t from = 24; from <= 248; from += 16) {
    for (std::size_t to = 16; to <= from; to += 16) {
      std::vector<void *> v;
      for (int i = 0; i < 4; ++i) {   // consecutive blocks: at least one is not 16-aligned
        void *p = ph.heap.alloc(from);
        REQUIRE(p != nullptr);
        lfh_test::fill(p, from, 5);
        void *q = ph.heap.realloc(p, to);
        REQUIRE(q != nullptr);
        INFO("realloc " << from << " -> " << to);
        CHECK(aligned(q, 16));
        CHECK(lfh_test::check(q, to, 5));
        v.push_back(q);
      }
      for (void *q : v) free_block(q);
    }
  }
}

TEST_CASE("alloc_aligned honours every power of two") {
  PrivateHeap ph;
  for (std::size_t a = 8; a <= (std::size_t(1) << 21); a *= 2) {
    for (std::size_t n : {std::size_t(1), a - 1, a, a + 1, 3 * a, std::size_t(20000)}) {
      if (n == 0) continue;
      INFO("align " << a << " size " << n);
      void *p = ph.heap.alloc_aligned(a, n);
      REQUIRE(p != nullptr);
      CHECK(aligned(p, a));
      CHECK(usable_size(p) >= n);
      std::memset(p, 0x11, n);
      free_block(p);
    }
  }
}

TEST_CASE("lfh_owns is true for live blocks only") {
  int on_stack = 0;
  CHECK_FALSE(lfh_owns(&on_stack));
  CHECK_FALSE(lfh_owns(nullptr));
  for (std::size_t n : {8, 64, 16384, 100000}) {
    INFO("size " << n);
    char *p = static_cast<char *>(lfh_malloc(n));
    REQUIRE(p != nullptr);
    CHECK(lfh_owns(p));
    CHECK_FALSE(lfh_owns(p + 8));
    CHECK_FALSE(lfh_owns(p + 1));
    CHECK_FALSE(lfh_owns(p + n - 1));
    CHECK(lfh_usable_size(p) >= n);
    lfh_free(p);
    CHECK_FALSE(lfh_owns(p));
  }
}

TEST_CASE("public API calloc zeroes and realloc keeps contents") {
  for (std::size_t n : {1, 24, 4000, 16384, 70000}) {
    INFO("size " << n);
    char *p = static_cast<char *>(lfh_calloc(1, n));
    REQUIRE(p != nullptr);
    CHECK(lfh_test::all_zero(p, n));
    CHECK(lfh_usable_size(p) >= n);
    lfh_test::fill(p, n, 9);
    char *q = static_cast<char *>(lfh_realloc(p, 2 * n + 20000));
    REQUIRE(q != nullptr);
    CHECK(lfh_test::check(q, n, 9));
    lfh_free(q);
  }
  void *p = lfh_aligned_alloc(4096, 100);
  REQUIRE(p != nullptr);
  CHECK(aligned(p, 4096));
  lfh_free(p);
}

TEST_CASE("a heap without serialization or look-aside lists works the same") {
  for (unsigned flags : {unsigned(kHeapNoSerialize), 0u}) {
    PrivateHeap ph(flags, 0, /*lookaside=*/false);
    INFO("flags " << flags);
    std::vector<void *> v;
    for (int i = 0; i < 5000; ++i) {
      std::size_t n = std::size_t(1 + (i * 37) % 3000);
      void *p = ph.heap.alloc(n);
      REQUIRE(p != nullptr);
      lfh_test::fill(p, n, std::uint64_t(i));
      v.push_back(p);
    }
    for (int i = 0; i < 5000; ++i) REQUIRE(lfh_test::check(v[std::size_t(i)], std::size_t(1 + (i * 37) % 3000), std::uint64_t(i)));
    for (void *p : v) free_block(p);
    ph.heap.trim();
    HeapStats st;
    ph.heap.stats(&st);
    CHECK(st.lfh_blocks_out == 0);
  }
}

TEST_CASE("a fixed-size heap runs out cleanly and recovers when blocks come back") {
  PrivateHeap ph(0, 1 << 20);
  std::vector<void *> v;
  for (int i = 0; i < 100000; ++i) {
    void *p = ph.heap.alloc(64);
    if (!p) break;
    v.push_back(p);
  }
  CHECK(v.size() > 1000);
  CHECK(v.size() < (1 << 20) / 64);
  CHECK(ph.heap.alloc(64) == nullptr);
  for (void *p : v) free_block(p);
  void *p = ph.heap.alloc(64);
  CHECK(p != nullptr);
  if (p) free_block(p);
}

TEST_CASE("trim and release_all give the commit charge back") {
  process_heap();
  const std::uint64_t before = vm::totals().committed;
  {
    PrivateHeap ph;
    std::vector<void *> v;
    for (int i = 0; i < 2000; ++i) v.push_back(ph.heap.alloc(std::size_t(8 + i * 8 % 16000)));
    v.push_back(ph.heap.alloc(500000));
    for (void *p : v) REQUIRE(p != nullptr);
    CHECK(vm::totals().committed > before + 4 * 1024 * 1024);
    for (void *p : v) free_block(p);
    ph.heap.trim();
    HeapStats st;
    ph.heap.stats(&st);
    CHECK(st.lfh_blocks_out == 0);
    CHECK(st.direct_blocks == 0);
    CHECK(st.arena_cached_committed == 0);
  }
  // Left over: the heap's metadata records and page-map pages, which are never returned.
  CHECK(vm::totals().committed <= before + 256 * 1024);
}
