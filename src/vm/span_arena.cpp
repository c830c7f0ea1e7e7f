#include "vm/span_arena.h"

#include "base/bits.h"
#include "vm/vm.h"

namespace lfh::vm {

namespace {
constexpr std::size_t kRecordSize = 32;
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
  char *base = static_cast<char *>(reserve(size));
  if (!base) {
    g_records.free(rec);
    return false;
  }
  fixed_reserved_ = fixed_size_ != 0;
  rec->base = base;
  rec->size = size;
  rec->carved_end = base;
  rec->next = regions_;
  regions_ = rec;
  reserved_ += size;
  // The unused tail of the previous region is abandoned to bump allocation (at most one span
  // short of a region); it stays reserved and uncommitted.
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
  if (!commit_span(base, bytes)) return {nullptr, false};
  bump_ += bytes;
  regions_->carved_end = bump_;   // bump_ always points into the newest region
  carved_ += bytes;
  return {base, true};
}

void SpanArena::free(void *base, std::size_t granules) {
  std::size_t bytes = granules * kGranularity;
  auto *f = static_cast<FreeSpan *>(g_records.alloc());
  os::LockGuard g(lock_);
  if (!f) {
    // No record memory: purge and leak the span's address space (still reserved, uncharged).
    purge(base, bytes);
    return;
  }
  f->base = static_cast<char *>(base);
  f->committed = cached_committed_ + bytes <= cache_budget_;
  if (f->committed) {
    cached_committed_ += bytes;
  } else {
    if (lock_pages_) os::unlock_pages(base, bytes);
    purge(base, bytes);
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
      purge(f->base, bytes);
      f->committed = false;
      cached_committed_ -= bytes;
      cached_purged_ += bytes;
      purged += bytes;
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
  // Everything carved and not purged is charged; give the charge back with the regions.
  std::size_t charged = carved_ - cached_purged_;
  while (Region *r = regions_) {
    regions_ = r->next;
    release(r->base, r->size);
    g_records.free(r);
  }
  uncharge(charged);
  bump_ = bump_end_ = nullptr;
  reserved_ = carved_ = cached_committed_ = cached_purged_ = 0;
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
