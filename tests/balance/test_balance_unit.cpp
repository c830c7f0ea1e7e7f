// The balance manager's parts on their own, through lfh_internal (glibc keeps malloc here): the
// depth formula on synthetic counts, the tick on each tier of a private lfh::Heap, the pressure
// files' parsers. Run with LFH_BALANCE_MS=0 (CMakeLists.txt), so no background tick interferes:
// every tick here is called by the test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "balance/balance.h"
#include "balance/depth.h"
#include "balance/pressure.h"
#include "balance/trim.h"
#include "base/options.h"
#include "heap/heap.h"
#include "heap/runtime.h"
#include "os/os.h"
#include "os/thread.h"
#include "vm/vm.h"

using namespace lfh;
using namespace lfh::balance;

namespace {

struct PrivateHeap {
  Heap heap;
  explicit PrivateHeap(bool lookaside = true) {
    process_heap();
    REQUIRE(heap.init(0, 0, 0, 4, 256, lookaside));
  }
  ~PrivateHeap() { heap.release_all(); }
};

std::uint32_t depth_after(std::uint32_t allocs, std::uint32_t misses, std::uint32_t depth,
                          std::uint32_t period_ms = 1000, std::uint32_t min = 4, std::uint32_t max = 256) {
  return next_depth(DepthInput{allocs, misses, depth, min, max, period_ms});
}

// Blocks on bucket b's look-aside lists (all CPUs).
std::uint32_t listed(Heap &h, unsigned b) {
  std::uint32_t n = 0;
  for (std::uint32_t c = 0; c < h.lookaside().cpus(); ++c) n += h.lookaside().list(c, b).stack.count();
  return n;
}

TrimResult tick(Heap &h, bool force = false) {
  TrimResult r;
  tick_heap(h, 1000, true, force, &r);
  return r;
}

}  // namespace

TEST_CASE("depth formula: an idle list is cut back to the minimum") {
  CHECK(depth_after(0, 0, 200) == 4);
  CHECK(depth_after(24, 24, 200) == 4);    // < 25 allocations a second
  CHECK(depth_after(25, 25, 200) != 4);    // 25 is not idle
  // The threshold scales with the period: 25/s over 250 ms is 6.
  CHECK(depth_after(5, 5, 100, 250) == 4);
  CHECK(depth_after(7, 7, 100, 250) > 100);
  // A tiny period: idle only without any allocation.
  CHECK(depth_after(0, 0, 50, 10) == 4);
  CHECK(depth_after(1, 1, 50, 10) > 50);
  CHECK(list_idle(0, 1000));
  CHECK(list_idle(24, 1000));
  CHECK_FALSE(list_idle(25, 1000));
}

TEST_CASE("depth formula: under 0.5 percent misses the depth creeps down by one") {
  CHECK(depth_after(10000, 49, 100) == 99);   // 4.9 per thousand
  CHECK(depth_after(10000, 0, 100) == 99);
  CHECK(depth_after(10000, 0, 4) == 4);       // never below the minimum
  CHECK(depth_after(10000, 0, 5) == 4);
}

TEST_CASE("depth formula: misses raise the depth in proportion, at most 30 a tick") {
  // R = 10 per thousand: delta = 10 * (256 - 4) / 2000 + 5 = 6.
  CHECK(depth_after(1000, 10, 4) == 10);
  // R = 500: 500 * 252 / 2000 + 5 = 68, capped at 30.
  CHECK(depth_after(1000, 500, 4) == 34);
  // Close to the cap: 1000 * (256 - 250) / 2000 + 5 = 8, clamped to 256.
  CHECK(depth_after(1000, 1000, 250) == 256);
  CHECK(depth_after(1000, 1000, 256) == 256);
  // Misses above allocations (racy counts) count as 1000 per thousand.
  CHECK(depth_after(100, 5000, 4) == 34);
  // A small cap (a 16 KB bucket keeps at most 4).
  CHECK(depth_after(1000, 1000, 4, 1000, 4, 4) == 4);
  // The minimum above the cap: the cap wins.
  CHECK(depth_after(0, 0, 2, 1000, 8, 4) == 4);
}

TEST_CASE("depth formula: a busy missing list climbs to its cap, then idleness brings it down") {
  std::uint32_t d = 4;
  int ticks = 0;
  while (d < 256 && ticks < 100) {
    d = depth_after(100000, 20000, d);
    ++ticks;
  }
  CHECK(d == 256);
  CHECK(ticks <= 20);   // at most 30 a tick, less and less close to the cap
  CHECK(depth_after(100000, 10, d) == 255);
  CHECK(depth_after(3, 0, d) == 4);
}

TEST_CASE("tick: an idle look-aside list gives its blocks back and its subsegment is purged") {
  PrivateHeap ph;
  Heap &h = ph.heap;
  const unsigned b = lfh_buckets::bucket_of(64);
  std::vector<void *> v;
  for (int i = 0; i < 200; ++i) v.push_back(h.alloc(64));
  for (void *p : v) free_block(p);
  REQUIRE(listed(h, b) > 0);
  TrimResult r1 = tick(h);   // the allocations above count for this tick: not idle
  (void)r1;
  TrimResult r2 = tick(h);   // nothing since: idle
  CHECK(listed(h, b) == 0);
  CHECK(r2.depth.flushed_lists >= 1);
  CHECK(r2.depth.blocks_returned > 0);
  // The list's depth is back at the minimum.
  for (std::uint32_t c = 0; c < h.lookaside().cpus(); ++c) CHECK(h.lookaside().list(c, b).depth == 4);
  // Every block is back; the bucket kept no empty subsegment (idle bucket) and nothing stays cached.
  HeapStats st;
  h.stats(&st);
  CHECK(st.lfh_blocks_out == 0);
  CHECK(st.lfh_subsegments == 0);
  CHECK(st.arena_cached_committed == 0);
}

TEST_CASE("tick: depth is raised for a list that misses") {
  PrivateHeap ph;
  Heap &h = ph.heap;
  tick(h);   // snapshot
  const unsigned b = lfh_buckets::bucket_of(128);
  // Allocate without freeing: every refill misses.
  std::vector<void *> v;
  for (int i = 0; i < 5000; ++i) v.push_back(h.alloc(128));
  // The miss path doubles depths on demand; start the lists low so the tick's raise shows.
  for (std::uint32_t c = 0; c < h.lookaside().cpus(); ++c) h.lookaside().list(c, b).depth = 4;
  TrimResult r = tick(h);
  CHECK(r.depth.raised >= 1);
  std::uint32_t deepest = 0;
  for (std::uint32_t c = 0; c < h.lookaside().cpus(); ++c)
    deepest = std::max(deepest, std::uint32_t(h.lookaside().list(c, b).depth));
  CHECK(deepest > 4);
  CHECK(deepest <= 4 + kMaxRaise);
  for (void *p : v) free_block(p);
}

TEST_CASE("tick: the empty subsegment a bucket keeps is retired after a whole idle tick") {
  // Without look-aside lists: blocks go straight back to their subsegments.
  PrivateHeap ph(/*lookaside=*/false);
  Heap &h = ph.heap;
  void *p = h.alloc(1000);
  free_block(p);
  HeapStats st;
  h.stats(&st);
  REQUIRE(st.lfh_subsegments == 1);   // kept empty (return_block keeps the only partial one)
  TrimResult r1 = tick(h);
  h.stats(&st);
  CHECK(r1.subsegments_retired == 0);   // first sighting
  CHECK(st.lfh_subsegments == 1);
  TrimResult r2 = tick(h);
  h.stats(&st);
  CHECK(r2.subsegments_retired == 1);   // still empty, nothing taken: retired, purged at once
  CHECK(st.lfh_subsegments == 0);
  CHECK(st.arena_cached_committed == 0);
  CHECK(st.arena_cached_purged > 0);
  // A subsegment that was used in between is not retired.
  p = h.alloc(1000);
  free_block(p);
  tick(h);
  p = h.alloc(1000);
  free_block(p);
  TrimResult r3 = tick(h);
  CHECK(r3.subsegments_retired == 0);
}

TEST_CASE("tick: cached spans are purged after staying free for a whole tick") {
  PrivateHeap ph(/*lookaside=*/false);
  Heap &h = ph.heap;
  // Several subsegments of one bucket; freeing all of them retires all but one into the cache.
  std::vector<void *> v;
  for (int i = 0; i < 2000; ++i) v.push_back(h.alloc(512));
  for (void *p : v) free_block(p);
  HeapStats st;
  h.stats(&st);
  REQUIRE(st.arena_cached_committed > 0);
  const std::uint64_t cached = st.arena_cached_committed;
  TrimResult r1 = tick(h);   // marks them
  h.stats(&st);
  CHECK(st.arena_cached_committed == cached);
  TrimResult r2 = tick(h);   // purges them
  h.stats(&st);
  CHECK(st.arena_cached_committed == 0);
  CHECK(r1.bytes + r2.bytes >= cached);
  // The purged spans are reused (they read zero) and work.
  for (int i = 0; i < 100; ++i) v[std::size_t(i)] = h.alloc(512);
  for (int i = 0; i < 100; ++i) free_block(v[std::size_t(i)]);
}

TEST_CASE("tick: core-heap free ranges and cached direct regions go after the purge delay") {
  process_heap();   // (initialisation reads the options: set ours after it)
  option_set(Opt::purge_delay_ms, 100);
  PrivateHeap ph;
  option_set(Opt::purge_delay_ms, option_info(Opt::purge_delay_ms).def);
  Heap &h = ph.heap;
  std::vector<void *> v;
  for (int i = 0; i < 32; ++i) {
    void *p = h.alloc(200000);   // core heap
    std::memset(p, 1, 200000);
    v.push_back(p);
  }
  void *d = h.alloc(12 << 20);   // direct (above 8 MB)
  std::memset(d, 1, 12 << 20);
  for (void *p : v) free_block(p);
  free_block(d);
  HeapStats st;
  h.stats(&st);
  const std::uint64_t held = st.core_pending_bytes + st.direct_cached_bytes;
  REQUIRE(held > 0);
  os::sleep_ns(150'000'000);   // past the delay, no allocator call on this heap
  TrimResult r = tick(h);
  h.stats(&st);
  CHECK(st.core_pending_bytes == 0);
  CHECK(st.direct_cached_bytes == 0);
  CHECK(r.bytes >= held);
}

TEST_CASE("tick under pressure gives everything back at once") {
  PrivateHeap ph;
  Heap &h = ph.heap;
  std::vector<void *> v;
  for (int i = 0; i < 3000; ++i) v.push_back(h.alloc(std::size_t(16 + (i % 100) * 40)));
  for (int i = 0; i < 8; ++i) v.push_back(h.alloc(300000));
  for (void *p : v) free_block(p);
  TrimResult r = tick(h, /*force=*/true);
  HeapStats st;
  h.stats(&st);
  CHECK(st.lfh_blocks_out == 0);
  CHECK(st.lfh_subsegments == 0);
  CHECK(st.arena_cached_committed == 0);
  CHECK(st.core_pending_bytes == 0);
  CHECK(r.bytes > 0);
}

TEST_CASE("tick skips what is locked: a heap held with lfh_heap_lock is left alone") {
  PrivateHeap ph(/*lookaside=*/false);
  Heap &h = ph.heap;
  void *p = h.alloc(100);
  free_block(p);
  h.lock_heap();
  TrimResult r1 = tick(h, /*force=*/true);   // every bucket lock is held: nothing happens, no wait
  CHECK(r1.subsegments_retired == 0);
  h.unlock_heap();
  TrimResult r2 = tick(h, /*force=*/true);
  CHECK(r2.subsegments_retired == 1);
}

TEST_CASE("pressure files are parsed") {
  std::uint64_t total = 0, high = 0, max = 0;
  CHECK(PressureMonitor::parse_psi_total("some avg10=1.50 avg60=0.30 avg300=0.06 total=123456\n"
                                         "full avg10=0.00 avg60=0.00 avg300=0.00 total=789\n",
                                         &total));
  CHECK(total == 123456);
  CHECK_FALSE(PressureMonitor::parse_psi_total("full avg10=0.00 total=5\n", &total));
  CHECK(PressureMonitor::parse_events("low 0\nhigh 17\nmax 3\noom 0\noom_kill 0\n", &high, &max));
  CHECK(high == 17);
  CHECK(max == 3);
  CHECK_FALSE(PressureMonitor::parse_events("low 0\n", &high, &max));
  // The monitor itself works wherever it runs (sources missing are skipped).
  PressureMonitor m;
  m.init();
  (void)m.check(1000);
}

TEST_CASE("with LFH_BALANCE_MS=0 the manager stays off and starts no thread") {
  process_heap();
  CHECK(period_ms() == 0);
  CHECK_FALSE(stats().thread_running);
}
