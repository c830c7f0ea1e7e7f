// lookaside/lookaside.h — per-CPU look-aside lists: for each CPU, one LIFO list per bucket
// (ExInitializeNPagedLookasideList's idea, made per processor). The 128 lists of a CPU are
// contiguous, one cache line each, and each CPU's block starts on its own page, so two CPUs never
// share a line.
//
// malloc pops from the list of the CPU it runs on (one CAS); free pushes there unless the list is
// at its depth. Threads migrate, so any CPU's list may be touched by any thread: the lists are
// lock-free and a block freed on another CPU than it was allocated on simply joins that CPU's list.
//
// Depth: starts at LFH_LOOKASIDE_DEPTH and is raised on demand (a miss on a list that is being
// allocated from doubles its depth, up to LFH_LOOKASIDE_MAX_DEPTH and 64 KB of blocks). The
// counters below (allocs, misses, frees) are what the once-a-second tuning reads: the balance
// tick (balance/depth.h, ExAdjustLookasideDepth's rule) deepens lists that miss often and cuts
// idle ones back to the minimum, giving their blocks back to the subsegments.
#pragma once
#include <cstddef>
#include <cstdint>

#include "lfh/bucket_table.h"
#include "lookaside/aba_stack.h"

namespace lfh {

struct alignas(64) LookasideList {
  AbaStack stack;
  std::uint16_t depth;      // blocks kept at most (written by tuning; read relaxed)
  std::uint16_t max_depth;  // cap for this bucket (≤ 64 KB of blocks: 8192 at most, depth_cap)
  // When a thread's magazine last refilled from this list (os::coarse_ticks, relaxed): a list
  // refilled from within kListInUseTicks belongs, for now, to the thread running on its CPU, and
  // another CPU's refill does not take it (front.cpp, steal_from_other_cpus).
  std::uint32_t last_refill;
  // Event counters, per CPU. Plain relaxed load+store (not RMW): a rare lost update when two
  // threads on one CPU interleave is acceptable for tuning and statistics.
  std::uint64_t allocs;     // pops attempted
  std::uint64_t misses;     // pops that found the list empty
  std::uint64_t frees;      // pushes attempted
  std::uint64_t overflows;  // pushes that found the list full
  // The balance tick's snapshots of allocs/misses at its last visit (low 32 bits; only the tick
  // reads or writes them): the counts since the last tick are the differences (balance/depth.h).
  std::uint32_t seen_allocs;
  std::uint32_t seen_misses;
};
static_assert(sizeof(LookasideList) == 64);

// About a millisecond (os::coarse_ticks: 2^21 TSC cycles on x86-64, 2^19 ns elsewhere).
inline constexpr std::uint32_t kListInUseTicks = 32;

struct alignas(4096) LookasideCpu {
  LookasideList lists[lfh_buckets::kBuckets];
};

LFH_ALWAYS_INLINE void bump_counter(std::uint64_t &c) {
  __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
// The same for a counter only its owner thread writes (a thread magazine's): one increment of
// memory, not a load, an add and a store (a relaxed atomic load and store are never fused into
// one instruction). Unlocked: no other thread writes it; readers load it relaxed and, on x86-64
// where an aligned 8-byte access is atomic, see the old or the new value.
LFH_ALWAYS_INLINE void bump_owned_counter(std::uint64_t &c) {
#if defined(__x86_64__) && !LFH_TSAN   // (TSan must see the store: plain C++ there)
  asm("incq %0" : "+m"(c));
#else
  bump_counter(c);
#endif
}

// Depth policy. Called on a miss (raise) and from the balance tick (adjust to demand).
std::uint32_t depth_cap(unsigned bucket, std::uint32_t max_depth_option);
void raise_depth_on_miss(LookasideList &l);

// A per-CPU table of lists for one heap, memory from vm/.
class LookasideTable {
 public:
  constexpr LookasideTable() = default;
  bool init(std::uint32_t cpus, std::uint32_t initial_depth, std::uint32_t max_depth);
  void destroy();
  LFH_ALWAYS_INLINE LookasideList &list(std::uint32_t cpu, unsigned bucket) {
    return cpus_[cpu].lists[bucket];
  }
  std::uint32_t cpus() const { return ncpu_; }
  bool ready() const { return cpus_ != nullptr; }

 private:
  LookasideCpu *cpus_ = nullptr;
  std::uint32_t ncpu_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace lfh
