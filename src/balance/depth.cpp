// balance/depth.cpp — the depth formula and its application to a heap's look-aside lists.
#include "balance/depth.h"

#include "heap/heap.h"
#include "heap/runtime.h"
#include "lfh/free_link.h"

namespace lfh::balance {

bool list_idle(std::uint32_t allocs, std::uint32_t period_ms) {
  std::uint64_t threshold = std::uint64_t(kIdleAllocsPerSecond) * period_ms / 1000;
  if (threshold == 0) threshold = 1;   // very short ticks: idle means no allocation at all
  return allocs < threshold;
}

std::uint32_t next_depth(const DepthInput &in) {
  const std::uint32_t lo = in.min_depth < in.max_depth ? in.min_depth : in.max_depth;
  const std::uint32_t hi = in.max_depth;
  std::uint32_t d = in.depth < lo ? lo : in.depth > hi ? hi : in.depth;
  if (list_idle(in.allocs, in.period_ms)) return lo;
  // allocs > 0 here. Misses can exceed allocs (counts are racy, and refills count separately):
  // the ratio is then capped at 1000 ‰.
  std::uint64_t ratio = std::uint64_t(in.misses) * 1000 / in.allocs;
  if (ratio > 1000) ratio = 1000;
  if (ratio < kLowMissPermille) return d > lo ? d - 1 : lo;
  std::uint64_t delta = ratio * (hi - d) / 2000 + 5;
  if (delta > kMaxRaise) delta = kMaxRaise;
  std::uint64_t nd = d + delta;
  return std::uint32_t(nd > hi ? hi : nd);
}

namespace {

// Give the list's blocks back to bucket `b`, keeping `keep` on the list. Lock-free on the list;
// the bucket is try-locked, and when it is busy everything goes back on the list.
void give_back(Heap &h, LookasideList &l, unsigned b, std::uint32_t keep, DepthResult *out) {
  std::uint32_t n;
  void *chain = l.stack.pop_all(&n);
  if (!chain) return;
  // The first `keep` blocks (the hottest, LIFO) stay.
  void *keep_tail = nullptr, *rest = chain;
  std::uint32_t kept = 0;
  while (kept < keep && kept < n) {
    keep_tail = rest;
    rest = load_link(rest);
    ++kept;
  }
  std::uint32_t surplus = n - kept;
  Bucket &bucket = h.bucket(b);
  if (surplus && bucket.mutex().try_lock()) {
    bucket.set_purge_on_retire(true);
    bucket.give_back_chain(rest, surplus, /*serialize=*/false);
    bucket.set_purge_on_retire(false);
    bucket.mutex().unlock();
    out->blocks_returned += surplus;
  } else if (surplus) {
    kept = n;   // busy bucket: put everything back, try again next tick
  }
  if (kept == n) {
    // The whole chain (its last link is null: it was the whole stack).
    void *tail = chain;
    for (std::uint32_t i = 1; i < n; ++i) tail = load_link(tail);
    l.stack.push_chain(chain, tail, n);
  } else if (kept) {
    l.stack.push_chain(chain, keep_tail, kept);
  }
}

}  // namespace

void tune_lookaside(Heap &h, std::uint32_t period_ms, bool flush_all, DepthResult *out) {
  LookasideTable &t = h.lookaside();
  if (!t.ready() || !h.lookaside_enabled()) return;
  out->busy_known = true;
  const std::uint32_t min_depth = runtime_options().lookaside_depth;
  for (std::uint32_t c = 0; c < t.cpus(); ++c) {
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
      LookasideList &l = t.list(c, b);
      const std::uint32_t a = std::uint32_t(__atomic_load_n(&l.allocs, __ATOMIC_RELAXED));
      const std::uint32_t m = std::uint32_t(__atomic_load_n(&l.misses, __ATOMIC_RELAXED));
      DepthInput in{a - l.seen_allocs, m - l.seen_misses, __atomic_load_n(&l.depth, __ATOMIC_RELAXED),
                    min_depth, l.max_depth, period_ms};
      l.seen_allocs = a;
      l.seen_misses = m;
      if (in.allocs == 0 && in.depth <= min_depth && !flush_all && l.stack.count() == 0) continue;   // cold
      const std::uint32_t nd = next_depth(in);
      if (nd != in.depth) {
        __atomic_store_n(&l.depth, nd, __ATOMIC_RELAXED);
        if (nd > in.depth) ++out->raised;
        else ++out->lowered;
      }
      const bool idle = list_idle(in.allocs, period_ms);
      if (!idle) out->busy[b / 64] |= std::uint64_t(1) << (b % 64);
      const std::uint32_t count = l.stack.count();
      if (count == 0) continue;
      if (idle || flush_all) {
        give_back(h, l, b, 0, out);
        ++out->flushed_lists;
      } else if (count > nd) {
        give_back(h, l, b, nd, out);
      }
    }
  }
}

}  // namespace lfh::balance
