// Decommit of free ranges after the purge delay (checked with mincore), recommit on reuse, the
// free-committed budget, release of empty segments, and calloc that clears only used pages.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core_test_util.h"
#include "test_util.h"
#include "vm/vm.h"

using namespace core_test;

namespace {

constexpr std::size_t kBig = 512 * 1024;

CoreConfig delayed(std::uint64_t ms) {
  CoreConfig c = quiet();
  c.purge_delay_ms = ms;
  return c;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST_CASE("a freed range stays committed during the delay, is decommitted after it, recommitted on reuse") {
  TestCore t(delayed(100));
  char *guard0 = static_cast<char *>(t.alloc(20000));
  char *p = static_cast<char *>(t.alloc(kBig));
  char *guard1 = static_cast<char *>(t.alloc(20000));
  REQUIRE(p);
  std::memset(p, 0xab, kBig);
  const std::size_t pages = kBig / 4096;
  CHECK(resident_pages(p, kBig) >= pages - 1);

  const std::uint64_t decommitted = lfh::vm::totals().decommitted;
  t.free(p);
  // Within the delay: still resident, counted as pending, no system call made.
  CHECK(resident_pages(p, kBig) >= pages - 1);
  CHECK(t.stats().pending_bytes >= kBig - 3 * 4096);
  CHECK(lfh::vm::totals().decommitted == decommitted);
  // A free followed by a malloc of the same size pays nothing: same block, pages still there.
  char *q = static_cast<char *>(t.alloc(kBig));
  CHECK(q == p);
  CHECK(t.stats().pending_bytes == 0);
  CHECK(lfh::vm::totals().decommitted == decommitted);
  t.free(q);

  sleep_ms(150);
  CHECK(t.core.purge(false) >= kBig - 3 * 4096);
  // Inner pages gone (only the record's page and the page shared with the next header stay).
  CHECK(resident_pages(p, kBig) <= 2);
  CHECK(t.stats().pending_bytes == 0);
  CHECK(t.stats().committed < 3 * 20000 + 6 * 4096);

  // Reuse recommits; the pages are fresh (read zero except where headers were).
  char *r = static_cast<char *>(t.alloc(kBig));
  REQUIRE(r == p);
  CHECK(lfh_test::all_zero(r + 8192, kBig - 16384));
  std::memset(r, 0x11, kBig);
  CHECK(resident_pages(r, kBig) >= pages - 1);
  CHECK(t.core.validate());
  t.free(r);
  t.free(guard0);
  t.free(guard1);
}

TEST_CASE("the delay is checked from the core heap's own alloc/free paths") {
  TestCore t(delayed(50));
  char *g = static_cast<char *>(t.alloc(20000));
  char *p = static_cast<char *>(t.alloc(kBig));
  char *g2 = static_cast<char *>(t.alloc(20000));
  std::memset(p, 1, kBig);
  t.free(p);
  CHECK(resident_pages(p, kBig) > 100);
  sleep_ms(80);
  // Any core operation notices the expired range (no purge() call).
  t.free(t.alloc(30000));
  CHECK(resident_pages(p, kBig) <= 2);
  t.free(g);
  t.free(g2);
}

TEST_CASE("LFH_PURGE_DELAY_MS=0: decommitted at once, empty segments released at once") {
  TestCore t(delayed(0));
  char *g = static_cast<char *>(t.alloc(20000));
  char *p = static_cast<char *>(t.alloc(kBig));
  std::memset(p, 1, kBig);
  t.free(p);
  CHECK(resident_pages(p, kBig) <= 2);
  CHECK(t.stats().pending_bytes == 0);
  t.free(g);
  CoreStats st = t.stats();
  CHECK(st.segments == 0);
  CHECK(st.committed == 0);
}

TEST_CASE("small free ranges (below LFH_DECOMMIT_FREE_BLOCK) are never decommitted") {
  TestCore t(delayed(0));
  char *a = static_cast<char *>(t.alloc(20000));
  char *p = static_cast<char *>(t.alloc(40000));
  char *b = static_cast<char *>(t.alloc(20000));
  std::memset(p, 1, 40000);
  t.free(p);
  CHECK(resident_pages(p, 40000) >= 40000 / 4096 - 1);
  t.free(a);
  t.free(b);
}

TEST_CASE("free-but-committed memory is bounded by LFH_DECOMMIT_TOTAL_FREE") {
  CoreConfig c = delayed(60000);
  c.total_free = 1024 * 1024;
  TestCore t(c);
  std::vector<char *> blocks;
  for (int i = 0; i < 16; ++i) {
    blocks.push_back(static_cast<char *>(t.alloc(kBig)));
    std::memset(blocks.back(), 1, kBig);
  }
  // Free every other block in address order: no two freed blocks are neighbours.
  std::sort(blocks.begin(), blocks.end());
  std::vector<char *> freed;
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    t.free(blocks[i]);
    freed.push_back(blocks[i]);
    CHECK(t.core.pending_total.load() <= c.total_free);
    CHECK(t.stats().pending_bytes == t.core.pending_total.load());
  }
  // The newest stay committed (within the budget), the oldest went at once.
  CHECK(resident_pages(freed.front(), kBig) <= 2);
  CHECK(resident_pages(freed.back(), kBig) > 100);
  CHECK(t.core.pending_total.load() >= kBig - 3 * 4096);
  for (std::size_t i = 1; i < blocks.size(); i += 2) t.free(blocks[i]);
}

TEST_CASE("a segment that becomes entirely free is released after the delay") {
  TestCore t(delayed(60));
  void *p = t.alloc(100000);
  const std::uint64_t reserved1 = lfh::vm::totals().reserved;   // (after the arena's metadata)
  void *q = t.alloc(300000);
  CHECK(t.stats().segments == 1);
  CHECK(t.stats().reserved == kMinSegment);
  t.free(p);
  t.free(q);
  CoreStats st = t.stats();
  CHECK(st.segments == 1);   // kept for the delay: a new block would reuse it
  CHECK(t.core.empty_segments.load() == 1);
  void *again = t.alloc(100000);
  CHECK(again == p);
  CHECK(t.core.empty_segments.load() == 0);
  t.free(again);
  sleep_ms(90);
  t.core.purge(false);
  st = t.stats();
  CHECK(st.segments == 0);
  CHECK(st.reserved == 0);
  CHECK(st.committed == 0);
  CHECK(lfh::vm::totals().reserved == reserved1 - kMinSegment);
  CHECK(t.stats().segments_released == 1);
}

TEST_CASE("calloc of fresh pages does not touch them but reused memory is cleared") {
  TestCore t(delayed(60000));
  char *g = static_cast<char *>(t.alloc(20000));
  char *p = static_cast<char *>(t.alloc(kBig, 16, /*zero=*/true));
  REQUIRE(p);
  // Nothing wrote to the block's pages: the kernel has not even mapped them yet.
  CHECK(resident_pages(p, kBig) <= 2);
  CHECK(lfh_test::all_zero(p, kBig));
  std::memset(p, 0xcd, kBig);
  t.free(p);
  char *q = static_cast<char *>(t.alloc(kBig, 16, true));
  REQUIRE(q == p);   // the dirty block comes back: it must be cleared
  CHECK(lfh_test::all_zero(q, kBig));
  t.free(q);
  t.free(g);
}
