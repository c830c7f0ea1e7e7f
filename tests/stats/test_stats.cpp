// tests/stats/test_stats.cpp — the statistics snapshot (src/stats/snapshot.h) through lfh_internal
// (glibc keeps malloc in this process, so the process heap holds only what the test allocates).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "heap/runtime.h"
#include "lfh/bucket_table.h"
#include "lfh/lfh.h"
#include "lookaside/magazine.h"
#include "stats/snapshot.h"

using namespace lfh;

namespace {

// A Snapshot from vm/ for the test's lifetime.
struct Snap {
  live::Snapshot *s = stats::snapshot_buffer_new();
  Snap() { REQUIRE(s != nullptr); }
  ~Snap() { stats::snapshot_buffer_free(s); }
  void take(bool regions = true) { stats::snapshot(s, stats::SnapshotOptions{regions, regions}); }
};

const live::BucketRow *bucket_row(const live::Snapshot &s, std::uint32_t heap, std::size_t request) {
  const unsigned b = lfh_buckets::bucket_for_request(request);
  for (std::uint32_t i = 0; i < s.header.buckets; ++i)
    if (s.buckets[i].heap == heap && s.buckets[i].bucket == b) return &s.buckets[i];
  return nullptr;
}

}  // namespace

TEST_CASE("stats: totals equal the sum of parts") {
  std::vector<void *> keep;
  for (int i = 0; i < 1000; ++i) keep.push_back(lfh_malloc(48));
  for (int i = 0; i < 5; ++i) keep.push_back(lfh_malloc(50 * 1024));
  for (int i = 0; i < 2; ++i) keep.push_back(lfh_malloc(12 * 1024 * 1024));
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  for (int i = 0; i < 300; ++i) REQUIRE(lfh_heap_alloc(h, 0, 100));
  REQUIRE(lfh_heap_alloc(h, 0, 70 * 1024));
  for (int i = 0; i < 200; ++i) lfh_free(keep[std::size_t(i)]);   // some frees: caches fill

  Snap snap;
  snap.take();
  const live::Snapshot &s = *snap.s;
  REQUIRE(s.header.magic == live::kMagic);
  REQUIRE(s.header.heaps == 2);
  REQUIRE(s.totals.heaps == 2);
  REQUIRE(s.header.regions_omitted == 0);

  // Totals = Σ heaps.
  live::HeapRow sum{};
  for (std::uint32_t i = 0; i < s.header.heaps; ++i) {
    const live::HeapRow &r = s.heaps[i];
    sum.lfh_allocs += r.lfh_allocs;
    sum.lfh_frees += r.lfh_frees;
    sum.lfh_blocks_in_use += r.lfh_blocks_in_use;
    sum.lfh_bytes_in_use += r.lfh_bytes_in_use;
    sum.lfh_subsegments += r.lfh_subsegments;
    sum.core_blocks += r.core_blocks;
    sum.core_busy_bytes += r.core_busy_bytes;
    sum.core_segments += r.core_segments;
    sum.direct_blocks += r.direct_blocks;
    sum.direct_committed_bytes += r.direct_committed_bytes;
  }
  CHECK(s.totals.lfh_allocs == sum.lfh_allocs);
  CHECK(s.totals.lfh_frees == sum.lfh_frees);
  CHECK(s.totals.lfh_blocks_in_use == sum.lfh_blocks_in_use);
  CHECK(s.totals.lfh_bytes_in_use == sum.lfh_bytes_in_use);
  CHECK(s.totals.lfh_subsegments == sum.lfh_subsegments);
  CHECK(s.totals.core_blocks == sum.core_blocks);
  CHECK(s.totals.core_busy_bytes == sum.core_busy_bytes);
  CHECK(s.totals.core_segments == sum.core_segments);
  CHECK(s.totals.direct_blocks == sum.direct_blocks);
  CHECK(s.totals.direct_committed_bytes == sum.direct_committed_bytes);
  CHECK(s.totals.direct_blocks == 2);
  CHECK(s.totals.core_blocks == 6);

  for (std::uint32_t hi = 0; hi < s.header.heaps; ++hi) {
    const live::HeapRow &r = s.heaps[hi];
    // Each heap = Σ its buckets.
    std::uint64_t allocs = 0, frees = 0, in_use = 0, bytes = 0, free_blocks = 0, subsegs = 0, cached = 0;
    for (std::uint32_t i = 0; i < s.header.buckets; ++i) {
      const live::BucketRow &b = s.buckets[i];
      if (b.heap != hi) continue;
      allocs += b.allocs;
      frees += b.frees;
      in_use += b.blocks_in_use;
      bytes += b.blocks_in_use * b.block_size;
      free_blocks += b.blocks_free;
      subsegs += b.subsegments;
      cached += b.blocks_cached;
    }
    CHECK(r.lfh_allocs == allocs);
    CHECK(r.lfh_frees == frees);
    CHECK(r.lfh_blocks_in_use == in_use);
    CHECK(r.lfh_bytes_in_use == bytes);
    CHECK(r.lfh_blocks_free == free_blocks);
    CHECK(r.lfh_subsegments == subsegs);
    // … and Σ its regions (a second path: the subsegment lists rather than the bucket counters).
    std::uint64_t lfh_regions = 0, blocks_out = 0, core_regions = 0, direct_regions = 0, direct_committed = 0;
    for (std::uint32_t i = 0; i < s.header.regions; ++i) {
      const live::RegionRow &g = s.regions[i];
      if (g.heap != hi) continue;
      if (g.kind == live::kRegionLfhSubsegment) {
        ++lfh_regions;
        blocks_out += g.blocks_used;
        CHECK(g.resident <= g.size);
      } else if (g.kind == live::kRegionCoreSegment) {
        ++core_regions;
      } else if (g.kind == live::kRegionDirectBlock) {
        ++direct_regions;
        direct_committed += g.committed;
      }
    }
    CHECK(lfh_regions == r.lfh_subsegments);
    CHECK(blocks_out == in_use + cached);
    CHECK(core_regions == r.core_segments);
    CHECK(direct_regions == r.direct_blocks);
    CHECK(direct_committed == r.direct_committed_bytes);
  }

  // lfh_stats_get (the process heap, through Heap::stats) agrees with the snapshot's heap 0.
  lfh_stats_t st{};
  REQUIRE(lfh_stats_get(&st));
  CHECK(st.version == LFH_STATS_VERSION);
  CHECK(st.size == sizeof st);
  CHECK(st.heaps == 2);
  CHECK(st.lfh_subsegments == s.heaps[0].lfh_subsegments);
  CHECK(st.core_blocks == s.heaps[0].core_blocks);
  CHECK(st.direct_blocks == s.heaps[0].direct_blocks);
  CHECK(st.reserved_bytes >= s.heaps[0].reserved_bytes + s.heaps[1].reserved_bytes);
  CHECK(st.peak_rss_bytes > 0);
  lfh_heap_destroy(h);
  for (std::size_t i = 200; i < keep.size(); ++i) lfh_free(keep[i]);
}

TEST_CASE("stats: bucket blocks in use exact after a known sequence") {
  Snap snap;
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  std::vector<void *> mine, theirs;
  for (int i = 0; i < 777; ++i) mine.push_back(lfh_heap_alloc(h, 0, 300));
  for (int i = 0; i < 1000; ++i) theirs.push_back(lfh_malloc(48));
  snap.take(false);
  const live::BucketRow *p = bucket_row(*snap.s, 1, 300);
  const live::BucketRow *q = bucket_row(*snap.s, 0, 48);
  REQUIRE(p);
  REQUIRE(q);
  CHECK(p->blocks_in_use == 777);
  CHECK(q->blocks_in_use == 1000);
  for (int i = 0; i < 377; ++i) lfh_heap_free(h, 0, mine[std::size_t(i)]);
  for (int i = 0; i < 500; ++i) lfh_free(theirs[std::size_t(i)]);   // into the thread's magazine, then lists
  snap.take(false);
  p = bucket_row(*snap.s, 1, 300);
  q = bucket_row(*snap.s, 0, 48);
  REQUIRE(p);
  REQUIRE(q);
  CHECK(p->blocks_in_use == 400);
  CHECK(q->blocks_in_use == 500);
  CHECK(q->blocks_cached > 0);   // the freed ones wait in the magazine / look-aside list
  lfh_heap_destroy(h);
  for (std::size_t i = 500; i < theirs.size(); ++i) lfh_free(theirs[i]);
}

// The magazine counts frees without a counter on the fast path (MagazineSlot::net_in): the
// counts must still be exact — through overflows, refills, a trim's flush and a thread's exit.
TEST_CASE("stats: lfh_allocs and lfh_frees count every malloc and free exactly") {
  lfh_stats_t before{}, after{};
  auto sizes = [](int i) { return std::size_t(16 + (i % 7) * 40); };   // several buckets
  before.version = LFH_STATS_VERSION;
  before.size = sizeof before;
  REQUIRE(lfh_stats_get(&before) == 1);
  std::vector<void *> v;
  for (int i = 0; i < 3000; ++i) v.push_back(lfh_malloc(sizes(i)));
  for (int i = 0; i < 3000; i += 2) lfh_free(v[std::size_t(i)]);   // past every cap: overflows
  for (int i = 0; i < 1000; ++i) v[std::size_t(2 * i)] = lfh_malloc(sizes(i));   // refills
  lfh_trim();                                                        // flushes this magazine
  std::thread t([&] {   // a thread that frees what it did not allocate, allocates, and exits
    for (int i = 1; i < 3000; i += 2) lfh_free(v[std::size_t(i)]);
    for (int i = 0; i < 500; ++i) lfh_free(lfh_malloc(sizes(i)));
  });
  t.join();
  for (int i = 0; i < 1000; ++i) lfh_free(v[std::size_t(2 * i)]);
  after.version = LFH_STATS_VERSION;
  after.size = sizeof after;
  REQUIRE(lfh_stats_get(&after) == 1);
  CHECK(after.lfh_allocs - before.lfh_allocs == 3000 + 1000 + 500);
  CHECK(after.lfh_frees - before.lfh_frees == 1500 + 1500 + 500 + 1000);
}

// A magazine slot's cap grows when its thread both frees and allocates the size (each full free
// stack it pushed to the look-aside list came back with its next refill) and stays small for a
// thread that only frees it (lookaside/magazine.h, MagazineSlot::cap).
TEST_CASE("magazine: a thread freeing and allocating bursts of one size keeps them, a freeing-only one does not") {
  constexpr std::size_t kSize = 600;
  const unsigned b = lfh_buckets::bucket_for_request(kSize);
  REQUIRE(kMagazineCapMax[b] >= 3 * kMagazineCap[b]);   // (a bucket where the cap can grow)
  const int burst = int(kMagazineCap[b]) * 3;           // three full free stacks at the initial cap
  Snap snap;
  std::uint64_t hits_before = 0, hits_after = 0;
  std::uint32_t churn_cap = 0, free_only_cap = 0;
  std::vector<void *> v;
  // The consumer starts while the churning thread still lives: a thread that starts after another
  // exited adopts its magazine (orphan_adopt), cap and all.
  std::atomic<int> phase{0};
  std::thread churn([&] {
    for (int i = 0; i < 4 * burst; ++i) v.push_back(lfh_malloc(kSize));
    snap.take(false);
    hits_before = bucket_row(*snap.s, 0, kSize)->lookaside_hits;
    for (int round = 0; round < 400; ++round) {   // free a burst, allocate it again
      for (int i = 0; i < burst; ++i) lfh_free(v[std::size_t(i)]);
      for (int i = 0; i < burst; ++i) v[std::size_t(i)] = lfh_malloc(kSize);
    }
    snap.take(false);
    hits_after = bucket_row(*snap.s, 0, kSize)->lookaside_hits;
    churn_cap = slot_cap(t_magazine.slots[b], b);
    phase = 1;
    while (phase != 2) std::this_thread::yield();
  });
  std::thread consumer([&] {   // frees what another thread allocated, never allocates the size
    while (phase != 1) std::this_thread::yield();
    for (void *p : v) lfh_free(p);
    free_only_cap = slot_cap(t_magazine.slots[b], b);
    phase = 2;
  });
  churn.join();
  consumer.join();
  CHECK(churn_cap == kMagazineCapMax[b]);
  // With the initial cap every round pushed three full free stacks to this CPU's list and took
  // them back: about 400 refills from the list. (A thread that moves CPU takes a few more.)
  CHECK(hits_after - hits_before < 40);
  CHECK(free_only_cap == kMagazineCap[b]);
}
