// core/direct.h — direct blocks: a block with its own VM region (VirtualAllocThreshold's idea).
//
// The block starts at the region's base (so it is at least 64 KB-aligned, and larger alignments
// are served by reserving the region aligned) and its descriptor lives in lfh's metadata pool, not
// in the region: there is no header for a neighbour to overrun. The region reserves headroom past
// the request (25 %) so realloc can grow in place by committing more; shrinking decommits the tail.
// Pages are committed exactly as the block needs them and are demand-zero when fresh, so calloc of
// a new direct block does not clear them again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "os/mutex.h"
#include "vm/page_map.h"

namespace lfh {

struct DirectBlock {
  vm::OwnerHeader hdr;    // kind == kDirectBlock
  void *heap;             // owning heap
  char *base;             // == the user pointer
  std::size_t reserved;   // bytes of address space
  std::size_t committed;  // bytes committed from base (page multiple) == usable size
  std::size_t requested;  // last size asked for
  DirectBlock *prev, *next;
};

struct DirectStats {
  std::uint64_t blocks, reserved, committed, allocs, frees;
};

class DirectBlocks {
 public:
  constexpr DirectBlocks() = default;
  void configure(void *heap, bool lock_pages, bool serialize) {
    heap_ = heap;
    lock_pages_ = lock_pages;
    serialize_ = serialize;
  }
  // A block of at least `size` bytes aligned to `align` (power of two). nullptr on failure.
  // `lock` false: the caller already holds mutex() (the heap is locked by this thread).
  DirectBlock *alloc(std::size_t size, std::size_t align, bool lock = true);
  void free(DirectBlock *d, bool lock = true);
  // Grow or shrink in place; false when the region cannot hold `size`.
  bool resize(DirectBlock *d, std::size_t size, bool lock = true);
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
  DirectBlock *list_ = nullptr;
  std::uint64_t blocks_ = 0, reserved_ = 0, committed_ = 0, allocs_ = 0, frees_ = 0;
};

// Addresses of recently released direct blocks: lets free() say "double free" rather than
// "invalid free" when a pointer is freed twice after its region is gone.
bool recently_released_direct(const void *p);

// The pool of direct-block descriptors (fork handlers lock it).
namespace vm { class MetaPool; }
vm::MetaPool &direct_descriptor_pool();

}  // namespace lfh
