// core/core_heap.h — the core heap of one lfh heap: blocks above the LFH's 16 KB and up to the
// direct threshold (NT's core heap under its front end).
//
//   * arenas (core_arena.h): up to kMaxArenas, created on first use in a region of the heap's
//     own; a thread keeps to the arena it used last (at first the one of its CPU) while that is
//     free, else takes the neighbour when that one is free, else waits (lock_any);
//   * segments (core_segment.h): reserved in 64 KB granules, 1 MB growing geometrically to 64 MB
//     per arena, committed page by page as blocks are carved;
//   * blocks (core_block.h): boundary-tagged, merged with free neighbours in O(1), kept in
//     segregated free lists (free_lists.h);
//   * free ranges ≥ decommit_block are decommitted after the purge delay; the delay is checked
//     from alloc/free (at most every kPurgeCheckNs) and by purge() (Heap::trim), so no thread is
//     needed; empty segments are released after the same delay.
// Bad pointers are judged from the page map (is it in a segment?), the committed-page bitmap and
// the header seals, never by following the pointer: see free()/diagnose() in core_heap.cpp.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/core_arena.h"
#include "core/core_segment.h"
#include "os/mutex.h"

namespace lfh {
class DirectBlocks;
}

namespace lfh::core {

struct CoreConfig {
  std::size_t max_request = 8 * kMiB - 4096;   // largest request served here (LFH_DIRECT_THRESHOLD)
  std::size_t decommit_block = 64 * kKiB;      // LFH_DECOMMIT_FREE_BLOCK
  std::uint64_t purge_delay_ms = 1000;         // LFH_PURGE_DELAY_MS
  std::size_t total_free = 32 * kMiB;          // LFH_DECOMMIT_TOTAL_FREE
  unsigned live_shift = 3;                     // … or live bytes >> this when more (0: off)
  std::size_t min_split = 4096;                // smallest remainder worth splitting off
  unsigned arenas = 0;                         // LFH_CORE_ARENAS; 0: one per CPU, at most 16
};
// The configuration the options ask for (base/options.h).
CoreConfig config_from_options();

struct CoreStats {
  std::uint64_t arenas, segments, reserved, committed;
  std::uint64_t blocks, busy_bytes, free_bytes, free_blocks, pending_bytes;
  std::uint64_t allocs, frees, grows_in_place, shrinks_in_place;
  std::uint64_t decommitted, segments_made, segments_released;
};

// What block_info() finds at an address.
struct CoreBlockInfo {
  void *block;        // the block's header
  void *user;         // header + 16
  std::size_t size;   // block bytes, header included
  bool free;
  const Segment *segment;
  unsigned arena;
};

class CoreHeap {
 public:
  static constexpr unsigned kMaxArenas = 64;
  static constexpr std::size_t kMaxRequest = 32 * kMiB;              // whatever the threshold
  static constexpr std::uint64_t kPurgeCheckNs = 4'000'000;          // 4 ms between clock checks

  constexpr CoreHeap() = default;
  CoreHeap(const CoreHeap &) = delete;
  CoreHeap &operator=(const CoreHeap &) = delete;

  // Set up (or, while the heap holds no segment, reconfigure). `heap` is the owning lfh::Heap.
  void configure(void *heap, bool lock_pages, bool serialize, bool secure_free, const CoreConfig &cfg);
  const CoreConfig &config() const { return cfg_; }

  // Whether n bytes aligned to `align` belong here (else: a direct block).
  bool serves(std::size_t n, std::size_t align) const {
    if (n > cfg_.max_request) return false;
    return align <= kUnit || (align <= cfg_.max_request && n + align <= cfg_.max_request);
  }
  // `lock` false on the calls below: this thread already holds every arena lock (lock_arenas()).
  // A block (precondition: serves(n, align)); nullptr when memory cannot be had.
  void *alloc(std::size_t n, std::size_t align, bool zero, bool lock = true);
  // p was looked up to segment s. Bad pointers abort with "lfh: invalid free" / "double free" /
  // "heap corruption", judged without following p (see busy_block in core_heap.cpp).
  void free(Segment *s, void *p, bool lock = true);
  // Grow/shrink in place; false when the neighbour cannot give the room (p untouched).
  bool resize(Segment *s, void *p, std::size_t n, bool lock = true);
  // Usable size of p; aborts unless p is a live block of s (realloc's check before it copies).
  std::size_t checked_usable_size(Segment *s, void *p, bool lock = true);
  // Usable size of the live block p, 0 if p is not one (no lock, no abort).
  std::size_t usable_size(const Segment *s, const void *p) const;
  // p is the start of a live block (takes the lock; never faults).
  bool owns(Segment *s, const void *p, bool lock = true);

  // Decommit what waited past the delay (everything with `force`); release empty segments.
  std::size_t purge(bool force, bool lock = true);
  // Free every segment and arena (heap destroy). No concurrent use.
  void release_all();
  CoreStats stats(bool lock = true);
  // Check every segment's block chain, seals, neighbour sizes and free lists. No abort.
  bool validate(bool lock = true);
  // The block containing p (any state). False when p is not in this heap's segments.
  bool block_info(const void *p, CoreBlockInfo *out, bool lock = true);
  // f(user pointer, usable bytes, busy) for every block of every segment, under each arena lock.
  template <class F> void for_each_block(F &&f, bool lock = true);

  // HeapLock and fork: every lock of the core heap (the arena-creation lock, then each arena).
  void lock_all();
  void unlock_all();
  void reset_locks_after_fork();

  // The heap's direct blocks, whose cache of freed regions shares the free-committed budget and
  // is expired from the same clock checks.
  void attach_direct(DirectBlocks *d) { direct_ = d; }

  unsigned arena_count() const { return narenas_; }
  CoreArena *arena(unsigned i) { return arenas_[i].load(std::memory_order_acquire); }

  // Shared with the arenas.
  std::atomic<std::size_t> pending_total{0};    // committed inner bytes of pending blocks
  std::atomic<std::size_t> empty_segments{0};   // segments with no busy block
  std::atomic<std::size_t> busy_total{0};       // bytes of busy blocks, all arenas
  std::atomic<unsigned> arenas_live_{0};         // arenas created (each by a thread's first use)
  // Most pending bytes kept: LFH_DECOMMIT_TOTAL_FREE per arena in use, or 1/8 of the live core
  // bytes when that is more (a heap with 1 GB live churning 100 MB blocks would otherwise refault
  // on every reuse; 1/8 keeps RSS well inside 1.25 × live). Per arena: threads that allocate large
  // blocks at once work in arenas of their own, each with its own free ranges; one heap-wide
  // 32 MB made 4 threads of wl_large_realloc decommit and refault 200 k pages (jemalloc: 28 k).
  std::size_t free_budget() const {
    std::size_t prop = cfg_.live_shift ? busy_total.load(std::memory_order_relaxed) >> cfg_.live_shift : 0;
    const std::size_t arenas = arenas_live_.load(std::memory_order_relaxed);
    const std::size_t fixed = cfg_.total_free * (arenas ? arenas : 1);
    return prop > fixed ? prop : fixed;
  }
  bool lock_pages() const { return lock_pages_; }
  bool secure_free() const { return secure_free_; }
  void *heap() const { return heap_; }
  std::uint64_t delay_ns() const { return cfg_.purge_delay_ms * 1'000'000ull; }

 private:
  CoreArena *arena_at(unsigned i, bool lock);
  CoreArena *lock_any(bool lock);
  void lock_arena(CoreArena *a, bool lock = true) { if (serialize_ && lock) a->mutex().lock(); }
  void unlock_arena(CoreArena *a, bool lock = true) { if (serialize_ && lock) a->mutex().unlock(); }
  BlockHeader *busy_block(Segment *s, const void *p, bool realloc);
  void maybe_purge(std::uint64_t now, bool lock);

  CoreConfig cfg_{};
  void *heap_ = nullptr;
  bool lock_pages_ = false;
  bool serialize_ = true;
  bool secure_free_ = false;
  unsigned narenas_ = 1;
  os::Mutex init_lock_;
  std::atomic<std::uint64_t> last_purge_{0};
  DirectBlocks *direct_ = nullptr;
  char *arena_mem_ = nullptr;          // the arena objects (init_lock_)
  std::size_t arena_mem_bytes_ = 0;
  std::atomic<CoreArena *> arenas_[kMaxArenas] = {};
};

template <class F> void CoreHeap::for_each_block(F &&f, bool lock) {
  for (unsigned i = 0; i < narenas_; ++i) {
    CoreArena *a = arena(i);
    if (!a) continue;
    lock_arena(a, lock);
    for (Segment *s = a->segments(); s; s = s->next)
      for (BlockHeader *h = s->first_block(); !s->is_end(h) && h->units(); h = h->next())
        f(h->user(), h->bytes() - kHeaderSize, !h->is_free());
    unlock_arena(a, lock);
  }
}

// A segment of any heap released recently contains p (best effort: picks "double free" over
// "invalid free" in the message for a block freed twice after its segment went away).
bool recently_released_segment(const void *p);

}  // namespace lfh::core
