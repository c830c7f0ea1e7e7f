// balance/trim.cpp — the per-heap steps of the tick (see trim.h).
#include "balance/trim.h"

#include "heap/front.h"
#include "heap/heap.h"
#include "lfh/free_link.h"
#include "os/os.h"

namespace lfh::balance {

static_assert([] {
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b)
    if (lfh_buckets::blocks_per_span(b) > kMaxBlocksPerSpan) return false;
  return true;
}());

std::size_t trim_subsegment_tail(Subsegment *s) {
  const std::uint32_t bump = s->bump.load(std::memory_order_relaxed);
  if (s->free_count == 0 || bump == 0 || s->used == 0) return 0;
  // Which of [0, bump) are free: a bitmap from the subsegment's free list.
  constexpr std::uint32_t kWords = kMaxBlocksPerSpan / 64;
  std::uint64_t bits[kWords];
  const std::uint32_t words = (bump + 63) / 64;
  if (words > kWords) return 0;
  for (std::uint32_t w = 0; w < words; ++w) bits[w] = 0;
  std::uint32_t seen = 0;
  for (void *b = s->free_list; b && seen < s->free_count; b = load_link(b), ++seen) {
    const std::int64_t idx = s->index_of(b);
    if (idx < 0 || std::uint32_t(idx) >= bump) return 0;   // not what we expect: leave it alone
    bits[idx / 64] |= std::uint64_t(1) << (idx % 64);
  }
  // k = 1 + the highest index that is out (used: with the program, a list or a magazine).
  std::uint32_t k = 0;
  for (std::uint32_t w = words; w-- > 0;) {
    std::uint64_t out = ~bits[w];
    if (w == words - 1 && bump % 64) out &= (std::uint64_t(1) << (bump % 64)) - 1;
    if (out) {
      k = w * 64 + 64 - std::uint32_t(__builtin_clzll(out));
      break;
    }
  }
  if (k == 0 || k >= bump) return 0;
  const std::uintptr_t from = align_up(addr(s->first) + std::uintptr_t(k) * s->block_size, os::kPageSize);
  const std::uintptr_t to = addr(s->base) + std::uintptr_t(s->granules) * os::kGranularity;
  // Unlink the free blocks at k and above (keeping the others' order), then move bump back.
  void *head = nullptr, *tail = nullptr;
  std::uint32_t kept = 0;
  for (void *b = s->free_list; b;) {
    void *next = load_link(b);
    if (std::uint32_t(s->index_of(b)) < k) {
      if (tail) store_link(tail, b);
      else head = b;
      tail = b;
      ++kept;
    }
    b = next;
  }
  if (tail) store_link(tail, nullptr);
  s->free_list = head;
  s->free_count = kept;
  s->set_bump(k);
  if (from >= to) return 0;
  // The pages go, the commit charge stays with the span (it is charged whole): the working set
  // manager's trim, not a decommit. They read zero if ever touched again, as fresh blocks may.
  os::purge(ptr(from), to - from);
  static_cast<Heap *>(s->heap)->arena().unhuge(ptr(from), to - from);
  return to - from;
}

void tick_heap(Heap &h, std::uint32_t period_ms, bool tune, bool force, TrimResult *out) {
  // 1. Look-aside lists (which buckets were busy is per heap: a local result, merged below).
  DepthResult d;
  if (tune || force) tune_lookaside(h, period_ms, force, &d);
  out->depth.raised += d.raised;
  out->depth.lowered += d.lowered;
  out->depth.flushed_lists += d.flushed_lists;
  out->depth.blocks_returned += d.blocks_returned;
  // 2. Buckets: the kept empty subsegment, once idle for a tick (all empty ones under pressure).
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    Bucket &bucket = h.bucket(b);
    if (!bucket.mutex().try_lock()) continue;
    bucket.set_purge_on_retire(true);
    const bool idle = force || !d.bucket_busy(b);
    out->subsegments_retired += force ? bucket.trim(/*serialize=*/false) : bucket.retire_idle_locked(idle);
    bucket.set_purge_on_retire(false);
    // An idle bucket's subsegments give back the pages past their last block in use.
    if (idle && d.busy_known) {
      unsigned budget = kTailScan;
      bucket.for_each_subsegment([&](Subsegment *s) {
        if (budget && s->free_count) {
          --budget;
          out->tail_bytes += trim_subsegment_tail(s);
        }
      });
    }
    bucket.mutex().unlock();
  }
  // 3. Span arena: spans free for a whole tick (all under pressure).
  out->bytes += force ? h.arena().trim() : h.arena().trim_aged();
  // 4. Core heap arenas.
  core::CoreHeap &core = h.core();
  const std::uint64_t now = os::now_ns();
  for (unsigned i = 0; i < core.arena_count(); ++i) {
    core::CoreArena *a = core.arena(i);
    if (!a || !a->mutex().try_lock()) continue;
    out->bytes += a->purge(now, force);
    a->mutex().unlock();
  }
  // 5. Direct blocks' cache.
  if (h.direct().mutex().try_lock()) {
    out->bytes += h.direct().purge(force, /*lock=*/false);
    h.direct().mutex().unlock();
  }
}

namespace {

struct AskCtx {
  std::uint8_t what;
  std::uint64_t asked;
};

void ask(ThreadMagazine &tm, void *arg) {
  auto *ctx = static_cast<AskCtx *>(arg);
  if (__atomic_load_n(&tm.state, __ATOMIC_RELAXED) != ThreadMagazine::kActive) return;
  if (__atomic_load_n(&tm.flush_requested, __ATOMIC_RELAXED) < ctx->what) {
    __atomic_store_n(&tm.flush_requested, ctx->what, __ATOMIC_RELAXED);
    ++ctx->asked;
  } else {
    // Asked a tick ago and no slow path since: the tick empties the thread's stash onto the
    // buckets' pending chains itself (its magazine's slots stay: only their owner may touch them).
    front_drain_stash(tm);
  }
}

}  // namespace

std::uint64_t ask_magazines(bool all, bool may_wait) {
  AskCtx ctx{std::uint8_t(all ? ThreadMagazine::kFlushAll : ThreadMagazine::kFlushIdle), 0};
  front_for_each_magazine(ask, &ctx);
  front_tend_orphans(all, may_wait);
  return ctx.asked;
}

}  // namespace lfh::balance
