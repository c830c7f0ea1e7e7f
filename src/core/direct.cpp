#include "core/direct.h"

#include <atomic>

#include "base/bits.h"
#include "core/core_heap.h"
#include "os/report.h"
#include "vm/meta_pool.h"
#include "vm/vm.h"

namespace lfh {
namespace {

constinit vm::MetaPool g_descriptors(sizeof(DirectBlock));

// Ring of recently released bases (best effort, racy reads are fine: it only picks a message).
constexpr unsigned kRing = 64;
constinit std::uintptr_t g_released[kRing] = {};
constinit std::atomic<unsigned> g_released_pos{0};

void note_released(const void *p) {
  unsigned i = g_released_pos.fetch_add(1, std::memory_order_relaxed) % kRing;
  __atomic_store_n(&g_released[i], addr(p), __ATOMIC_RELAXED);
}

std::size_t headroom(std::size_t committed) {
  // 25 % extra address space for in-place growth, rounded to the granularity.
  std::size_t extra = committed / 4;
  std::size_t total;
  if (add_overflows(committed, extra, &total)) total = committed;
  return align_up(total, vm::kGranularity);
}

}  // namespace

vm::MetaPool &direct_descriptor_pool() { return g_descriptors; }

bool recently_released_direct(const void *p) {
  for (unsigned i = 0; i < kRing; ++i)
    if (__atomic_load_n(&g_released[i], __ATOMIC_RELAXED) == addr(p)) return true;
  return false;
}

DirectBlock *DirectBlocks::alloc(std::size_t size, std::size_t align, bool lock, bool *reused) {
  if (size == 0) size = 1;
  if (size > (std::size_t(1) << 46)) return nullptr;   // beyond any address space we could map
  std::size_t commit_bytes = align_up(size, vm::kPageSize);
  std::size_t reserve_bytes = headroom(commit_bytes);
  if (align < vm::kGranularity) align = vm::kGranularity;
  if (reused) *reused = false;
  if (__atomic_load_n(&cache_head_, __ATOMIC_RELAXED)) {
    DirectBlock *d;
    {
      os::LockGuard g(lock_, serialize_ && lock);
      d = take_cached(commit_bytes, align);
    }
    if (d) {
      // Fit the committed part to the request: commit what is missing, give back a tail of
      // 64 KB or more (a smaller one stays with the block).
      bool ok = true;
      if (commit_bytes > d->committed) {
        std::size_t grow = commit_bytes - d->committed;
        ok = vm::commit(d->base + d->committed, grow) &&
             (!lock_pages_ || os::lock_pages(d->base + d->committed, grow));
        if (ok) d->committed = commit_bytes;
      } else if (d->committed - commit_bytes >= 64 * 1024) {
        vm::decommit(d->base + commit_bytes, d->committed - commit_bytes);
        d->committed = commit_bytes;
      }
      if (!ok) {
        release_region(d);
      } else {
        d->requested = size;
        os::LockGuard g(lock_, serialize_ && lock);
        d->prev = nullptr;
        d->next = list_;
        if (list_) list_->prev = d;
        list_ = d;
        ++blocks_;
        ++allocs_;
        ++cache_hits_;
        reserved_ += d->reserved;
        committed_ += d->committed;
        if (cache_owner_) cache_owner_->busy_total.fetch_add(d->committed, std::memory_order_relaxed);
        if (reused) *reused = true;
        return d;
      }
    }
  }
  auto *d = static_cast<DirectBlock *>(g_descriptors.alloc());
  if (!d) return nullptr;
  char *base = nullptr;
  bool huge = false;
  const bool large = large_pages_ && size >= os::kHugePageSize && align <= os::kHugePageSize;
  if (large && !lock_pages_) {
    // Explicit huge pages are committed whole at once: no headroom, no partial decommit.
    std::size_t hb = align_up(size, os::kHugePageSize);
    if ((base = static_cast<char *>(vm::reserve_huge(hb)))) {
      commit_bytes = reserve_bytes = hb;
      huge = true;
    }
  }
  if (!base) {
    if (large) {   // transparent huge pages: a 2 MB-aligned region, advised
      align = os::kHugePageSize;
      reserve_bytes = align_up(reserve_bytes, os::kHugePageSize);
    }
    base = static_cast<char *>(vm::reserve(reserve_bytes, align));
    if (!base) {
      g_descriptors.free(d);
      return nullptr;
    }
    if (large) os::advise_huge(base, reserve_bytes, true);
    if (!vm::commit(base, commit_bytes)) {
      vm::release(base, reserve_bytes);
      g_descriptors.free(d);
      return nullptr;
    }
  }
  if (lock_pages_ && !os::lock_pages(base, commit_bytes)) {   // non-paged heap: no silent fallback
    vm::release_committed(base, reserve_bytes, commit_bytes);
    g_descriptors.free(d);
    return nullptr;
  }
  d->hdr.kind = vm::OwnerKind::kDirectBlock;
  d->heap = heap_;
  d->base = base;
  d->reserved = reserve_bytes;
  d->committed = commit_bytes;
  d->requested = size;
  d->huge = huge;
  if (!vm::pagemap_set(base, reserve_bytes, d)) {
    vm::release_committed(base, reserve_bytes, commit_bytes);
    g_descriptors.free(d);
    return nullptr;
  }
  os::LockGuard g(lock_, serialize_ && lock);
  d->prev = nullptr;
  d->next = list_;
  if (list_) list_->prev = d;
  list_ = d;
  ++blocks_;
  ++allocs_;
  reserved_ += reserve_bytes;
  committed_ += commit_bytes;
  if (cache_owner_) cache_owner_->busy_total.fetch_add(commit_bytes, std::memory_order_relaxed);
  return d;
}

void DirectBlocks::free(DirectBlock *d, bool lock) {
  const bool keep = cache_owner_ && !d->huge && cache_owner_->config().purge_delay_ms != 0;
  const std::uint64_t now = keep ? os::now_ns() : 0;
  {
    os::LockGuard g(lock_, serialize_ && lock);
    if (d->cached) fatal_error(ErrorKind::kDoubleFree, d->base, "large block is already free");
    if (d->prev) d->prev->next = d->next;
    else list_ = d->next;
    if (d->next) d->next->prev = d->prev;
    --blocks_;
    ++frees_;
    reserved_ -= d->reserved;
    committed_ -= d->committed;
    if (cache_owner_) cache_owner_->busy_total.fetch_sub(d->committed, std::memory_order_relaxed);
    if (keep) {
      cache(d, now);
      return;
    }
  }
  release_region(d);
}

// ---- the cache of freed regions (lock_ held) --------------------------------------------------

void DirectBlocks::enable_cache(core::CoreHeap *owner) {
  cache_owner_ = owner;
  owner->attach_direct(this);
}

// The smallest cached region that holds `want` bytes at `align` and is not more than about twice
// that (a bigger one would keep too much address space and headroom for a small block).
DirectBlock *DirectBlocks::take_cached(std::size_t want, std::size_t align) {
  DirectBlock *best = nullptr;
  for (DirectBlock *c = cache_head_; c; c = c->next) {
    if (c->reserved < want || c->reserved > 2 * want + 2 * vm::kGranularity || (addr(c->base) & (align - 1))) continue;
    if (!best || c->reserved < best->reserved) best = c;
  }
  if (!best) return nullptr;
  if (best->prev) best->prev->next = best->next;
  else cache_head_ = best->next;
  if (best->next) best->next->prev = best->prev;
  else cache_tail_ = best->prev;
  --cached_blocks_;
  cached_bytes_ -= best->committed;
  cache_owner_->pending_total.fetch_sub(best->committed, std::memory_order_relaxed);
  best->cached = false;
  best->prev = best->next = nullptr;
  return best;
}

void DirectBlocks::cache(DirectBlock *d, std::uint64_t now) {
  d->cached = true;
  d->freed_ns = now;
  d->next = nullptr;
  d->prev = cache_tail_;
  if (cache_tail_) cache_tail_->next = d;
  else cache_head_ = d;
  cache_tail_ = d;
  ++cached_blocks_;
  cached_bytes_ += d->committed;
  cache_owner_->pending_total.fetch_add(d->committed, std::memory_order_relaxed);
  // Over the heap's free-committed budget: the oldest regions go now (possibly this one).
  while (cache_head_ && cache_owner_->pending_total.load(std::memory_order_relaxed) > cache_owner_->free_budget())
    expire(now, /*one=*/true);
  if (now >= last_expire_ + core::CoreHeap::kPurgeCheckNs) expire(now, false);
}

// Release the oldest cached region (`one`), or every region older than the delay.
std::size_t DirectBlocks::expire(std::uint64_t now, bool one) {
  std::size_t given = 0;
  const std::uint64_t delay = cache_owner_ ? cache_owner_->delay_ns() : 0;
  last_expire_ = now;
  while (DirectBlock *c = cache_head_) {
    if (!one && now < c->freed_ns + delay) break;
    cache_head_ = c->next;
    if (cache_head_) cache_head_->prev = nullptr;
    else cache_tail_ = nullptr;
    --cached_blocks_;
    cached_bytes_ -= c->committed;
    cache_owner_->pending_total.fetch_sub(c->committed, std::memory_order_relaxed);
    given += c->committed;
    c->cached = false;
    release_region(c);
    if (one) break;
  }
  return given;
}

std::size_t DirectBlocks::purge(bool force, bool lock) {
  if (!__atomic_load_n(&cache_head_, __ATOMIC_RELAXED)) return 0;
  os::LockGuard g(lock_, serialize_ && lock);
  std::size_t given = 0;
  if (force) {
    while (cache_head_) given += expire(0, true);
  } else {
    given = expire(os::now_ns(), false);
  }
  return given;
}

void DirectBlocks::release_region(DirectBlock *d) {
  vm::pagemap_clear(d->base, d->reserved);
  d->hdr.kind = vm::OwnerKind::kNone;
  note_released(d->base);
  vm::release_committed(d->base, d->reserved, d->committed);
  g_descriptors.free(d);
}

bool DirectBlocks::resize(DirectBlock *d, std::size_t size, bool lock) {
  if (size == 0) size = 1;
  if (size > (std::size_t(1) << 46)) return false;   // (align_up below would wrap to 0)
  std::size_t want = align_up(size, vm::kPageSize);
  if (want > d->reserved) return false;
  if (d->huge) {   // huge pages stay committed whole
    d->requested = size;
    return true;
  }
  if (want > d->committed) {
    std::size_t grow = want - d->committed;
    if (!vm::commit(d->base + d->committed, grow)) return false;
    if (lock_pages_ && !os::lock_pages(d->base + d->committed, grow)) {
      vm::decommit(d->base + d->committed, grow);
      return false;
    }
  }
  const std::size_t old = d->committed;
  {
    // d's sizes change under the lock: lfh_validate (heap locked) sums them against committed_.
    os::LockGuard g(lock_, serialize_ && lock);
    committed_ = committed_ - old + want;
    if (cache_owner_) {
      cache_owner_->busy_total.fetch_add(want, std::memory_order_relaxed);
      cache_owner_->busy_total.fetch_sub(old, std::memory_order_relaxed);
    }
    d->committed = want;
    d->requested = size;
  }
  // Shrinking gives the pages back after the accounting, so that the process commit charge never
  // drops below what the heap counts (lfh_validate checks that too).
  if (want < old) vm::decommit(d->base + want, old - want);
  return true;
}

void *DirectBlocks::move(DirectBlock *d, std::size_t size, bool lock) {
  if (d->huge || size > (std::size_t(1) << 46)) return nullptr;
  const std::size_t want = align_up(size, vm::kPageSize);
  if (want <= d->committed) return nullptr;
  const std::size_t reserve_bytes = headroom(want);
  char *base = static_cast<char *>(vm::reserve(reserve_bytes));
  if (!base) return nullptr;
  // Commit the part past the moved pages first: once the pages have moved there is no going back.
  const std::size_t grow = want - d->committed;
  if (!vm::commit(base + d->committed, grow)) {
    vm::release(base, reserve_bytes);
    return nullptr;
  }
  if (lock_pages_ && !os::lock_pages(base + d->committed, grow)) {
    vm::release_committed(base, reserve_bytes, grow);
    return nullptr;
  }
  if (!vm::pagemap_set(base, reserve_bytes, d)) {
    vm::release_committed(base, reserve_bytes, grow);
    return nullptr;
  }
  // Clear the old range's page-map entries before mremap unmaps it: as soon as it is unmapped,
  // another thread may be given that address and register a block of its own there, which a late
  // clear would wipe out. (d is registered at the new range already; restored below on failure.)
  // The clear, the move and d's new place happen under one hold of the lock: lfh_validate (heap
  // locked) checks d's page-map entry against d->base and must never see the two disagree.
  char *old = d->base;
  const std::size_t old_reserved = d->reserved, old_committed = d->committed;
  bool moved;
  {
    os::LockGuard g(lock_, serialize_ && lock);
    vm::pagemap_clear(old, old_reserved);
    moved = vm::move(old, old_committed, base);
    if (moved) {
      reserved_ = reserved_ - old_reserved + reserve_bytes;
      committed_ += grow;
      if (cache_owner_) cache_owner_->busy_total.fetch_add(grow, std::memory_order_relaxed);
      d->base = base;
      d->reserved = reserve_bytes;
      d->committed = want;
      d->requested = size;
    } else {
      vm::pagemap_set(old, old_reserved, d);
    }
  }
  if (!moved) {
    vm::pagemap_clear(base, reserve_bytes);
    vm::release_committed(base, reserve_bytes, grow);
    return nullptr;
  }
  // The old reservation: its committed pages are gone (moved); its headroom is released.
  note_released(old);
  if (old_reserved > old_committed) vm::release(old + old_committed, old_reserved - old_committed);
  return base;
}

void DirectBlocks::release_all() {
  os::LockGuard g(lock_, serialize_);
  while (DirectBlock *d = list_) {
    list_ = d->next;
    vm::pagemap_clear(d->base, d->reserved);
    d->hdr.kind = vm::OwnerKind::kNone;
    vm::release_committed(d->base, d->reserved, d->committed);
    g_descriptors.free(d);
  }
  while (cache_head_) expire(0, true);
  blocks_ = reserved_ = committed_ = 0;
}

DirectStats DirectBlocks::stats() {
  os::LockGuard g(lock_, serialize_);
  return {blocks_, reserved_, committed_, allocs_, frees_, cached_blocks_, cached_bytes_, cache_hits_};
}

}  // namespace lfh
