// core/core_arena.h — one core-heap arena: its segments, its segregated free lists and its queue
// of free ranges waiting to be decommitted. A heap has several (core_heap.h), picked by CPU, so
// threads on different CPUs allocating large blocks do not share a lock (the seeds' several paged
// pools "to reduce blocking"). A block is always freed back to the arena of its segment.
//
// Decommit policy (the pending queue):
//   * a free block of at least `decommit_block` bytes whose inner pages (core_block.h) are still
//     committed joins the tail of the pending queue with the time it was freed; its committed
//     inner bytes count in the heap's pending total;
//   * a pending block older than the purge delay has its inner pages decommitted (purge());
//   * while the heap's pending total is above its budget (CoreHeap::free_budget(): `total_free`
//     or 1/8 of the live core bytes, the larger), the oldest pending blocks are decommitted at
//     once, whatever their age;
//   * reusing a pending block takes it off the queue: its pages are still there (no syscall);
//   * a segment whose blocks are all free is released after the same delay;
//   * with a delay of 0 all of this happens at once, inside free().
// Every method below except init() runs with the arena's lock held (or on a no-serialize heap).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/core_segment.h"
#include "core/free_lists.h"
#include "os/mutex.h"

namespace lfh::core {

class CoreHeap;
struct CoreStats;

class CoreArena {
 public:
  constexpr CoreArena() = default;
  void init(CoreHeap *owner, unsigned index) {
    owner_ = owner;
    index_ = index;
  }

  // A busy block for n bytes whose user pointer is aligned to `align` (≥ 16, power of two).
  // `zero`: the first n bytes read as zero. `now`: a lazily read clock (0 until needed).
  void *alloc(std::size_t n, std::size_t align, bool zero, std::uint64_t &now);
  // Free busy block h of segment s (validated by the caller): merge with free neighbours.
  void free(Segment *s, BlockHeader *h, std::uint64_t &now);
  // Resize busy block h in place to hold n bytes; false (nothing changed) when it cannot.
  bool resize(Segment *s, BlockHeader *h, std::size_t n, std::uint64_t &now);
  // Decommit pending ranges older than the delay (all with `force`), release empty segments.
  // Returns the bytes given back.
  std::size_t purge(std::uint64_t now, bool force);
  // Decommit the oldest pending ranges while the heap's pending total is over its budget.
  void enforce_budget();
  // Release every segment (heap destroy / tests).
  void release_all();
  void add_stats(CoreStats *st) const;

  os::Mutex &mutex() { return lock_; }
  unsigned index() const { return index_; }
  Segment *segments() const { return segments_; }
  const FreeLists &free_lists() const { return lists_; }
  FreeBlock *pending_head() const { return pend_head_; }

 private:
  FreeBlock *grow(std::size_t need, Segment **out);
  void take(FreeBlock *f);
  void put_free(Segment *s, char *b, std::size_t units, std::size_t prev_units, std::uint64_t &now);
  void pending_add(FreeBlock *f, std::size_t bytes, std::uint64_t &now);
  void pending_remove(FreeBlock *f);
  std::size_t decommit_pending(FreeBlock *f);
  void release_segment(Segment *s);
  BlockHeader *checked_next(Segment *s, BlockHeader *h);

  os::Mutex lock_;
  CoreHeap *owner_ = nullptr;
  unsigned index_ = 0;
  FreeLists lists_;
  FreeBlock *pend_head_ = nullptr, *pend_tail_ = nullptr;
  Segment *segments_ = nullptr;
  std::size_t segment_count_ = 0;
  std::size_t reserved_ = 0;
  std::size_t busy_bytes_ = 0;
  std::size_t busy_blocks_ = 0;
  std::uint64_t allocs_ = 0, frees_ = 0, grows_ = 0, shrinks_ = 0;
  std::uint64_t decommitted_ = 0, segments_released_ = 0, segments_made_ = 0;
};

}  // namespace lfh::core
