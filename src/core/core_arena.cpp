// core/core_arena.cpp — carving, merging, resizing and decommitting blocks of one arena.
#include "core/core_arena.h"

#include <bit>
#include <cstring>

#include "core/core_heap.h"
#include "os/report.h"
#include "vm/vm.h"

namespace lfh::core {
namespace {

std::uint64_t clock(std::uint64_t &now) {
  if (now == 0) now = os::now_ns();
  return now;
}

[[noreturn]] void corrupt(const void *h, const char *why) { fatal_error(ErrorKind::kHeapCorruption, h, why); }

// Ring of recently released segments [base, base+size): see recently_released_segment().
constexpr unsigned kRing = 32;
constinit std::uintptr_t g_ring_base[kRing] = {};
constinit std::size_t g_ring_size[kRing] = {};
constinit std::atomic<unsigned> g_ring_pos{0};

}  // namespace

bool recently_released_segment(const void *p) {
  for (unsigned i = 0; i < kRing; ++i) {
    std::uintptr_t b = __atomic_load_n(&g_ring_base[i], __ATOMIC_RELAXED);
    std::size_t n = __atomic_load_n(&g_ring_size[i], __ATOMIC_RELAXED);
    if (b && addr(p) >= b && addr(p) < b + n) return true;
  }
  return false;
}

// ---- free-block bookkeeping -------------------------------------------------------------------

void CoreArena::take(FreeBlock *f) {
  if (!lists_.remove(f)) corrupt(f, "free list links of a large free block damaged (write after free?)");
  if (f->pend_pages) pending_remove(f);
}

void CoreArena::pending_add(FreeBlock *f, std::size_t bytes, std::uint64_t &now) {
  f->since_ns = clock(now);
  f->pend_pages = std::uint32_t(bytes / os::kPageSize);
  f->pnext = nullptr;
  f->pprev = pend_tail_;
  if (pend_tail_) pend_tail_->pnext = f;
  else pend_head_ = f;
  pend_tail_ = f;
  owner_->pending_total.fetch_add(bytes, std::memory_order_relaxed);
}

void CoreArena::pending_remove(FreeBlock *f) {
  if (f->pprev) f->pprev->pnext = f->pnext;
  else pend_head_ = f->pnext;
  if (f->pnext) f->pnext->pprev = f->pprev;
  else pend_tail_ = f->pprev;
  owner_->pending_total.fetch_sub(std::size_t(f->pend_pages) * os::kPageSize, std::memory_order_relaxed);
  f->pend_pages = 0;
  f->pnext = f->pprev = nullptr;
}

// Write a free block [b, b + units·16) after prev_units, list it, and decide its pages' fate.
void CoreArena::put_free(Segment *s, char *b, std::size_t units, std::size_t prev_units, std::uint64_t &now) {
  auto *f = reinterpret_cast<FreeBlock *>(b);
  write_header(&f->h, units, true, prev_units);
  f->pend_pages = 0;
  f->pnext = f->pprev = nullptr;
  lists_.insert(f);
  std::size_t bytes = units * kUnit;
  if (bytes < owner_->config().decommit_block) return;
  std::uintptr_t lo, hi;
  inner_pages(b, bytes, &lo, &hi);
  std::size_t c = s->committed_in(lo, hi);
  if (c == 0) return;
  if (owner_->config().purge_delay_ms == 0) decommitted_ += s->decommit(lo, hi, owner_->lock_pages());
  else pending_add(f, c, now);
}

std::size_t CoreArena::decommit_pending(FreeBlock *f) {
  Segment *s = segment_of(f);
  std::uintptr_t lo, hi;
  inner_pages(f->h.base(), f->h.bytes(), &lo, &hi);
  pending_remove(f);
  std::size_t given = s->decommit(lo, hi, owner_->lock_pages());
  decommitted_ += given;
  return given;
}

void CoreArena::enforce_budget() {
  const std::size_t budget = owner_->free_budget();
  while (pend_head_ && owner_->pending_total.load(std::memory_order_relaxed) > budget) decommit_pending(pend_head_);
}

// The block after h, checked before it is trusted: nullptr at the segment's end.
BlockHeader *CoreArena::checked_next(Segment *s, BlockHeader *h) {
  BlockHeader *n = h->next();
  if (s->is_end(n)) return nullptr;
  if (!header_ok(n) || n->is_dead() || n->prev_units != h->units())
    corrupt(n, "large block header overwritten (overrun of the block before it?)");
  return n;
}

// ---- segments ----------------------------------------------------------------------------------

FreeBlock *CoreArena::grow(std::size_t need, Segment **out) {
  // Geometric growth: each new segment about doubles the arena (1 MB, 1, 2, 4 … 64 MB).
  std::size_t size = reserved_ < kMinSegment ? kMinSegment : std::bit_ceil(reserved_);
  if (size > kMaxSegment) size = kMaxSegment;
  std::size_t fit = align_up(kSegmentHeaderBytes + need, os::kGranularity);
  if (fit > size) size = fit;
  if (size > kMaxSegment) return nullptr;
  auto *s = static_cast<Segment *>(vm::reserve(size));
  if (!s) return nullptr;
  // The header page (which also holds the first block's record).
  if (!vm::commit(s, os::kPageSize)) {
    vm::release(s, size);
    return nullptr;
  }
  if (owner_->lock_pages() && !os::lock_pages(s, os::kPageSize)) {
    vm::release_committed(s, size, os::kPageSize);
    return nullptr;
  }
  s->hdr.kind = vm::OwnerKind::kCoreSegment;
  s->arena = this;
  s->heap = owner_->heap();
  s->base = reinterpret_cast<char *>(s);
  s->size = size;
  s->first = s->base + kSegmentHeaderBytes;
  s->end = s->base + size;
  s->committed = os::kPageSize;
  s->rw_end = s->base + os::kPageSize;
  s->busy = 0;
  s->empty_since = 0;
  s->bits[0] = 1;   // the rest of the bitmap is zero (fresh page)
  s->check = seal_segment(s);
  if (!vm::pagemap_set(s, size, s)) {
    vm::release_committed(s, size, os::kPageSize);
    return nullptr;
  }
  s->prev = nullptr;
  s->next = segments_;
  if (segments_) segments_->prev = s;
  segments_ = s;
  ++segment_count_;
  ++segments_made_;
  reserved_ += size;
  std::uint64_t now = 1;   // a fresh block has no committed inner pages: never pending
  put_free(s, s->first, (size - kSegmentHeaderBytes) / kUnit, 0, now);
  // A new segment is not "empty" in the release sense: it is about to be carved.
  *out = s;
  return reinterpret_cast<FreeBlock *>(s->first);
}

void CoreArena::release_segment(Segment *s) {
  auto *f = reinterpret_cast<FreeBlock *>(s->first);
  if (!header_ok(&f->h) || !f->h.is_free() || f->h.bytes() != std::size_t(s->end - s->first))
    corrupt(f, "an empty large-block segment is not one free block");
  take(f);
  if (s->prev) s->prev->next = s->next;
  else segments_ = s->next;
  if (s->next) s->next->prev = s->prev;
  --segment_count_;
  ++segments_released_;
  reserved_ -= s->size;
  owner_->empty_segments.fetch_sub(1, std::memory_order_relaxed);
  unsigned i = g_ring_pos.fetch_add(1, std::memory_order_relaxed) % kRing;
  __atomic_store_n(&g_ring_base[i], std::uintptr_t(0), __ATOMIC_RELAXED);
  __atomic_store_n(&g_ring_size[i], s->size, __ATOMIC_RELAXED);
  __atomic_store_n(&g_ring_base[i], addr(s), __ATOMIC_RELAXED);
  std::size_t size = s->size, committed = s->committed;
  s->hdr.kind = vm::OwnerKind::kNone;
  vm::pagemap_clear(s, size);
  vm::release_committed(s, size, committed);
}

void CoreArena::release_all() {
  while (Segment *s = segments_) {
    segments_ = s->next;
    vm::pagemap_clear(s, s->size);
    vm::release_committed(s, s->size, s->committed);
  }
  // (the records were inside the segments: drop the lists without reading them; the heap
  // resets its pending total)
  lists_.clear();
  pend_head_ = pend_tail_ = nullptr;
  segment_count_ = reserved_ = busy_bytes_ = busy_blocks_ = 0;
}

// ---- allocation ------------------------------------------------------------------------------

void *CoreArena::alloc(std::size_t n, std::size_t align, bool zero, std::uint64_t &now) {
  const std::size_t need = block_bytes(n);
  // An aligned block may have to start up to `align` past a free block's start, and the slack in
  // front must itself be a whole free block (≥ kMinBlock).
  const std::size_t search = align > kUnit ? need + align + kMinBlock : need;
  FreeBlock *f = lists_.find(search);
  Segment *s;
  if (f) s = segment_of(f);
  else if (!(f = grow(search, &s))) return nullptr;

  char *b = f->h.base();
  const std::size_t total = f->h.bytes();
  std::size_t prev_units = f->h.prev_units;
  std::size_t front = 0;
  if (align > kUnit) {
    front = align_up(addr(b) + kHeaderSize, align) - kHeaderSize - addr(b);
    while (front != 0 && front < kMinBlock) front += align;   // < kMinBlock + align in the end
  }
  char *blk = b + front;
  const std::size_t avail = total - front;
  const std::size_t rest = avail - need;
  const bool split = rest >= owner_->config().min_split;
  const std::size_t bsize = split ? need : avail;

  take(f);
  // Commit the block and the record of the remainder split off it; clear what calloc needs
  // cleared on pages that were committed before (fresh ones are demand-zero).
  std::uintptr_t cto = addr(blk) + bsize + (split ? kMinBlock : 0);
  std::uintptr_t user = addr(blk) + kHeaderSize;
  if (!s->commit(addr(blk), cto, owner_->lock_pages(), zero, user, user + n)) {
    put_free(s, b, total / kUnit, prev_units, now);   // f's header was not touched: put it back
    return nullptr;
  }
  if (front) {
    put_free(s, b, front / kUnit, prev_units, now);
    prev_units = front / kUnit;
  }
  auto *h = reinterpret_cast<BlockHeader *>(blk);
  write_header(h, bsize / kUnit, false, prev_units);
  if (split) put_free(s, blk + bsize, rest / kUnit, bsize / kUnit, now);
  char *after = b + total;
  if (after < s->end) set_prev(reinterpret_cast<BlockHeader *>(after), (split ? rest : bsize) / kUnit);
  if (s->busy++ == 0 && s->empty_since) {
    s->empty_since = 0;
    owner_->empty_segments.fetch_sub(1, std::memory_order_relaxed);
  }
  ++allocs_;
  ++busy_blocks_;
  busy_bytes_ += bsize;
  owner_->busy_total.fetch_add(bsize, std::memory_order_relaxed);
  return h->user();
}

void CoreArena::free(Segment *s, BlockHeader *h, std::uint64_t &now) {
  std::size_t units = h->units();
  std::size_t prev_units = h->prev_units;
  char *b = h->base();
  if (owner_->secure_free()) std::memset(h->user(), 0, h->bytes() - kHeaderSize);
  ++frees_;
  --busy_blocks_;
  busy_bytes_ -= h->bytes();
  owner_->busy_total.fetch_sub(h->bytes(), std::memory_order_relaxed);
  if (BlockHeader *n = checked_next(s, h); n && n->is_free()) {
    take(reinterpret_cast<FreeBlock *>(n));
    units += n->units();
    kill_header(n);
  }
  if (prev_units) {
    BlockHeader *p = h->prev();
    if (!header_ok(p) || p->is_dead() || p->units() != prev_units)
      corrupt(p, "large block header overwritten (the previous block's boundary tag does not match)");
    if (p->is_free()) {
      take(reinterpret_cast<FreeBlock *>(p));
      units += p->units();
      prev_units = p->prev_units;
      kill_header(h);
      b = p->base();
    }
  }
  put_free(s, b, units, prev_units, now);
  char *after = b + units * kUnit;
  if (after < s->end) set_prev(reinterpret_cast<BlockHeader *>(after), units);
  if (--s->busy == 0) {
    s->empty_since = clock(now);
    owner_->empty_segments.fetch_add(1, std::memory_order_relaxed);
    if (owner_->config().purge_delay_ms == 0) release_segment(s);
  }
}

bool CoreArena::resize(Segment *s, BlockHeader *h, std::size_t n, std::uint64_t &now) {
  const std::size_t need = block_bytes(n);
  const std::size_t size = h->bytes();
  const std::size_t min_split = owner_->config().min_split;
  BlockHeader *nx = checked_next(s, h);
  const bool nx_free = nx && nx->is_free();
  if (need <= size) {   // shrink: the tail becomes free (merged with a free next block)
    std::size_t rest = size - need;
    if (rest == 0 || (!nx_free && rest < min_split)) return true;
    if (nx_free) {
      take(reinterpret_cast<FreeBlock *>(nx));
      rest += nx->bytes();
      kill_header(nx);
    }
    write_header(h, need / kUnit, false, h->prev_units);
    put_free(s, h->base() + need, rest / kUnit, need / kUnit, now);
    char *after = h->base() + need + rest;
    if (after < s->end) set_prev(reinterpret_cast<BlockHeader *>(after), rest / kUnit);
    busy_bytes_ -= size - need;
    owner_->busy_total.fetch_sub(size - need, std::memory_order_relaxed);
    ++shrinks_;
    return true;
  }
  // grow: only into a free next block with room enough
  if (!nx_free || size + nx->bytes() < need) return false;
  const std::size_t nx_units = nx->units();
  const std::size_t total = size + nx->bytes();
  const std::size_t rest = total - need;
  const bool split = rest >= min_split;
  const std::size_t bsize = split ? need : total;
  take(reinterpret_cast<FreeBlock *>(nx));
  if (!s->commit(addr(h) + size, addr(h) + bsize + (split ? kMinBlock : 0), owner_->lock_pages())) {
    put_free(s, reinterpret_cast<char *>(nx), nx_units, size / kUnit, now);
    return false;
  }
  kill_header(nx);
  write_header(h, bsize / kUnit, false, h->prev_units);
  if (split) put_free(s, h->base() + bsize, rest / kUnit, bsize / kUnit, now);
  char *after = h->base() + total;
  if (after < s->end) set_prev(reinterpret_cast<BlockHeader *>(after), (split ? rest : bsize) / kUnit);
  busy_bytes_ += bsize - size;
  owner_->busy_total.fetch_add(bsize - size, std::memory_order_relaxed);
  ++grows_;
  return true;
}

// ---- purging -----------------------------------------------------------------------------------

std::size_t CoreArena::purge(std::uint64_t now, bool force) {
  const std::uint64_t delay = owner_->delay_ns();
  const std::size_t budget = owner_->free_budget();
  std::size_t given = 0;
  while (FreeBlock *f = pend_head_) {
    bool expired = force || now >= f->since_ns + delay;   // (since may be later than a stale now)
    if (!expired && owner_->pending_total.load(std::memory_order_relaxed) <= budget) break;
    given += decommit_pending(f);
  }
  for (Segment *s = segments_, *next; s; s = next) {
    next = s->next;
    if (s->busy == 0 && (force || now >= s->empty_since + delay)) {
      given += s->committed;
      release_segment(s);
    }
  }
  return given;
}

void CoreArena::add_stats(CoreStats *st) const {
  st->segments += segment_count_;
  st->reserved += reserved_;
  for (Segment *s = segments_; s; s = s->next) st->committed += s->committed;
  st->blocks += busy_blocks_;
  st->busy_bytes += busy_bytes_;
  st->free_bytes += lists_.bytes();
  st->free_blocks += lists_.count();
  for (FreeBlock *f = pend_head_; f; f = f->pnext) st->pending_bytes += std::size_t(f->pend_pages) * os::kPageSize;
  st->allocs += allocs_;
  st->frees += frees_;
  st->grows_in_place += grows_;
  st->shrinks_in_place += shrinks_;
  st->decommitted += decommitted_;
  st->segments_made += segments_made_;
  st->segments_released += segments_released_;
}

}  // namespace lfh::core
