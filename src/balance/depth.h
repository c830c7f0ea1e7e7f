// balance/depth.h — look-aside depth tuning, after ExAdjustLookasideDepth (the balance set
// manager's once-a-second call in the seeds; WRK's ExpComputeLookasideDepth).
//
// Each per-CPU look-aside list counts its allocations (pops attempted; for the process heap, a
// thread magazine's refill from the list) and its misses (the list was empty). Once a tick the
// balance manager takes the counts since the previous tick, A and M, and sets the list's depth D
// (the most blocks it may keep) to:
//
//     idle:  A < 25 · P                 →  D' = Dmin, and every block on the list goes back to
//                                           its subsegment (cold blocks must not pin pages)
//     hits:  M · 1000 / A < 5  (< 0.5 %) →  D' = max(Dmin, D − 1)
//     misses otherwise                  →  D' = min(Dmax, D + min(30, R · (Dmax − D) / 2000 + 5)),
//                                           R = M · 1000 / A (misses per thousand)
//
// P is the tick period in seconds (LFH_BALANCE_MS / 1000), so "idle" means fewer than 25
// allocations a second, as in NT; Dmin = LFH_LOOKASIDE_DEPTH; Dmax = the list's cap,
// min(LFH_LOOKASIDE_MAX_DEPTH, 64 KB / block size). A list holding more than D' blocks gives
// the surplus back to the bucket. Between ticks the miss path may still double a list's depth on
// demand (lookaside.cpp, raise_depth_on_miss) so a burst does not wait a second for room; the
// tick is what brings depths (and the memory they hold) back down.
#pragma once
#include <cstdint>

namespace lfh {
class Heap;
}

namespace lfh::balance {

inline constexpr std::uint32_t kIdleAllocsPerSecond = 25;   // MINIMUM_ALLOCATION_THRESHOLD
inline constexpr std::uint32_t kLowMissPermille = 5;        // 0.5 %
inline constexpr std::uint32_t kMaxRaise = 30;

struct DepthInput {
  std::uint32_t allocs;     // A: allocations from the list since the last tick
  std::uint32_t misses;     // M: of which found the list empty
  std::uint32_t depth;      // D
  std::uint32_t min_depth;  // Dmin
  std::uint32_t max_depth;  // Dmax
  std::uint32_t period_ms;  // the tick period
};

// Fewer allocations than the idle threshold for a tick of `period_ms`.
bool list_idle(std::uint32_t allocs, std::uint32_t period_ms);
// The formula above; a pure function (unit-tested with synthetic counts).
std::uint32_t next_depth(const DepthInput &in);

struct DepthResult {
  std::uint64_t raised = 0, lowered = 0;   // lists whose depth went up / down
  std::uint64_t flushed_lists = 0;         // idle lists emptied
  std::uint64_t blocks_returned = 0;       // blocks given back to buckets
  std::uint64_t busy[2] = {0, 0};          // bit b: a list of bucket b was not idle this tick
  bool busy_known = false;                 // tune_lookaside ran over the heap's lists
  bool bucket_busy(unsigned b) const { return !busy_known || (busy[b / 64] >> (b % 64) & 1); }
};

// Tune every look-aside list of `h` (a serialized heap whose lists are enabled) and give surplus
// blocks back; subsegments this empties are retired and purged at once (their blocks sat unused
// for a whole tick). `flush_all`: give every list's blocks back whatever its counts (memory pressure).
// Buckets are only try-locked: a bucket that is busy (or held by lfh_heap_lock) keeps its blocks
// until the next tick. Counts are read with relaxed loads; the fast path is not slowed.
void tune_lookaside(Heap &h, std::uint32_t period_ms, bool flush_all, DepthResult *out);

}  // namespace lfh::balance
