#include "core/direct.h"

#include <atomic>

#include "base/bits.h"
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

DirectBlock *DirectBlocks::alloc(std::size_t size, std::size_t align, bool lock) {
  if (size == 0) size = 1;
  if (size > (std::size_t(1) << 46)) return nullptr;   // beyond any address space we could map
  std::size_t commit_bytes = align_up(size, vm::kPageSize);
  std::size_t reserve_bytes = headroom(commit_bytes);
  if (align < vm::kGranularity) align = vm::kGranularity;
  auto *d = static_cast<DirectBlock *>(g_descriptors.alloc());
  if (!d) return nullptr;
  char *base = static_cast<char *>(vm::reserve(reserve_bytes, align));
  if (!base) {
    g_descriptors.free(d);
    return nullptr;
  }
  if (!vm::commit(base, commit_bytes)) {
    vm::release(base, reserve_bytes);
    g_descriptors.free(d);
    return nullptr;
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
  return d;
}

void DirectBlocks::free(DirectBlock *d, bool lock) {
  {
    os::LockGuard g(lock_, serialize_ && lock);
    if (d->prev) d->prev->next = d->next;
    else list_ = d->next;
    if (d->next) d->next->prev = d->prev;
    --blocks_;
    ++frees_;
    reserved_ -= d->reserved;
    committed_ -= d->committed;
  }
  vm::pagemap_clear(d->base, d->reserved);
  d->hdr.kind = vm::OwnerKind::kNone;
  note_released(d->base);
  vm::release_committed(d->base, d->reserved, d->committed);
  g_descriptors.free(d);
}

bool DirectBlocks::resize(DirectBlock *d, std::size_t size, bool lock) {
  if (size == 0) size = 1;
  std::size_t want = align_up(size, vm::kPageSize);
  if (want > d->reserved) return false;
  if (want > d->committed) {
    std::size_t grow = want - d->committed;
    if (!vm::commit(d->base + d->committed, grow)) return false;
    if (lock_pages_ && !os::lock_pages(d->base + d->committed, grow)) {
      vm::decommit(d->base + d->committed, grow);
      return false;
    }
  } else if (want < d->committed) {
    vm::decommit(d->base + want, d->committed - want);
  }
  {
    os::LockGuard g(lock_, serialize_ && lock);
    committed_ = committed_ - d->committed + want;
  }
  d->committed = want;
  d->requested = size;
  return true;
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
  blocks_ = reserved_ = committed_ = 0;
}

DirectStats DirectBlocks::stats() {
  os::LockGuard g(lock_, serialize_);
  return {blocks_, reserved_, committed_, allocs_, frees_};
}

}  // namespace lfh
