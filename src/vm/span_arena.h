// vm/span_arena.h — spans of whole 64 KB granules for one heap's LFH subsegments.
//
// The arena reserves regions (4 MB, doubling up to 64 MB, or one fixed range for a fixed-size
// heap) and carves spans from them bump-wise, committing each span as it is carved (so a region
// is committed on demand, front to back). A freed span is cached for reuse by any bucket; while
// the cache holds more than its budget, further freed spans are purged (their pages given back,
// their commit charge released) but stay mapped readable: look-aside readers may still load a
// stale first word from them (see lookaside/aba_stack.h), and that must never fault.
//
// Invariant: span memory is never made inaccessible while the heap lives; only release_all()
// (heap destroy) unmaps it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "os/mutex.h"
#include "vm/meta_pool.h"

namespace lfh::vm {

struct Span {
  void *base;
  bool zeroed;   // every byte is known zero (fresh from the kernel or purged)
};

class SpanArena {
 public:
  static constexpr std::size_t kMaxGranules = 16;   // spans up to 1 MB

  constexpr SpanArena() = default;
  // `lock_pages`: mlock committed spans (non-paged heaps). `fixed_size` > 0: reserve exactly that
  // much once and never grow. `cache_budget`: committed free bytes kept before purging.
  void configure(bool lock_pages, std::size_t fixed_size, std::size_t cache_budget);

  Span alloc(std::size_t granules);              // {nullptr,false} on failure
  // Reserve the (fixed) range now rather than at the first carve.
  bool reserve_now();
  // Called before committing freshly carved or recharged bytes: false refuses (fixed-size heaps
  // share one budget between their spans and their large blocks).
  using BudgetFn = bool (*)(void *ctx, std::size_t bytes);
  void set_budget_check(BudgetFn fn, void *ctx) {
    budget_fn_ = fn;
    budget_ctx_ = ctx;
  }
  // Zero every carved span that still holds pages (secure destroy).
  void zero_carved();
  void free(void *base, std::size_t granules);
  // Purge every cached free span (trim). Returns bytes purged.
  std::size_t trim();
  // Unmap every region (heap destroy). The arena is empty afterwards.
  void release_all();

  struct Info { std::size_t reserved, carved, cached_committed, cached_purged; };
  Info info();
  // Bytes carved and holding (charged) pages, read without the lock (for budget checks).
  std::size_t used_relaxed() const {
    return __atomic_load_n(&carved_, __ATOMIC_RELAXED) - __atomic_load_n(&cached_purged_, __ATOMIC_RELAXED);
  }

  // Visit each region [base, base+size).
  template <class F> void for_each_region(F &&f) {
    for (Region *r = regions_; r; r = r->next) f(r->base, r->size);
  }

  void lock() { lock_.lock(); }
  void unlock() { lock_.unlock(); }
  void reset_after_fork() { lock_.reset_after_fork(); }

 private:
  struct Region { Region *next; char *base; std::size_t size; char *carved_end; };
  struct FreeSpan { FreeSpan *next; char *base; bool committed; };

  bool grow(std::size_t need);
  bool commit_span(char *base, std::size_t bytes);

  os::Mutex lock_;
  Region *regions_ = nullptr;
  char *bump_ = nullptr;
  char *bump_end_ = nullptr;
  std::size_t next_region_ = 4 * 1024 * 1024;
  std::size_t reserved_ = 0;
  std::size_t carved_ = 0;
  std::size_t cached_committed_ = 0;   // bytes
  std::size_t cached_purged_ = 0;
  std::size_t cache_budget_ = 4 * 1024 * 1024;
  std::size_t fixed_size_ = 0;
  bool lock_pages_ = false;
  bool fixed_reserved_ = false;
  FreeSpan *free_[kMaxGranules + 1] = {};
  BudgetFn budget_fn_ = nullptr;
  void *budget_ctx_ = nullptr;
};

// Pool for the arena's small records (shared by all arenas).
MetaPool &arena_record_pool();

}  // namespace lfh::vm
