// api/glibc_compat.cpp — see glibc_compat.h.
#include "api/glibc_compat.h"

#include <errno.h>

#include <climits>

#include "balance/balance.h"
#include "base/format.h"
#include "base/options.h"
#include "heap/front.h"
#include "heap/runtime.h"
#include "os/os.h"
#include "os/stream.h"
#include "stats/stats.h"

namespace lfh::libc {
namespace {

// glibc's mallopt parameters (malloc.h).
constexpr int kMxFast = 1, kTrimThreshold = -1, kTopPad = -2, kMmapThreshold = -3, kMmapMax = -4,
              kCheckAction = -5, kPerturb = -6, kArenaTest = -7, kArenaMax = -8;

struct Cached {
  std::uint64_t blocks = 0, bytes = 0;
  std::uint64_t per_bucket[lfh_buckets::kBuckets] = {};
};

void add_magazine(ThreadMagazine &tm, void *arg) {
  auto *c = static_cast<Cached *>(arg);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    c->per_bucket[b] += slot_cached(tm.slots[b], b);
  }
}

// Free small blocks of the process heap waiting for reuse: look-aside lists, magazines and the
// buckets' pending chains.
void cached_small(Heap &h, Cached *c) {
  LookasideTable &t = h.lookaside();
  if (t.ready())
    for (std::uint32_t cpu = 0; cpu < t.cpus(); ++cpu)
      for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) c->per_bucket[b] += t.list(cpu, b).stack.count();
  front_for_each_magazine(add_magazine, c);
  front_orphan_cached(c->per_bucket);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    c->per_bucket[b] += h.bucket(b).stats().blocks_pending;   // parked on the bucket
    c->blocks += c->per_bucket[b];
    c->bytes += c->per_bucket[b] * lfh_buckets::block_size(b);
  }
}

int saturate(std::size_t v) { return v > std::size_t(INT_MAX) ? INT_MAX : int(v); }

// Reconfigure the process heap's core heap with one field changed (mallopt). Call before other
// threads allocate large blocks, as with glibc.
template <class F> void reconfigure_core(F &&change) {
  Heap &h = process_heap();
  core::CoreHeap &c = h.core();
  core::CoreConfig cfg = c.config();
  bool any_arena = false;
  for (unsigned i = 0; i < core::CoreHeap::kMaxArenas; ++i)
    if (i < c.arena_count() && c.arena(i)) any_arena = true;
  cfg.arenas = c.arena_count();   // the arenas in use stay as they are …
  change(cfg, any_arena);         // … unless none exists yet and the change asks otherwise
  c.configure(c.heap(), c.lock_pages(), h.serialized(), c.secure_free(), cfg);
}

class Emitter {
 public:
  explicit Emitter(void *stream) : stream_(stream) {}
  LineBuf &line() { return buf_; }
  void flush() {
    if (buf_.size() && !os::write_stream(stream_, buf_.data(), buf_.size())) ok_ = false;
    buf_.clear();
  }
  bool ok() const { return ok_; }

 private:
  void *stream_;
  LineBuf buf_;
  bool ok_ = true;
};

}  // namespace

int malloc_trim(std::size_t pad) { return balance::trim_now(pad) != 0 ? 1 : 0; }

MallInfo2 mallinfo2() {
  lfh_stats_t s;
  stats::collect(&s);
  Cached c;
  cached_small(process_heap(), &c);
  MallInfo2 m{};
  m.hblks = s.direct_blocks;
  m.hblkhd = s.direct_committed_bytes;
  m.arena = s.committed_bytes > m.hblkhd ? s.committed_bytes - m.hblkhd : 0;
  m.smblks = c.blocks;
  m.fsmblks = c.bytes;
  const std::uint64_t lfh_in_use = s.lfh_bytes_out > c.bytes ? s.lfh_bytes_out - c.bytes : 0;
  m.uordblks = lfh_in_use + s.core_busy_bytes;
  if (m.uordblks > m.arena) m.uordblks = m.arena;   // (counters read at slightly different times)
  m.fordblks = m.arena - m.uordblks;
  HeapStats hs;
  process_heap().stats(&hs);
  m.ordblks = process_heap().core().stats().free_blocks;
  m.keepcost = hs.arena_cached_committed + s.core_pending_bytes + s.direct_cached_bytes;
  m.usmblks = 0;
  return m;
}

MallInfo mallinfo() {
  MallInfo2 m = mallinfo2();
  return MallInfo{saturate(m.arena),   saturate(m.ordblks), saturate(m.smblks),   saturate(m.hblks),
                  saturate(m.hblkhd),  saturate(m.usmblks), saturate(m.fsmblks),  saturate(m.uordblks),
                  saturate(m.fordblks), saturate(m.keepcost)};
}

void malloc_stats() {
  MallInfo2 m = mallinfo2();
  lfh_stats_t s;
  stats::collect(&s);
  LineBuf l;
  // glibc's layout: one "Arena" (lfh's process heap), then the totals with the mmapped blocks.
  l.str("Arena 0:\n");
  l.str("system bytes     = ").dec_w(m.arena, 10).chr('\n');
  l.str("in use bytes     = ").dec_w(m.uordblks, 10).chr('\n');
  l.str("Total (incl. mmap):\n");
  l.str("system bytes     = ").dec_w(m.arena + m.hblkhd, 10).chr('\n');
  l.str("in use bytes     = ").dec_w(m.uordblks + m.hblkhd, 10).chr('\n');
  l.str("max mmap regions = ").dec_w(m.hblks, 10).chr('\n');
  l.str("max mmap bytes   = ").dec_w(s.peak_committed_bytes, 10).chr('\n');
  os::write_all(2, l.data(), l.size());
}

int malloc_info(int options, void *stream) {
  if (options != 0) {
    errno = EINVAL;
    return -1;
  }
  MallInfo2 m = mallinfo2();
  lfh_stats_t s;
  stats::collect(&s);
  Cached c;
  cached_small(process_heap(), &c);
  Emitter e(stream);
  e.line().str("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
  e.flush();
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    if (!c.per_bucket[b]) continue;
    const std::size_t to = lfh_buckets::block_size(b), from = b ? lfh_buckets::block_size(b - 1) + 1 : 1;
    e.line().str("  <size from=\"").dec(from).str("\" to=\"").dec(to).str("\" total=\"");
    e.line().dec(c.per_bucket[b] * to).str("\" count=\"").dec(c.per_bucket[b]).str("\"/>\n");
    e.flush();
  }
  e.line().str("</sizes>\n");
  e.line().str("<total type=\"fast\" count=\"").dec(m.smblks).str("\" size=\"").dec(m.fsmblks).str("\"/>\n");
  e.line().str("<total type=\"rest\" count=\"").dec(m.ordblks).str("\" size=\"").dec(m.fordblks - (m.fordblks >= m.fsmblks ? m.fsmblks : 0)).str("\"/>\n");
  e.line().str("<system type=\"current\" size=\"").dec(m.arena).str("\"/>\n");
  e.line().str("<system type=\"max\" size=\"").dec(s.peak_committed_bytes).str("\"/>\n");
  e.line().str("<aspace type=\"total\" size=\"").dec(s.reserved_bytes).str("\"/>\n");
  e.line().str("<aspace type=\"mprotect\" size=\"").dec(s.committed_bytes).str("\"/>\n");
  e.line().str("</heap>\n");
  e.flush();
  e.line().str("<total type=\"fast\" count=\"").dec(m.smblks).str("\" size=\"").dec(m.fsmblks).str("\"/>\n");
  e.line().str("<total type=\"rest\" count=\"").dec(m.ordblks).str("\" size=\"").dec(m.fordblks - (m.fordblks >= m.fsmblks ? m.fsmblks : 0)).str("\"/>\n");
  e.line().str("<total type=\"mmap\" count=\"").dec(m.hblks).str("\" size=\"").dec(m.hblkhd).str("\"/>\n");
  e.line().str("<system type=\"current\" size=\"").dec(s.committed_bytes).str("\"/>\n");
  e.line().str("<system type=\"max\" size=\"").dec(s.peak_committed_bytes).str("\"/>\n");
  e.line().str("<aspace type=\"total\" size=\"").dec(s.reserved_bytes).str("\"/>\n");
  e.line().str("<aspace type=\"mprotect\" size=\"").dec(s.committed_bytes).str("\"/>\n");
  e.line().str("</malloc>\n");
  e.flush();
  return e.ok() ? 0 : -1;
}

int mallopt(int param, int value) {
  switch (param) {
    case kMmapThreshold: {
      // glibc: at most HEAP_MAX_SIZE / 2 (32 MB on 64-bit); lfh's core heap serves up to 32 MB.
      if (value < 0 || std::size_t(value) > core::CoreHeap::kMaxRequest) return 0;
      std::size_t v = std::size_t(value) < lfh_buckets::kMaxSize ? lfh_buckets::kMaxSize : std::size_t(value);
      option_set(Opt::direct_threshold, v);
      reconfigure_core([v](core::CoreConfig &cfg, bool) { cfg.max_request = v; });
      return 1;
    }
    case kTrimThreshold: {
      // The size from which a free core-heap range is decommitted (after the purge delay).
      if (value < 0) return 0;
      option_set(Opt::decommit_free_block, std::uint64_t(value));
      reconfigure_core([value](core::CoreConfig &cfg, bool) { cfg.decommit_block = std::size_t(value); });
      return 1;
    }
    case kArenaMax: {
      if (value < 1) return 0;
      option_set(Opt::core_arenas, std::uint64_t(value));
      // Takes effect for the process heap only while it has no core arena yet (and for every
      // heap created later): arenas with blocks in them stay.
      reconfigure_core([value](core::CoreConfig &cfg, bool any) {
        if (!any) cfg.arenas = unsigned(value);
      });
      return 1;
    }
    case kMxFast:
    case kTopPad:
    case kMmapMax:
    case kCheckAction:
    case kPerturb:
    case kArenaTest:
      return 1;   // meaningful for glibc's allocator only: accepted, no effect
    default:
      return 0;
  }
}

}  // namespace lfh::libc
