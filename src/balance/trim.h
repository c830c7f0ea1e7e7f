// balance/trim.h — giving memory back, tier by tier (the working set manager's part of the tick).
//
// What one tick does to a heap (a serialized one: a no-serialize heap belongs to one thread and is
// never touched from another), in this order, so that what one step frees the next can return:
//   1. look-aside lists (depth.h): idle lists give their blocks back to their subsegments;
//   2. buckets: the one empty subsegment a bucket keeps is retired once it stayed empty for a
//      whole tick (Bucket::retire_idle_locked; at once when the bucket's lists were idle), its
//      span purged; and in an idle bucket each subsegment whose last blocks are all free gives
//      their pages back: its bump index moves back to just past the last block in use
//      (trim_subsegment_tail), so a subsegment pinned by a few old blocks near its start keeps
//      only their pages;
//   3. span arena: cached spans that stayed free for a whole tick are purged (their pages given
//      back, kept readable: vm/span_arena.h);
//   4. core heap: free ranges pending for LFH_PURGE_DELAY_MS are decommitted and empty segments
//      released (CoreArena::purge, which until now only the heap's own alloc/free paths drove);
//   5. direct blocks: cached regions older than the delay are released.
// Every lock is only tried: a tier that is busy, or a heap held with lfh_heap_lock, is skipped
// until the next tick, so the tick never waits on a lock the program holds and never holds one
// the fast path needs (the fast path takes none; refills take a bucket lock for a few µs).
// `force` (memory pressure): every list, every empty subsegment, every cached span, every
// pending range and cached region goes at once.
//
// Thread magazines (lookaside/magazine.h) belong to their threads: their slots are never touched
// from here. Once a tick every thread is asked (a flag) to give back, on its next slow path, the
// blocks of the buckets it did not use since the previous request; a thread that left the request
// unanswered for a tick has its stash drained by the tick itself (front_drain_stash). A thread
// that sleeps meanwhile keeps at most, per bucket, its free stack (8 KB worth: at most 255 blocks,
// at least 2, magazine_cap_of) and what is left of its last batch (at most one look-aside list's
// depth or one subsegment's free list) — though each such block keeps its subsegment's pages.
#pragma once
#include <cstdint>

#include "balance/depth.h"

namespace lfh {
class Heap;
struct Subsegment;
}

namespace lfh::balance {

struct TrimResult {
  DepthResult depth;
  std::uint64_t subsegments_retired = 0;
  std::uint64_t tail_bytes = 0;          // pages given back past subsegments' last used block
  std::uint64_t bytes = 0;               // purged / decommitted / released by steps 3-5
  std::uint64_t threads_flagged = 0;     // magazines asked to give back idle buckets
};

// Subsegments looked at per idle bucket and tick by the tail trim (bounds the lock hold).
inline constexpr unsigned kTailScan = 1024;
// Most blocks a span holds (8-byte blocks in one granule).
inline constexpr std::uint32_t kMaxBlocksPerSpan = 8192;

// Caller holds s's bucket lock. When every block from some index k up to the bump index is free
// (on the subsegment's free list), take those blocks off the free list, move bump back to k (they
// become never-used blocks again: a free() of one is then an invalid free, still caught) and
// purge the whole pages past block k (keeping the commit charge). Returns bytes purged.
std::size_t trim_subsegment_tail(Subsegment *s);

// One tick's worth of work on heap h (see above). `tune`: run the depth formula (otherwise lists
// are only flushed when `force`).
void tick_heap(Heap &h, std::uint32_t period_ms, bool tune, bool force, TrimResult *out);

// Ask every thread to give back its magazine's idle buckets (above), or everything (`all`:
// memory pressure, malloc_trim). An orphaned magazine (a thread's that exited, heap/front.h) goes
// to the buckets after a whole tick unadopted, or at once with `all`; `may_wait` false (the tick):
// a busy bucket's part of it waits for the next tick. Returns threads asked.
std::uint64_t ask_magazines(bool all, bool may_wait = true);

}  // namespace lfh::balance
