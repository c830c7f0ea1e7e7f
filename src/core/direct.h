// core/direct.h — direct blocks: a block with its own VM region (VirtualAllocThreshold's idea).
//
// The block starts at the region's base (so it is at least 64 KB-aligned, and larger alignments
// are served by reserving the region aligned) and its descriptor lives in lfh's metadata pool, not
// in the region: there is no header for a neighbour to overrun. The region reserves headroom past
// the request (25 %) so realloc can grow in place by committing more; shrinking decommits the tail.
// Pages are committed exactly as the block needs them and are demand-zero when fresh, so calloc of
// a new direct block does not clear them again. Growth past the headroom moves the pages to a
// bigger reservation with mremap (no copy). With large pages on, blocks of 2 MB and more are
// backed by explicit 2 MB pages (hugetlbfs: committed whole, no headroom) or, where the system
// reserved none, by transparent huge pages (a 2 MB-aligned region advised MADV_HUGEPAGE).
//
// Delayed release (the core heap's purge delay, applied to whole regions): a freed block's region
// is kept, committed, on a FIFO cache for LFH_PURGE_DELAY_MS, so a free followed by an
// allocation of about the same size reuses its pages instead of paying munmap + mmap + a page
// fault per page. Cached bytes count in the heap's free-but-committed total (CoreHeap::
// pending_total) and the oldest region is released at once while that total is over its budget;
// with a delay of 0 a free releases at once. A cached block keeps its descriptor and page-map
// entries, marked `cached`: freeing it again is a double free.
#pragma once
#include <cstddef>
#include <cstdint>

#include "os/mutex.h"
#include "vm/page_map.h"

namespace lfh {

namespace core { class CoreHeap; }

struct DirectBlock {
  vm::OwnerHeader hdr;    // kind == kDirectBlock
  void *heap;             // owning heap
  char *base;             // == the user pointer
  std::size_t reserved;   // bytes of address space
  std::size_t committed;  // bytes committed from base (page multiple) == usable size
  std::size_t requested;  // last size asked for
  bool huge;              // explicit huge pages (MAP_HUGETLB): reserved == committed, never split
  bool cached;            // freed, region kept for reuse (on the cache list, not the live list)
  std::uint64_t freed_ns; // when it was cached
  DirectBlock *prev, *next;   // live list, or the cache list while cached
};

struct DirectStats {
  std::uint64_t blocks, reserved, committed, allocs, frees;
  std::uint64_t cached_blocks, cached_bytes, cache_hits;
};

class DirectBlocks {
 public:
  constexpr DirectBlocks() = default;
  void configure(void *heap, bool lock_pages, bool serialize, bool large_pages = false) {
    heap_ = heap;
    lock_pages_ = lock_pages;
    serialize_ = serialize;
    large_pages_ = large_pages;
  }
  // Keep freed regions for reuse, accounted in (and bounded by) `owner`'s free-committed budget,
  // released after its purge delay. Not for fixed or huge-page-only use.
  void enable_cache(core::CoreHeap *owner);
  // A block of at least `size` bytes aligned to `align` (power of two). nullptr on failure.
  // `lock` false: the caller already holds mutex() (the heap is locked by this thread).
  // `reused` (optional): set when the block's pages come from the cache (not known zero).
  DirectBlock *alloc(std::size_t size, std::size_t align, bool lock = true, bool *reused = nullptr);
  void free(DirectBlock *d, bool lock = true);
  // Grow or shrink in place; false when the region cannot hold `size`.
  bool resize(DirectBlock *d, std::size_t size, bool lock = true);
  // Grow past the reservation by moving the pages to a new one (mremap, no copy). Returns the new
  // base (d updated), or nullptr with the block untouched.
  void *move(DirectBlock *d, std::size_t size, bool lock = true);
  // Release cached regions older than the delay (all with `force`). Returns bytes released.
  std::size_t purge(bool force, bool lock = true);
  // Release every block (heap destroy).
  void release_all();
  DirectStats stats();
  std::uint64_t committed_relaxed() const { return __atomic_load_n(&committed_, __ATOMIC_RELAXED); }
  template <class F> void for_each(F &&f) {
    for (DirectBlock *d = list_; d; d = d->next) f(d);
  }
  os::Mutex &mutex() { return lock_; }

 private:
  os::Mutex lock_;
  void *heap_ = nullptr;
  bool lock_pages_ = false;
  bool serialize_ = true;
  bool large_pages_ = false;
  DirectBlock *list_ = nullptr;
  std::uint64_t blocks_ = 0, reserved_ = 0, committed_ = 0, allocs_ = 0, frees_ = 0;
  // The cache (lock_).
  DirectBlock *take_cached(std::size_t want, std::size_t align);
  void cache(DirectBlock *d, std::uint64_t now);
  std::size_t expire(std::uint64_t now, bool force);
  void release_region(DirectBlock *d);
  core::CoreHeap *cache_owner_ = nullptr;
  DirectBlock *cache_head_ = nullptr, *cache_tail_ = nullptr;
  std::uint64_t cached_blocks_ = 0, cached_bytes_ = 0, cache_hits_ = 0, last_expire_ = 0;
};

// Addresses of recently released direct blocks: lets free() say "double free" rather than
// "invalid free" when a pointer is freed twice after its region is gone.
bool recently_released_direct(const void *p);

// The pool of direct-block descriptors (fork handlers lock it).
namespace vm { class MetaPool; }
vm::MetaPool &direct_descriptor_pool();

}  // namespace lfh
