// Core heap blocks: coalescing with each neighbour, the arena's free-list bitmap, split
// thresholds, segments committed on demand and grown geometrically, commit-charge accounting.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include "core_test_util.h"
#include "test_util.h"
#include "vm/vm.h"

using namespace core_test;

namespace {
constexpr std::size_t kN = 100000;                 // request
constexpr std::size_t kB = block_bytes(kN);        // its block (header included)
}  // namespace

TEST_CASE("blocks carved from a fresh segment are contiguous and committed on demand") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(kN));
  char *b = static_cast<char *>(t.alloc(kN));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(b == a + kB);
  CHECK(lfh_test::aligned(a, 16));
  CHECK(t.usable(a) == kB - kHeaderSize);
  CoreStats st = t.stats();
  CHECK(st.segments == 1);
  CHECK(st.reserved == kMinSegment);
  // Two blocks and the remainder's record: far less than the segment.
  CHECK(st.committed <= 2 * kB + 3 * 4096);
  CHECK(st.committed >= 2 * kB);
  std::memset(a, 1, kN);
  std::memset(b, 2, kN);
  CHECK(t.core.validate());
}

TEST_CASE("free coalesces with the right neighbour") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(kN)), *b = static_cast<char *>(t.alloc(kN));
  char *c = static_cast<char *>(t.alloc(kN)), *d = static_cast<char *>(t.alloc(kN));
  REQUIRE(d == a + 3 * kB);
  t.free(c);
  t.free(b);   // b's right neighbour c is free
  CoreBlockInfo i = t.info(b);
  CHECK(i.free);
  CHECK(i.block == b - kHeaderSize);
  CHECK(i.size == 2 * kB);
  CHECK(t.info(c).block == b - kHeaderSize);
  CHECK(t.core.validate());
  t.free(a);
  t.free(d);
}

TEST_CASE("free coalesces with the left neighbour") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(kN)), *b = static_cast<char *>(t.alloc(kN));
  char *c = static_cast<char *>(t.alloc(kN)), *d = static_cast<char *>(t.alloc(kN));
  t.free(b);
  t.free(c);   // c's left neighbour b is free
  CoreBlockInfo i = t.info(c);
  CHECK(i.free);
  CHECK(i.block == b - kHeaderSize);
  CHECK(i.size == 2 * kB);
  CHECK(t.core.validate());
  t.free(a);
  t.free(d);
}

TEST_CASE("free coalesces with both neighbours at once") {
  TestCore t;
  char *p[5];
  for (char *&q : p) q = static_cast<char *>(t.alloc(kN));
  t.free(p[1]);
  t.free(p[3]);
  CHECK(t.stats().free_blocks == 3);   // p1, p3 and the segment's tail
  t.free(p[2]);
  CoreBlockInfo i = t.info(p[2]);
  CHECK(i.free);
  CHECK(i.block == p[1] - kHeaderSize);
  CHECK(i.size == 3 * kB);
  CHECK(t.stats().free_blocks == 2);
  CHECK(t.core.validate());
  // Freeing the rest leaves the whole segment as one free block.
  t.free(p[0]);
  t.free(p[4]);
  CoreStats st = t.stats();
  CHECK(st.free_blocks == 1);
  CHECK(st.blocks == 0);
  CHECK(t.core.validate());
}

TEST_CASE("the arena free-list bitmap follows its free blocks and best fit reuses the exact block") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(kN)), *b = static_cast<char *>(t.alloc(kN));
  char *c = static_cast<char *>(t.alloc(kN));
  const FreeLists &fl = t.core.arena(0)->free_lists();
  const unsigned cls = FreeLists::class_of(kB);
  CHECK_FALSE(fl.class_nonempty(cls));
  t.free(b);
  CHECK(fl.class_nonempty(cls));
  CHECK(fl.next_nonempty(0) == int(cls));   // below the segment tail's class
  char *again = static_cast<char *>(t.alloc(kN));
  CHECK(again == b);
  CHECK_FALSE(fl.class_nonempty(cls));
  t.free(a);
  t.free(again);
  t.free(c);
}

TEST_CASE("split thresholds: a remainder below min_split stays with the block") {
  CoreConfig cfg = quiet();
  cfg.min_split = 16 * 1024;
  TestCore t(cfg);
  char *a = static_cast<char *>(t.alloc(kN));
  char *b = static_cast<char *>(t.alloc(200000));
  char *c = static_cast<char *>(t.alloc(kN));
  const std::size_t hole = block_bytes(200000);
  t.free(b);
  // Remainder 8 KB < 16 KB: not split, the whole hole is the block.
  std::size_t n1 = hole - 8192 - kHeaderSize;
  char *p = static_cast<char *>(t.alloc(n1));
  CHECK(p == b);
  CHECK(t.usable(p) == hole - kHeaderSize);
  t.free(p);
  // Remainder 20 KB ≥ 16 KB: split off as a free block right after.
  std::size_t n2 = hole - 20480 - kHeaderSize;
  p = static_cast<char *>(t.alloc(n2));
  CHECK(p == b);
  CHECK(t.usable(p) == n2);
  CoreBlockInfo r = t.info(p + n2 + 100);
  CHECK(r.free);
  CHECK(r.size == 20480);
  CHECK(t.core.validate());
  t.free(p);
  t.free(a);
  t.free(c);
}

TEST_CASE("the default split threshold keeps slack under a page") {
  TestCore t;
  char *a = static_cast<char *>(t.alloc(kN));
  char *b = static_cast<char *>(t.alloc(kN));
  char *c = static_cast<char *>(t.alloc(kN));
  t.free(b);
  char *p = static_cast<char *>(t.alloc(kN - 2048));   // 2 KB short: not worth a free block
  CHECK(p == b);
  CHECK(t.usable(p) == kB - kHeaderSize);
  t.free(p);
  p = static_cast<char *>(t.alloc(kN - 8192));   // 8 KB short: split
  CHECK(p == b);
  CHECK(t.usable(p) == block_bytes(kN - 8192) - kHeaderSize);
  t.free(p);
  t.free(a);
  t.free(c);
}

TEST_CASE("segments grow geometrically from 1 MB up to 64 MB") {
  TestCore t;
  std::vector<void *> v;
  for (int i = 0; i < 400; ++i) {
    void *p = t.alloc(900 * 1024);
    REQUIRE(p);
    v.push_back(p);
  }
  std::vector<std::size_t> sizes;   // newest first
  for (Segment *s = t.core.arena(0)->segments(); s; s = s->next) sizes.push_back(s->size);
  REQUIRE(sizes.size() >= 5);
  CHECK(sizes.back() == kMinSegment);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    CHECK(sizes[i] >= sizes[i + 1]);
    CHECK(sizes[i] <= kMaxSegment);
    CHECK(sizes[i] % lfh::os::kGranularity == 0);
  }
  CHECK(sizes.front() == kMaxSegment);
  for (void *p : v) t.free(p);
  CHECK(t.core.validate());
}

TEST_CASE("commit-charge accounting returns to its start value after everything is freed") {
  {  // warm-up: page-map pages for the first addresses
    TestCore w;
    w.free(w.alloc(kN));
  }
  const std::uint64_t before = lfh::vm::totals().committed;
  {
    TestCore t;
    std::mt19937_64 rng(7);
    std::vector<void *> live;
    for (int i = 0; i < 20000; ++i) {
      if (live.empty() || rng() % 3 != 0) {
        std::size_t n = 16384 + rng() % (900 * 1024);
        void *p = t.alloc(n, 16, (i & 7) == 0);
        REQUIRE(p);
        std::memset(p, 0x5a, 64);
        live.push_back(p);
      } else {
        std::size_t k = rng() % live.size();
        if (rng() % 4 == 0) {
          (void)t.resize(live[k], 16384 + rng() % (900 * 1024));
        } else {
          t.free(live[k]);
          live[k] = live.back();
          live.pop_back();
        }
      }
      if (live.size() > 300) {
        t.free(live.front());
        live.erase(live.begin());
      }
    }
    CHECK(t.core.validate());
    CHECK(lfh::vm::totals().committed > before);
    for (void *p : live) t.free(p);
    CoreStats st = t.stats();
    CHECK(st.blocks == 0);
    CHECK(st.busy_bytes == 0);
    t.core.purge(/*force=*/true);
    st = t.stats();
    CHECK(st.committed == 0);
    CHECK(st.segments == 0);
    CHECK(st.reserved == 0);
    CHECK(st.pending_bytes == 0);
    CHECK(t.core.pending_total.load() == 0);
  }
  // Only page-map pages for addresses never used before may remain (4 KB per 32 MB of space):
  // segments, arena objects and all were given back.
  CHECK(lfh::vm::totals().committed <= before + 64 * 1024);
}
