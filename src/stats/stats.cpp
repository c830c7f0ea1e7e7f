#include "stats/stats.h"

#include <cstring>

#include "balance/balance.h"
#include "debug/page_heap.h"
#include "debug/tag_table.h"
#include "base/format.h"
#include "base/options.h"
#include "debug/fault.h"
#include "heap/front.h"
#include "heap/runtime.h"
#include "os/os.h"
#include "stats/live.h"
#include "stats/print.h"
#include "stats/snapshot.h"
#include "vm/vm.h"

namespace lfh::stats {
namespace {

bool count_one(Heap &, void *arg) {
  ++*static_cast<std::uint64_t *>(arg);
  return true;
}

std::uint64_t count_heaps() {
  std::uint64_t n = 0;
  for_each_heap(count_one, &n);
  return n;
}

}  // namespace

void collect(lfh_stats_t *out) {
  Heap &heap = process_heap();   // initialises lfh first, so the totals below include it
  lfh_stats_t s;
  std::memset(&s, 0, sizeof s);
  s.version = LFH_STATS_VERSION;
  s.size = sizeof s;
  vm::Totals t = vm::totals();
  s.reserved_bytes = t.reserved;
  s.committed_bytes = t.committed;
  s.peak_committed_bytes = t.peak_committed;
  s.commit_limit = t.commit_limit;
  s.decommitted_bytes = t.decommitted;
  s.commit_failures = t.commit_failures;
  HeapStats h;
  heap.stats(&h);
  std::uint64_t mag_allocs, mag_frees;
  front_stats(&mag_allocs, &mag_frees);   // served by threads' magazines, never seen by the lists
  s.lfh_allocs = h.lfh_allocs + mag_allocs;
  s.lfh_frees = h.lfh_frees + mag_frees;
  s.lookaside_misses = h.lookaside_misses;
  s.lookaside_overflows = h.lookaside_overflows;
  s.lfh_blocks_out = h.lfh_blocks_out;
  s.lfh_bytes_out = h.lfh_bytes_out;
  s.lfh_subsegments = h.lfh_subsegments;
  s.direct_blocks = h.direct_blocks;
  s.direct_committed_bytes = h.direct_committed;
  s.direct_reserved_bytes = h.direct_reserved;
  s.direct_allocs = h.direct_allocs;
  s.direct_frees = h.direct_frees;
  s.cpus = heap.lookaside().cpus();
  s.rseq = os::rseq_available() ? 1 : 0;
  s.core_segments = h.core_segments;
  s.core_reserved_bytes = h.core_reserved;
  s.core_committed_bytes = h.core_committed;
  s.core_blocks = h.core_blocks;
  s.core_busy_bytes = h.core_busy_bytes;
  s.core_free_bytes = h.core_free_bytes;
  s.core_pending_bytes = h.core_pending_bytes;
  s.core_allocs = h.core_allocs;
  s.core_frees = h.core_frees;
  s.core_decommitted_bytes = h.core_decommitted;
  s.direct_cached_bytes = h.direct_cached_bytes;
  s.direct_cache_hits = h.direct_cache_hits;
  balance::Stats b = balance::stats();
  s.balance_ticks = b.ticks;
  s.balance_trimmed_bytes = b.trimmed_bytes;
  s.balance_pressure_trims = b.pressure_trims;
  s.balance_depth_raises = b.depth_raises;
  s.balance_depth_cuts = b.depth_cuts;
  s.balance_lists_flushed = b.lists_flushed;
  s.balance_threads_flagged = b.threads_flagged;
  s.balance_thread = b.thread_running ? 1 : 0;
  s.balance_period_ms = balance::period_ms();
  s.heaps = count_heaps();
  debug::PhStats ph = debug::ph_stats();
  s.pageheap_blocks = ph.live_blocks;
  s.pageheap_bytes = ph.live_bytes;
  s.rss_bytes = os::rss_bytes();
  s.peak_rss_bytes = os::peak_rss_bytes();
  s.tags_tracked = debug::tag_rows(nullptr, 0);
  s.faults_injected = debug::faults_injected();
  *out = s;
}

namespace {

void json_field(LineBuf &l, const char *name, std::uint64_t v, bool first = false) {
  if (!first) l.chr(',');
  l.chr('"').str(name).str("\":").dec(v);
}

void print_json(int fd, const lfh_stats_t &s) {
  LineBuf l;
  l.chr('{');
  json_field(l, "version", s.version, true);
  json_field(l, "pid", std::uint64_t(os::pid()));
  json_field(l, "reserved_bytes", s.reserved_bytes);
  json_field(l, "committed_bytes", s.committed_bytes);
  json_field(l, "peak_committed_bytes", s.peak_committed_bytes);
  json_field(l, "commit_limit", s.commit_limit);
  json_field(l, "decommitted_bytes", s.decommitted_bytes);
  json_field(l, "commit_failures", s.commit_failures);
  json_field(l, "lfh_allocs", s.lfh_allocs);
  json_field(l, "lfh_frees", s.lfh_frees);
  json_field(l, "lookaside_misses", s.lookaside_misses);
  json_field(l, "lookaside_overflows", s.lookaside_overflows);
  json_field(l, "lfh_blocks_out", s.lfh_blocks_out);
  json_field(l, "lfh_bytes_out", s.lfh_bytes_out);
  json_field(l, "lfh_subsegments", s.lfh_subsegments);
  json_field(l, "direct_blocks", s.direct_blocks);
  json_field(l, "direct_committed_bytes", s.direct_committed_bytes);
  json_field(l, "direct_reserved_bytes", s.direct_reserved_bytes);
  json_field(l, "direct_allocs", s.direct_allocs);
  json_field(l, "direct_frees", s.direct_frees);
  json_field(l, "cpus", s.cpus);
  json_field(l, "rseq", s.rseq);
  os::write_all(fd, l.data(), l.size());
  l.clear();
  json_field(l, "core_segments", s.core_segments);
  json_field(l, "core_reserved_bytes", s.core_reserved_bytes);
  json_field(l, "core_committed_bytes", s.core_committed_bytes);
  json_field(l, "core_blocks", s.core_blocks);
  json_field(l, "core_busy_bytes", s.core_busy_bytes);
  json_field(l, "core_free_bytes", s.core_free_bytes);
  json_field(l, "core_pending_bytes", s.core_pending_bytes);
  json_field(l, "core_allocs", s.core_allocs);
  json_field(l, "core_frees", s.core_frees);
  json_field(l, "core_decommitted_bytes", s.core_decommitted_bytes);
  json_field(l, "direct_cached_bytes", s.direct_cached_bytes);
  json_field(l, "direct_cache_hits", s.direct_cache_hits);
  // One LineBuf holds 1 KB: write what is there before it can fill up.
  os::write_all(fd, l.data(), l.size());
  l.clear();
  json_field(l, "balance_ticks", s.balance_ticks);
  json_field(l, "balance_trimmed_bytes", s.balance_trimmed_bytes);
  json_field(l, "balance_pressure_trims", s.balance_pressure_trims);
  json_field(l, "balance_depth_raises", s.balance_depth_raises);
  json_field(l, "balance_depth_cuts", s.balance_depth_cuts);
  json_field(l, "balance_lists_flushed", s.balance_lists_flushed);
  json_field(l, "balance_threads_flagged", s.balance_threads_flagged);
  json_field(l, "balance_thread", s.balance_thread);
  json_field(l, "balance_period_ms", s.balance_period_ms);
  json_field(l, "heaps", s.heaps);
  json_field(l, "pageheap_blocks", s.pageheap_blocks);
  json_field(l, "pageheap_bytes", s.pageheap_bytes);
  json_field(l, "rss_bytes", s.rss_bytes);
  json_field(l, "peak_rss_bytes", s.peak_rss_bytes);
  json_field(l, "tags_tracked", s.tags_tracked);
  json_field(l, "faults_injected", s.faults_injected);
  os::write_all(fd, l.data(), l.size());
}

void row(int fd, const char *label, std::uint64_t v, bool bytes) {
  LineBuf l;
  l.str("lfh:   ").str(label);
  for (std::size_t i = std::strlen(label); i < 28; ++i) l.chr(' ');
  if (bytes) l.size(v);
  else l.dec(v);
  l.chr('\n');
  os::write_all(fd, l.data(), l.size());
}

void print_table(int fd, const lfh_stats_t &s, bool detail) {
  LineBuf h;
  h.str("lfh: statistics for pid ").dec(std::uint64_t(os::pid())).str(" (").dec(s.cpus).str(" CPUs, rseq ").str(s.rseq ? "on" : "off").str(")\n");
  os::write_all(fd, h.data(), h.size());
  row(fd, "small allocations (LFH)", s.lfh_allocs, false);
  row(fd, "small frees", s.lfh_frees, false);
  std::uint64_t hits = s.lfh_allocs > s.lookaside_misses ? s.lfh_allocs - s.lookaside_misses : 0;
  LineBuf hr;
  hr.str("lfh:   look-aside hit rate         ");
  if (s.lfh_allocs) {
    std::uint64_t pm = hits * 1000 / s.lfh_allocs;
    hr.dec(pm / 10).chr('.').dec(pm % 10).str("%\n");
  } else {
    hr.str("-\n");
  }
  os::write_all(fd, hr.data(), hr.size());
  if (!detail) {   // (with the detail below, the exact figures come from the bucket table)
    std::uint64_t in_use = s.lfh_allocs > s.lfh_frees ? s.lfh_allocs - s.lfh_frees : 0;
    row(fd, "small blocks in use", in_use, false);
    row(fd, "small blocks cached", s.lfh_blocks_out > in_use ? s.lfh_blocks_out - in_use : 0, false);
  }
  row(fd, "subsegments", s.lfh_subsegments, false);
  row(fd, "core allocations", s.core_allocs, false);
  row(fd, "core blocks live", s.core_blocks, false);
  row(fd, "core segments", s.core_segments, false);
  row(fd, "core committed", s.core_committed_bytes, true);
  row(fd, "core free, still committed", s.core_pending_bytes, true);
  row(fd, "large allocations (direct)", s.direct_allocs, false);
  row(fd, "large blocks live", s.direct_blocks, false);
  row(fd, "reserved", s.reserved_bytes, true);
  row(fd, "committed", s.committed_bytes, true);
  row(fd, "peak committed", s.peak_committed_bytes, true);
  if (s.commit_limit) row(fd, "commit limit", s.commit_limit, true);
  if (s.commit_failures) row(fd, "commit failures", s.commit_failures, false);
  row(fd, "balance ticks", s.balance_ticks, false);
  row(fd, "balance: given back", s.balance_trimmed_bytes, true);
  if (s.balance_pressure_trims) row(fd, "balance: pressure trims", s.balance_pressure_trims, false);
  if (s.faults_injected) row(fd, "faults injected", s.faults_injected, false);
}

}  // namespace

void print(int fd, unsigned flags) {
  lfh_stats_t s;
  collect(&s);
  // The detail (heaps, buckets, tags, regions) comes from a snapshot in a buffer of its own; when
  // that memory cannot be had (a commit limit reached) the summary is printed alone.
  live::Snapshot *snap = snapshot_buffer_new();
  if (snap) snapshot(snap, SnapshotOptions{(flags & LFH_STATS_REGIONS) != 0, (flags & LFH_STATS_REGIONS) != 0});
  if (flags & LFH_STATS_PRINT_JSON) {
    print_json(fd, s);   // the summary's fields, flat (as in version 1), without the closing brace
    if (snap) print_snapshot_json(fd, *snap, (flags & LFH_STATS_REGIONS) != 0);
    os::write_all(fd, "}\n", 2);
  } else {
    print_table(fd, s, snap != nullptr);
    if (snap) print_snapshot_table(fd, *snap, (flags & LFH_STATS_BUCKETS) != 0);
  }
  snapshot_buffer_free(snap);
}

void print_at_exit_if_asked() {
  const char *where = option_str(Opt::stats);
  if (!where || !*where || (where[0] == '0' && where[1] == 0)) return;
  bool json = false;
  int fd = 2;
  if (!(where[0] == '1' && where[1] == 0)) {
    // A path; "%p" becomes the pid. A path ending in ".json" gets JSON.
    char path[512];
    std::size_t n = 0;
    for (const char *c = where; *c && n < sizeof path - 24; ++c) {
      if (c[0] == '%' && c[1] == 'p') {
        LineBuf pid;
        pid.dec(std::uint64_t(os::pid()));
        for (std::size_t i = 0; i < pid.size(); ++i) path[n++] = pid.data()[i];
        ++c;
      } else {
        path[n++] = *c;
      }
    }
    path[n] = 0;
    json = n > 5 && std::strcmp(path + n - 5, ".json") == 0;
    fd = os::open_for_write(path);
    if (fd < 0) return;
  }
  // A JSON file is a snapshot for the tools: with the region list (`lfh map --from`).
  print(fd, json ? LFH_STATS_PRINT_JSON | LFH_STATS_REGIONS : 0);
  if (fd != 2) os::close_fd(fd);
}

namespace {
// The live segment is published from the balance tick (a layer below this one): hook it in at
// load time, and take the segment away when the process ends.
__attribute__((constructor)) void register_live_observer() { balance::set_tick_observer(live_tick); }
__attribute__((destructor)) void remove_live_segment() { live_remove_at_exit(); }
}  // namespace

}  // namespace lfh::stats
