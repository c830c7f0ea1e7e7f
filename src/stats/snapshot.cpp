// stats/snapshot.cpp — gathering a Snapshot (see snapshot.h).
#include "stats/snapshot.h"

#include "base/options.h"
#include "balance/balance.h"
#include "debug/page_heap.h"
#include "debug/tag_table.h"
#include "heap/front.h"
#include "heap/heap.h"
#include "heap/runtime.h"
#include "os/mutex.h"
#include "os/os.h"
#include "vm/vm.h"

namespace lfh::stats {
namespace {

using lfh_buckets::kBuckets;

constinit os::Mutex g_snapshot_lock;   // one snapshot at a time: guards the buffers below
constinit MagazineBucketStats g_mag[kBuckets] = {};
constinit debug::TagRow g_tags[live::kMaxTags] = {};
// mincore's output for up to kResidentChunk pages at a time.
constexpr std::size_t kResidentChunk = 4096;
constinit unsigned char g_resident[kResidentChunk] = {};
// At most this many pages are measured per snapshot (16 GB): past it residency is "unknown".
constexpr std::uint64_t kResidentBudgetPages = 4u << 20;

struct Ctx {
  live::Snapshot *out;
  SnapshotOptions opts;
  std::uint32_t heap_index;
};

void add_region(Ctx &c, const live::RegionRow &r) {
  live::Header &h = c.out->header;
  if (h.regions < live::kMaxRegions) c.out->regions[h.regions++] = r;
  else ++h.regions_omitted;
}

// The per-bucket rows of heap h, summed into its heap row.
void collect_buckets(Ctx &c, Heap &h, live::HeapRow &row, bool process) {
  live::Header &hd = c.out->header;
  const bool la = h.lookaside().ready();
  for (unsigned b = 0; b < kBuckets; ++b) {
    BucketStats bs = h.bucket(b).stats();   // takes the bucket lock, briefly
    live::BucketRow r{};
    r.heap = c.heap_index;
    r.bucket = b;
    r.block_size = lfh_buckets::block_size(b);
    std::uint64_t cached = 0;
    if (la) {
      for (std::uint32_t cpu = 0; cpu < h.lookaside().cpus(); ++cpu) {
        const LookasideList &l = h.lookaside().list(cpu, b);
        const std::uint64_t allocs = __atomic_load_n(&l.allocs, __ATOMIC_RELAXED);
        const std::uint64_t misses = __atomic_load_n(&l.misses, __ATOMIC_RELAXED);
        r.allocs += allocs;
        r.frees += __atomic_load_n(&l.frees, __ATOMIC_RELAXED);
        r.lookaside_misses += misses;
        r.lookaside_hits += allocs > misses ? allocs - misses : 0;
        cached += l.stack.count();
        const std::uint32_t d = __atomic_load_n(&l.depth, __ATOMIC_RELAXED);
        if (d > r.lookaside_depth) r.lookaside_depth = d;
      }
    }
    if (process) {
      r.allocs += g_mag[b].allocs;
      r.frees += g_mag[b].frees;
      cached += g_mag[b].cached;
    }
    cached += bs.blocks_pending;   // (read under the bucket lock with blocks_out)
    // blocks_out counts blocks with the program, on look-aside lists, in magazines and on the
    // bucket's pending chain; the first two were read a moment apart from it, so clamp rather
    // than wrap.
    r.blocks_cached = cached < bs.blocks_out ? cached : bs.blocks_out;
    r.blocks_in_use = bs.blocks_out - r.blocks_cached;
    r.blocks_free = bs.blocks_free + r.blocks_cached;
    r.subsegments = bs.subsegments;
    row.lfh_allocs += r.allocs;
    row.lfh_frees += r.frees;
    row.lfh_blocks_in_use += r.blocks_in_use;
    row.lfh_bytes_in_use += r.blocks_in_use * r.block_size;
    row.lfh_blocks_free += r.blocks_free;
    row.lfh_subsegments += r.subsegments;
    row.lfh_lookaside_hits += r.lookaside_hits;
    row.lfh_lookaside_misses += r.lookaside_misses;
    if (bs.subsegments == 0 && bs.subsegments_created == 0 && r.allocs == 0) continue;   // never used
    if (hd.buckets < live::kMaxBuckets) c.out->buckets[hd.buckets++] = r;
    else ++hd.buckets_omitted;
  }
}

void collect_regions(Ctx &c, Heap &h) {
  // A no-serialize heap belongs to its one thread, which changes its lists without locks.
  if (!h.serialized()) return;
  const std::uint32_t hi = c.heap_index;
  h.arena().lock();
  h.arena().for_each_region([&](void *base, std::size_t size) {
    live::RegionRow r{};
    r.address = reinterpret_cast<std::uintptr_t>(base);
    r.size = size;
    r.kind = live::kRegionLfhReserve;
    r.heap = hi;
    add_region(c, r);
  });
  h.arena().unlock();
  for (unsigned b = 0; b < kBuckets; ++b) {
    Bucket &bk = h.bucket(b);
    os::LockGuard g(bk.mutex());   // held while copying this bucket's subsegments only
    bk.for_each_subsegment([&](Subsegment *s) {
      live::RegionRow r{};
      r.address = reinterpret_cast<std::uintptr_t>(s->base);
      r.size = std::uint64_t(s->granules) * vm::kGranularity;
      r.committed = r.size;   // a span is committed whole when carved (vm/span_arena.h)
      r.used_bytes = std::uint64_t(s->used) * s->block_size;
      r.kind = live::kRegionLfhSubsegment;
      r.heap = hi;
      r.bucket = b;
      r.block_size = s->block_size;
      r.blocks_total = s->capacity;
      r.blocks_used = s->used;
      add_region(c, r);
    });
  }
  core::CoreHeap &core = h.core();
  for (unsigned i = 0; i < core.arena_count(); ++i) {
    core::CoreArena *a = core.arena(i);
    if (!a) continue;
    os::LockGuard g(a->mutex());
    for (core::Segment *s = a->segments(); s; s = s->next) {
      live::RegionRow r{};
      r.address = reinterpret_cast<std::uintptr_t>(s->base);
      r.size = s->size;
      r.committed = s->committed;
      r.kind = live::kRegionCoreSegment;
      r.heap = hi;
      for (core::BlockHeader *b = s->first_block(); !s->is_end(b) && b->units(); b = b->next()) {
        ++r.blocks_total;
        if (!b->is_free()) {
          ++r.blocks_used;
          r.used_bytes += b->bytes();
        }
      }
      add_region(c, r);
    }
  }
  os::LockGuard g(h.direct().mutex());
  h.direct().for_each([&](DirectBlock *d) {
    live::RegionRow r{};
    r.address = reinterpret_cast<std::uintptr_t>(d->base);
    r.size = d->reserved;
    r.committed = d->committed;
    r.used_bytes = d->requested;
    r.kind = live::kRegionDirectBlock;
    r.heap = hi;
    r.blocks_total = r.blocks_used = 1;
    add_region(c, r);
  });
}

bool visit_heap(Heap &h, void *arg) {
  Ctx &c = *static_cast<Ctx *>(arg);
  live::Header &hd = c.out->header;
  const std::uint32_t index = c.heap_index;
  if (index >= live::kMaxHeaps) {
    ++hd.heaps_omitted;
    ++c.heap_index;
    return true;
  }
  const bool process = &h == &process_heap();
  live::HeapRow &row = c.out->heaps[index];
  row = live::HeapRow{};
  row.index = index;
  row.flags = h.flags();
  row.address = reinterpret_cast<std::uintptr_t>(&h);
  // A heap held with lfh_heap_lock has its bucket locks taken by the holder: reading it would
  // wait for as long as the holder likes (or forever, if the holder is the caller). Listed, not read.
  if (h.held()) {
    row.locked = 1;
    hd.heaps = index + 1;
    ++c.heap_index;
    return true;
  }
  collect_buckets(c, h, row, process);
  HeapStats hs;
  h.stats(&hs);
  row.core_allocs = hs.core_allocs;
  row.core_frees = hs.core_frees;
  row.core_blocks = hs.core_blocks;
  row.core_busy_bytes = hs.core_busy_bytes;
  row.core_segments = hs.core_segments;
  row.core_reserved_bytes = hs.core_reserved;
  row.core_committed_bytes = hs.core_committed;
  row.direct_allocs = hs.direct_allocs;
  row.direct_frees = hs.direct_frees;
  row.direct_blocks = hs.direct_blocks;
  row.direct_reserved_bytes = hs.direct_reserved;
  row.direct_committed_bytes = hs.direct_committed;
  // LFH memory: the arena's reservations, and what of them holds charged pages.
  const std::uint64_t arena_committed = hs.arena_carved - hs.arena_cached_purged;
  row.reserved_bytes = hs.arena_reserved + hs.core_reserved + hs.direct_reserved;
  row.committed_bytes = arena_committed + hs.core_committed + hs.direct_committed;
  if (c.opts.regions) collect_regions(c, h);
  hd.heaps = index + 1;
  ++c.heap_index;
  return true;
}

void add_to_totals(live::Totals &t, const live::HeapRow &r) {
  t.lfh_allocs += r.lfh_allocs;
  t.lfh_frees += r.lfh_frees;
  t.lfh_blocks_in_use += r.lfh_blocks_in_use;
  t.lfh_bytes_in_use += r.lfh_bytes_in_use;
  t.lfh_blocks_free += r.lfh_blocks_free;
  t.lfh_subsegments += r.lfh_subsegments;
  t.lfh_lookaside_hits += r.lfh_lookaside_hits;
  t.lfh_lookaside_misses += r.lfh_lookaside_misses;
  t.core_allocs += r.core_allocs;
  t.core_frees += r.core_frees;
  t.core_blocks += r.core_blocks;
  t.core_busy_bytes += r.core_busy_bytes;
  t.core_segments += r.core_segments;
  t.core_committed_bytes += r.core_committed_bytes;
  t.direct_allocs += r.direct_allocs;
  t.direct_frees += r.direct_frees;
  t.direct_blocks += r.direct_blocks;
  t.direct_committed_bytes += r.direct_committed_bytes;
}

// Resident bytes of each region (mincore), within the page budget.
void measure_resident(live::Snapshot *out) {
  std::uint64_t budget = kResidentBudgetPages;
  bool known = true;
  for (std::uint32_t i = 0; i < out->header.regions; ++i) {
    live::RegionRow &r = out->regions[i];
    // An arena reservation's pages are those of the subsegments in it, measured with them.
    if (r.kind == live::kRegionLfhReserve) continue;
    const std::uint64_t span = r.kind == live::kRegionDirectBlock ? r.committed : r.size;
    std::uint64_t pages = span / vm::kPageSize;
    if (pages > budget) {
      known = false;
      break;
    }
    budget -= pages;
    std::uint64_t resident = 0;
    char *p = reinterpret_cast<char *>(r.address);
    while (pages) {
      const std::size_t n = pages < kResidentChunk ? std::size_t(pages) : kResidentChunk;
      // The region may have been released since it was listed: mincore then fails (ENOMEM) and
      // the rest of it counts as not resident.
      if (!os::residency(p, n * vm::kPageSize, g_resident)) break;
      for (std::size_t k = 0; k < n; ++k) resident += g_resident[k] & 1;
      p += n * vm::kPageSize;
      pages -= n;
    }
    r.resident = resident * vm::kPageSize;
  }
  out->header.resident_known = known ? 1 : 0;
}

}  // namespace

void snapshot(live::Snapshot *out, SnapshotOptions opts) {
  process_heap();   // initialises lfh first
  os::LockGuard g(g_snapshot_lock);
  live::Header &h = out->header;
  // Field by field: `seq` and `updates` belong to the live writer (a whole-struct store would
  // make seq even for a moment in the middle of an update).
  live::init_header(h);
  h.heaps = h.buckets = h.tags = h.regions = 0;
  h.heaps_omitted = h.buckets_omitted = h.tags_omitted = h.regions_omitted = 0;
  h.resident_known = 0;
  h.pid = os::pid();
  h.period_ms = balance::period_ms();
  h.updated_wall_ns = os::wall_ns();
  front_bucket_stats(g_mag);
  Ctx c{out, opts, 0};
  for_each_heap(visit_heap, &c);
  live::Totals &t = out->totals;
  t = live::Totals{};
  for (std::uint32_t i = 0; i < h.heaps; ++i) add_to_totals(t, out->heaps[i]);
  t.heaps = c.heap_index;
  vm::Totals v = vm::totals();
  t.reserved_bytes = v.reserved;
  t.committed_bytes = v.committed;
  t.peak_committed_bytes = v.peak_committed;
  t.commit_limit = v.commit_limit;
  t.decommitted_bytes = v.decommitted;
  t.rss_bytes = os::rss_bytes();
  t.peak_rss_bytes = os::peak_rss_bytes();
  debug::PhStats ph = debug::ph_stats();
  t.pageheap_blocks = ph.live_blocks;
  t.pageheap_bytes = ph.live_bytes;
  h.tags_on = debug::tags_on() ? 1 : 0;
  const std::size_t tracked = debug::tag_rows(g_tags, live::kMaxTags);
  const std::size_t n = tracked < live::kMaxTags ? tracked : live::kMaxTags;
  for (std::size_t i = 0; i < n; ++i) {
    const debug::TagRow &s = g_tags[i];
    out->tags[i] = live::TagRow{s.tag, 0, s.allocs, s.frees, s.blocks, s.bytes, s.peak_bytes};
  }
  h.tags = std::uint32_t(n);
  h.tags_omitted = tracked - n;
  if (opts.regions && opts.resident) measure_resident(out);
}

live::Snapshot *snapshot_buffer_new() {
  constexpr std::size_t kBytes = (sizeof(live::Snapshot) + vm::kGranularity - 1) / vm::kGranularity * vm::kGranularity;
  void *p = vm::reserve_committed(kBytes);
  return static_cast<live::Snapshot *>(p);   // zero-filled: fresh pages
}

void snapshot_buffer_free(live::Snapshot *s) {
  constexpr std::size_t kBytes = (sizeof(live::Snapshot) + vm::kGranularity - 1) / vm::kGranularity * vm::kGranularity;
  if (s) vm::release_committed(s, kBytes, kBytes);
}

}  // namespace lfh::stats
