// vm/span_arena.h — spans of whole 64 KB granules for one heap's LFH subsegments.
//
// The arena reserves regions (4 MB, doubling up to 64 MB, or one fixed range for a fixed-size
// heap) and carves spans from them bump-wise, committing 1 MB ahead of the carving (each span
// exactly as it is carved in a fixed-size or page-locked heap), so a region is committed on
// demand, front to back. A freed span is cached for reuse by any bucket; while
// the cache holds more than its budget, further freed spans are purged (their pages given back,
// their commit charge released) but stay mapped readable: look-aside readers may still load a
// stale first word from them (see lookaside/aba_stack.h), and that must never fault.
//
// LFH_LARGE_PAGES=1: regions after the first (the LFH tier outgrew 4 MB: it is hot) are reserved
// 2 MB-aligned and advised MADV_HUGEPAGE, so their pages fault in as transparent huge pages. A
// purge inside one splits the huge page (MADV_DONTNEED returns exactly the purged pages) and the
// 2 MB chunk is advised MADV_NOHUGEPAGE from then on (unhuge), so RSS keeps following use.
//
// Carving a fresh span while committed spans of other sizes sit in the cache purges as many bytes
// of them (a cached span of the right size would have been taken): the arena's resident total
// does not grow while it holds free spans nobody asks for.
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
  static constexpr std::size_t kCommitChunk = 1024 * 1024;   // commit-ahead step (not huge)

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
  // `purge_now`: give the pages back at once rather than caching them committed (the balance
  // tick retiring subsegments that stayed idle).
  void free(void *base, std::size_t granules, bool purge_now = false);
  // Purge every cached free span (trim). Returns bytes purged.
  std::size_t trim();
  // The balance tick: purge the cached committed spans that were already cached at the previous
  // call (so they stayed free for a whole tick) and mark the others. The purges run outside the
  // lock (span carving waits on it under a bucket lock). Returns bytes purged.
  std::size_t trim_aged();
  // Unmap every region (heap destroy). The arena is empty afterwards.
  void release_all();
  // Pages of [p, p+n) in a huge-page region were just purged (their huge page split): advise the
  // 2 MB chunks around them MADV_NOHUGEPAGE so khugepaged does not collapse them back full of
  // zeros. Nothing for other regions. (Every purge of the arena calls it; so does the balance
  // tick's tail trim.)
  void unhuge(const void *p, std::size_t n);

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
  struct Region { Region *next; char *base; std::size_t size; char *carved_end; bool huge; };
  struct FreeSpan { FreeSpan *next; char *base; bool committed; bool aged; };

  bool grow(std::size_t need);
  // Purge committed cached spans (largest first) until `want` bytes went (lock held).
  void shed_committed(std::size_t want);
  void purge_span(char *base, std::size_t bytes);   // purge + unhuge
  bool commit_span(char *base, std::size_t bytes);
  // Carving commits ahead in chunks: not for locked pages (mlock follows each span exactly) nor
  // for a fixed-size heap (its budget is charged span by span).
  bool commit_ahead() const { return !lock_pages_ && fixed_size_ == 0; }

  os::Mutex lock_;
  Region *regions_ = nullptr;
  char *bump_ = nullptr;
  char *bump_end_ = nullptr;
  char *chunk_end_ = nullptr;   // committed up to here (chunks of 2 MB huge, kCommitChunk else)
  std::size_t ahead_ = 0;       // … bytes of that beyond bump_ (charged, not yet carved)
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
