#include "vm/span_arena.h"

#include "base/bits.h"
#include "base/options.h"
#include "vm/vm.h"

namespace lfh::vm {

namespace {
constexpr std::size_t kRecordSize = 48;
constinit MetaPool g_records(kRecordSize);
}  // namespace

MetaPool &arena_record_pool() { return g_records; }

void SpanArena::configure(bool lock_pages, std::size_t fixed_size, std::size_t cache_budget) {
  lock_pages_ = lock_pages;
  fixed_size_ = fixed_size ? align_up(fixed_size, kGranularity) : 0;
  cache_budget_ = cache_budget;
}

bool SpanArena::grow(std::size_t need) {
  std::size_t size;
  if (fixed_size_) {
    if (fixed_reserved_) return false;   // a fixed heap never grows past its range
    size = fixed_size_;
  } else {
    size = next_region_;
    while (size < need) size *= 2;
    if (next_region_ < 64 * 1024 * 1024) next_region_ *= 2;
  }
  auto *rec = static_cast<Region *>(g_records.alloc());
  if (!rec) return false;
  // LFH_LARGE_PAGES: once the LFH tier outgrows its first region it is hot; its next regions are
  // 2 MB-aligned and advised for transparent huge pages (pages fault in as 2 MB pages).
  const bool huge = !fixed_size_ && !lock_pages_ && regions_ != nullptr && option_bool(Opt::large_pages);
  char *base = static_cast<char *>(reserve(size, huge ? os::kHugePageSize : kGranularity));
  if (!base) {
    g_records.free(rec);
    return false;
  }
  rec->huge = huge && os::advise_huge(base, size, true);
  fixed_reserved_ = fixed_size_ != 0;
  rec->base = base;
  rec->size = size;
  rec->carved_end = base;
  rec->next = regions_;
  regions_ = rec;
  reserved_ += size;
  // The unused tail of the previous region is abandoned to bump allocation (at most one span
  // short of a region); it stays reserved and uncommitted (what a huge-page region committed
  // ahead of its bump pointer is decommitted).
  if (chunk_end_ > bump_) {
    decommit(bump_, std::size_t(chunk_end_ - bump_));
    ahead_ -= std::size_t(chunk_end_ - bump_);
  }
  chunk_end_ = base;
  bump_ = base;
  bump_end_ = base + size;
  return true;
}

bool SpanArena::commit_span(char *base, std::size_t bytes) {
  if (!commit(base, bytes)) return false;
  if (lock_pages_ && !os::lock_pages(base, bytes)) {
    decommit(base, bytes);
    return false;
  }
  return true;
}

Span SpanArena::alloc(std::size_t granules) {
  if (granules == 0 || granules > kMaxGranules) return {nullptr, false};
  std::size_t bytes = granules * kGranularity;
  os::LockGuard g(lock_);
  if (FreeSpan *f = free_[granules]) {
    if (!f->committed) {
      // Purged: pages are gone and read zero; charge them again (no system call needed unless
      // the heap locks its pages).
      if (budget_fn_ && !budget_fn_(budget_ctx_, bytes)) return {nullptr, false};
      if (!charge(bytes)) return {nullptr, false};
      if (lock_pages_ && !os::lock_pages(f->base, bytes)) {
        uncharge(bytes);
        return {nullptr, false};
      }
      cached_purged_ -= bytes;
    } else {
      cached_committed_ -= bytes;
    }
    free_[granules] = f->next;
    Span s{f->base, !f->committed};
    g_records.free(f);
    return s;
  }
  if (bump_ == nullptr || std::size_t(bump_end_ - bump_) < bytes) {
    if (!grow(bytes)) return {nullptr, false};
  }
  char *base = bump_;
  if (budget_fn_ && !budget_fn_(budget_ctx_, bytes)) return {nullptr, false};
  if (regions_->huge || commit_ahead()) {
    // Commit whole chunks ahead of the bump pointer: 2 MB in a huge-page region (one RW mapping
    // per chunk, so its first touch faults in one huge page), 1 MB otherwise (one mprotect per
    // 16 spans of 64 KB rather than one each: the call takes the process's mapping lock for
    // writing, which stalls every other thread's page faults, and this runs under a bucket
    // lock). Untouched committed pages cost no RSS; the charge for what is committed ahead moves
    // to the spans as they are carved.
    const std::size_t chunk = regions_->huge ? os::kHugePageSize : kCommitChunk;
    while (chunk_end_ < base + bytes) {
      std::size_t n = chunk < std::size_t(bump_end_ - chunk_end_) ? chunk : std::size_t(bump_end_ - chunk_end_);
      if (!commit(chunk_end_, n)) {
        // Refused (near LFH_COMMIT_LIMIT, or by the kernel): commit just what the span lacks.
        const std::size_t need = std::size_t(base + bytes - chunk_end_);
        if (n <= need || !commit(chunk_end_, need)) return {nullptr, false};
        n = need;
      }
      chunk_end_ += n;
      ahead_ += n;
    }
    ahead_ -= bytes;
  } else if (!commit_span(base, bytes)) {
    return {nullptr, false};
  }
  // Fresh pages come in for this span while the cache holds committed spans of other sizes that
  // could not serve it: give as many of those back, so the resident total follows what is used
  // (a program moving from small to large blocks does not keep both).
  if (cached_committed_ && option_u64(Opt::balance_ms) != 0) shed_committed(bytes);   // (balance manager)
  bump_ += bytes;
  regions_->carved_end = bump_;   // bump_ always points into the newest region
  carved_ += bytes;
  return {base, true};
}

void SpanArena::free(void *base, std::size_t granules, bool purge_now) {
  std::size_t bytes = granules * kGranularity;
  auto *f = static_cast<FreeSpan *>(g_records.alloc());
  os::LockGuard g(lock_);
  if (!f) {
    // No record memory: purge and leak the span's address space (still reserved, uncharged).
    purge_span(static_cast<char *>(base), bytes);
    return;
  }
  f->base = static_cast<char *>(base);
  f->aged = false;
  f->committed = !purge_now && cached_committed_ + bytes <= cache_budget_;
  if (f->committed) {
    cached_committed_ += bytes;
  } else {
    if (lock_pages_) os::unlock_pages(base, bytes);
    purge_span(static_cast<char *>(base), bytes);
    cached_purged_ += bytes;
  }
  f->next = free_[granules];
  free_[granules] = f;
}

std::size_t SpanArena::trim() {
  os::LockGuard g(lock_);
  std::size_t purged = 0;
  for (std::size_t n = 1; n <= kMaxGranules; ++n) {
    for (FreeSpan *f = free_[n]; f; f = f->next) {
      if (!f->committed) continue;
      std::size_t bytes = n * kGranularity;
      if (lock_pages_) os::unlock_pages(f->base, bytes);
      purge_span(f->base, bytes);
      f->committed = false;
      cached_committed_ -= bytes;
      cached_purged_ += bytes;
      purged += bytes;
    }
  }
  return purged;
}

void SpanArena::unhuge(const void *p, std::size_t n) {
  // Regions are only ever prepended (under the lock) and never removed while the heap lives: a
  // walk without the lock sees a consistent list.
  for (Region *r = __atomic_load_n(&regions_, __ATOMIC_ACQUIRE); r; r = r->next) {
    if (!r->huge || addr(p) < addr(r->base) || addr(p) >= addr(r->base) + r->size) continue;
    // The 2 MB chunks the range touches: their huge pages were split by the purge; keep
    // khugepaged from collapsing them back (it would fill the purged pages with zeros).
    const std::uintptr_t lo = align_down(addr(p), os::kHugePageSize);
    const std::uintptr_t hi = align_up(addr(p) + n, os::kHugePageSize);
    os::advise_huge(ptr(lo), hi - lo, false);
    return;
  }
}

void SpanArena::purge_span(char *base, std::size_t bytes) {
  purge(base, bytes);
  unhuge(base, bytes);
}

void SpanArena::shed_committed(std::size_t want) {
  std::size_t shed = 0;
  for (std::size_t n = kMaxGranules; n >= 1 && shed < want; --n) {
    for (FreeSpan *f = free_[n]; f && shed < want; f = f->next) {
      if (!f->committed) continue;
      const std::size_t bytes = n * kGranularity;
      // Counters first: used_relaxed() must not exceed the charge while the purge uncharges.
      f->committed = false;
      cached_committed_ -= bytes;
      __atomic_store_n(&cached_purged_, cached_purged_ + bytes, __ATOMIC_RELAXED);
      if (lock_pages_) os::unlock_pages(f->base, bytes);
      purge_span(f->base, bytes);
      shed += bytes;
    }
  }
}

std::size_t SpanArena::trim_aged() {
  // Detach the aged committed spans under the lock; alloc() cannot hand them out meanwhile (it
  // carves or takes another span), and they go back on the lists, purged, afterwards.
  FreeSpan *aged[kMaxGranules + 1] = {};
  std::size_t n_aged = 0;
  {
    os::LockGuard g(lock_);
    for (std::size_t n = 1; n <= kMaxGranules; ++n) {
      for (FreeSpan **link = &free_[n]; FreeSpan *f = *link;) {
        if (f->committed && f->aged) {
          *link = f->next;
          f->next = aged[n];
          aged[n] = f;
          // Counted purged before the purge uncharges (used_relaxed() ≤ the charge, always).
          cached_committed_ -= n * kGranularity;
          __atomic_store_n(&cached_purged_, cached_purged_ + n * kGranularity, __ATOMIC_RELAXED);
          ++n_aged;
          continue;
        }
        if (f->committed) f->aged = true;
        link = &f->next;
      }
    }
  }
  if (n_aged == 0) return 0;
  std::size_t purged = 0;
  for (std::size_t n = 1; n <= kMaxGranules; ++n) {
    for (FreeSpan *f = aged[n]; f; f = f->next) {
      std::size_t bytes = n * kGranularity;
      if (lock_pages_) os::unlock_pages(f->base, bytes);
      purge_span(f->base, bytes);
      f->committed = false;
      purged += bytes;
    }
  }
  os::LockGuard g(lock_);
  for (std::size_t n = 1; n <= kMaxGranules; ++n) {
    while (FreeSpan *f = aged[n]) {
      aged[n] = f->next;
      f->next = free_[n];
      free_[n] = f;
    }
  }
  return purged;
}

void SpanArena::release_all() {
  os::LockGuard g(lock_);
  for (std::size_t n = 1; n <= kMaxGranules; ++n) {
    while (FreeSpan *f = free_[n]) {
      free_[n] = f->next;
      g_records.free(f);
    }
  }
  // Everything carved and not purged is charged (and what a huge-page region committed ahead);
  // give the charge back with the regions.
  std::size_t charged = carved_ - cached_purged_ + ahead_;
  while (Region *r = regions_) {
    regions_ = r->next;
    release(r->base, r->size);
    g_records.free(r);
  }
  uncharge(charged);
  bump_ = bump_end_ = chunk_end_ = nullptr;
  reserved_ = carved_ = cached_committed_ = cached_purged_ = ahead_ = 0;
  fixed_reserved_ = false;
}

SpanArena::Info SpanArena::info() {
  os::LockGuard g(lock_);
  return {reserved_, carved_, cached_committed_, cached_purged_};
}

}  // namespace lfh::vm

namespace lfh::vm {

bool SpanArena::reserve_now() {
  os::LockGuard g(lock_);
  if (regions_) return true;
  return grow(kGranularity);
}

void SpanArena::zero_carved() {
  os::LockGuard g(lock_);
  // Carved spans are readable (committed or purged-and-zero); purged ones cost a page fault each
  // to clear, so skip the spans known to be purged.
  for (Region *r = regions_; r; r = r->next) {
    for (char *p = r->base; p < r->carved_end; p += kGranularity) {
      bool purged = false;
      for (std::size_t n = 1; n <= kMaxGranules && !purged; ++n)
        for (FreeSpan *f = free_[n]; f; f = f->next)
          if (!f->committed && p >= f->base && p < f->base + n * kGranularity) {
            purged = true;
            break;
          }
      if (!purged) __builtin_memset(p, 0, kGranularity);
    }
  }
}

}  // namespace lfh::vm
