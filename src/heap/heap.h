// heap/heap.h — a heap: routes each request to its tier and owns everything the request touches.
//
//   size ≤ 16 KB        → LFH: this CPU's look-aside list for the bucket, else a batch from the
//                          bucket (lfh/bucket.h), else a new subsegment from the span arena;
//   up to the direct    → the core heap (core/core_heap.h): boundary-tagged blocks in segments
//   threshold              committed on demand, per-CPU arenas, delayed decommit;
//   larger              → a direct block (core/direct.h) with its own VM region.
//
// The process heap is one Heap; private heaps (lfh_heap_create) are more of them. free() finds the
// owning heap through the page map, so a block may be freed with plain free() whatever heap made
// it. Heaps are serialized by default (per-bucket locks, lock-free look-aside lists); a
// no-serialize heap skips locks and look-aside lists entirely (single-threaded users).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/core_heap.h"
#include "core/direct.h"
#include "lfh/bucket.h"
#include "lfh/bucket_table.h"
#include "lfh/free_link.h"
#include "lookaside/lookaside.h"
#include "os/cpu.h"
#include "os/mutex.h"
#include "vm/span_arena.h"

namespace lfh {

// Is p an LFH block that is already free (in a magazine, on a look-aside list or on its
// subsegment's free list)? See lfh/free_link.h for why this test is sound. The first word of a
// free block decodes to null or to an 8-aligned user-space address; anything else (what a live
// block holds with overwhelming probability) is decided inline, the rest out of line.
bool lfh_link_target_is_block(const Subsegment *s, std::uintptr_t d);
LFH_ALWAYS_INLINE bool lfh_block_is_free(const Subsegment *s, const void *p) {
  std::uintptr_t d = decoded_first_word(p);
  if (LFH_LIKELY((d & 7) != 0 || d >= os::kAddressLimit)) return false;
  return d == 0 || lfh_link_target_is_block(s, d);
}

// Heap flags; the values are the public LFH_HEAP_* constants of include/lfh/lfh.h.
enum HeapFlag : unsigned {
  kHeapNoSerialize = 0x1,
  kHeapZeroMemory = 0x8,
  kHeapReallocInPlaceOnly = 0x10,
  kHeapLocked = 0x100,
  kHeapSecureFree = 0x200,
};

struct HeapStats {
  std::uint64_t lfh_allocs, lfh_frees, lookaside_misses, lookaside_overflows;
  std::uint64_t lfh_blocks_out, lfh_subsegments, lfh_bytes_out;
  std::uint64_t direct_blocks, direct_committed, direct_reserved, direct_allocs, direct_frees;
  std::uint64_t arena_reserved, arena_carved, arena_cached_committed, arena_cached_purged;
  std::uint64_t core_segments, core_reserved, core_committed, core_blocks, core_busy_bytes;
  std::uint64_t core_free_bytes, core_pending_bytes, core_allocs, core_frees, core_decommitted;
  std::uint64_t direct_cached_bytes, direct_cache_hits;
};

class Heap {
 public:
  constexpr Heap() = default;
  Heap(const Heap &) = delete;
  Heap &operator=(const Heap &) = delete;

  // `maximum` > 0: a fixed-size heap: its span range is reserved up front and everything it hands
  // out (small and large blocks) stays within `maximum` bytes; it never grows past it.
  bool init(unsigned flags, std::size_t initial, std::size_t maximum, std::uint32_t depth,
            std::uint32_t max_depth, bool lookaside);
  // Release every region (destroy). The heap must not be used concurrently.
  void release_all();

  // Allocation. Return nullptr when memory cannot be had; errno is the caller's business.
  LFH_ALWAYS_INLINE void *alloc(std::size_t n) {
    if (LFH_LIKELY(n <= lfh_buckets::kMaxSize)) return lfh_alloc(lfh_buckets::bucket_for_request(n));
    return large_alloc(n, 0, nullptr);
  }
  void *alloc_zeroed(std::size_t n);
  // `align` is a power of two.
  void *alloc_aligned(std::size_t align, std::size_t n);
  // p non-null and owned by this heap (checked by caller through owner_of), n > 0.
  void *realloc(void *p, std::size_t n, bool in_place_only = false);

  // free() of an LFH block of this heap = lfh_check_free (fatal on invalid/double free) +
  // lfh_free_checked (push on this CPU's look-aside list, or back to the bucket).
  void lfh_free(Subsegment *s, void *p) {
    lfh_check_free(s, p);
    lfh_free_checked(s, p);
  }
  LFH_ALWAYS_INLINE void lfh_check_free(Subsegment *s, void *p) {
    lfh_check_bounds(s, p);
    if (LFH_UNLIKELY(lfh_block_is_free(s, p))) double_lfh_free(p);
  }
  [[noreturn]] static void invalid_lfh_free(void *p);
  [[noreturn]] static void double_lfh_free(void *p);
  // The first half of lfh_check_free: p is a block start of s that was handed out at least once.
  LFH_ALWAYS_INLINE static void lfh_check_bounds(const Subsegment *s, void *p) {
    // off < carved: p lies among the blocks handed out at least once (an address below `first`
    // wraps huge and fails too); then off is below 2^32, where divisible_by_block is exact.
    const std::uintptr_t off = addr(p) - addr(s->first);
    if (LFH_UNLIKELY(off >= s->carved.load(std::memory_order_acquire) ||
                     !lfh_buckets::divisible_by_block(std::uint32_t(off), s->divisor)))
      invalid_lfh_free(p);
  }
  void lfh_free_checked(Subsegment *s, void *p);
  // One block of bucket b, bypassing any thread magazine (the front end's slow path).
  void *alloc_bucket(unsigned b) { return lfh_alloc(b); }
  bool lookaside_enabled() const { return __atomic_load_n(&use_lookaside_, __ATOMIC_RELAXED); }
  void direct_free(DirectBlock *d);
  void core_free(core::Segment *s, void *p) { core_.free(s, p, !held_by_me()); }

  void lfh_flush_lookaside();    // return every look-aside block to its bucket
  std::size_t trim();            // flush, retire empty subsegments, purge cached spans

  // --- private-heap operations (heap_ops.cpp, heap_walk.cpp) ----------------------------------
  static constexpr std::uint32_t kMagic = 0x4c464848;   // "LFHH": lfh_heap_t handles are checked
  bool valid_handle() const { return magic_ == kMagic; }
  void invalidate_handle() { magic_ = 0; }

  // HeapLock: take every lock of the heap (recursive for the owning thread) and route the heap's
  // operations through the bucket locks (look-aside lists off) so other threads wait.
  void lock_heap();
  void unlock_heap();
  bool held_by_me() const;
  // Some thread holds the heap (lfh_heap_lock) now (a hint: it may change right after).
  bool held() const { return __atomic_load_n(&lock_owner_, __ATOMIC_RELAXED) != 0; }

  struct WalkEntry {
    void *address;
    std::size_t size;
    bool in_use;
    int tier;   // 0 LFH, 1 core, 2 direct
  };
  using WalkFn = int (*)(const WalkEntry &, void *arg);
  // Visit every block (in use and free) under the heap lock; stops early when fn returns 0.
  bool walk(WalkFn fn, void *arg);
  // Check every invariant; on the first problem print one `lfh:` line and return false.
  bool validate();
  // Is p a live block of this heap? (parameter validation)
  bool validate_block(const void *p);
  // Zero every committed byte (SECURE_FREE destroy).
  void zero_all();
  // Fixed heaps: may `bytes` more be committed for large blocks?
  bool fixed_room_for(std::size_t bytes);
  std::size_t maximum() const { return maximum_; }

  unsigned flags() const { return flags_; }
  bool serialized() const { return serialize_; }
  void stats(HeapStats *out);

  Bucket &bucket(unsigned i) { return buckets_[i]; }
  DirectBlocks &direct() { return direct_; }
  core::CoreHeap &core() { return core_; }
  vm::SpanArena &arena() { return arena_; }
  LookasideTable &lookaside() { return lookaside_; }

  // Fork protection: take every lock of the heap / release / reset in the child.
  void lock_all();
  void unlock_all();
  void reset_locks_after_fork();

  // Registry of live heaps (process heap first).
  Heap *next_heap = nullptr;
  Heap *prev_heap = nullptr;

 private:
  LFH_ALWAYS_INLINE void *lfh_alloc(unsigned b) {
    if (LFH_LIKELY(__atomic_load_n(&use_lookaside_, __ATOMIC_RELAXED))) {
      LookasideList &l = lookaside_.list(os::current_cpu_fast(), b);
      bump_counter(l.allocs);
      if (void *p = l.stack.pop()) {
        clear_link(p);
        return p;
      }
      return lfh_refill(l, b);
    }
    return lfh_alloc_unbuffered(b);
  }
  void *lfh_refill(LookasideList &l, unsigned b);
  void *lfh_alloc_unbuffered(unsigned b);
  void lfh_overflow(LookasideList &l, unsigned b, void *p);
  void *large_alloc(std::size_t n, std::size_t align, bool *zeroed);
  void *large_alloc_once(std::size_t n, std::size_t align, bool *zeroed);

  std::uint32_t magic_ = kMagic;
  unsigned flags_ = 0;
  bool serialize_ = true;
  bool use_lookaside_ = false;      // read on every fast-path call; off while the heap is locked
  bool lookaside_configured_ = false;
  std::size_t maximum_ = 0;
  os::Mutex heap_lock_;             // lfh_heap_lock: taken before all other locks of the heap
  std::uintptr_t lock_owner_ = 0;   // thread holding heap_lock_ (0: none)
  std::uint32_t lock_depth_ = 0;
  vm::SpanArena arena_;
  LookasideTable lookaside_;
  DirectBlocks direct_;
  core::CoreHeap core_;
  Bucket buckets_[lfh_buckets::kBuckets];
};


}  // namespace lfh
