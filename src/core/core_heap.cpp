// core/core_heap.cpp — arenas by CPU, pointer validation and error diagnosis, purge timing,
// statistics and walks of the core heap.
#include "core/core_heap.h"

#include <new>

#include "base/options.h"
#include "core/direct.h"
#include "os/cpu.h"
#include "os/report.h"
#include "vm/vm.h"

namespace lfh::core {

constinit std::uint64_t g_seal_key = 0;

namespace {

void ensure_seal_key() {
  if (__atomic_load_n(&g_seal_key, __ATOMIC_ACQUIRE)) return;
  std::uint64_t k = 0;
  os::random_bytes(&k, sizeof k);
  k |= 1;
  std::uint64_t zero = 0;
  // First one wins: blocks sealed with a key must never see it change.
  __atomic_compare_exchange_n(&g_seal_key, &zero, k, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

}  // namespace

CoreConfig config_from_options() {
  CoreConfig c;
  c.max_request = option_u64(Opt::direct_threshold);
  c.decommit_block = option_u64(Opt::decommit_free_block);
  c.purge_delay_ms = option_u64(Opt::purge_delay_ms);
  c.total_free = option_u64(Opt::decommit_total_free);
  c.arenas = unsigned(option_u64(Opt::core_arenas));
  return c;
}

void CoreHeap::configure(void *heap, bool lock_pages, bool serialize, bool secure_free, const CoreConfig &cfg) {
  ensure_seal_key();
  heap_ = heap;
  lock_pages_ = lock_pages;
  serialize_ = serialize;
  secure_free_ = secure_free;
  cfg_ = cfg;
  if (cfg_.max_request > kMaxRequest) cfg_.max_request = kMaxRequest;
  cfg_.min_split = align_up(cfg_.min_split < kMinBlock ? kMinBlock : cfg_.min_split, kUnit);
  // A range must have at least one inner page to be worth decommitting.
  if (cfg_.decommit_block < 2 * os::kPageSize + kMinBlock) cfg_.decommit_block = 2 * os::kPageSize + kMinBlock;
  unsigned n = cfg_.arenas;
  if (n == 0) n = os::possible_cpus() < 16 ? os::possible_cpus() : 16;
  if (n > kMaxArenas) n = kMaxArenas;
  if (n == 0 || !serialize) n = 1;
  if (arena_mem_ && n > arena_mem_bytes_ / sizeof(CoreArena)) n = unsigned(arena_mem_bytes_ / sizeof(CoreArena));
  narenas_ = n;
}

// ---- arenas ----------------------------------------------------------------------------------

CoreArena *CoreHeap::arena_at(unsigned i, bool lock) {
  if (CoreArena *a = arenas_[i].load(std::memory_order_acquire)) return a;
  os::LockGuard g(init_lock_, lock);   // (held already when the heap is locked by this thread)
  if (CoreArena *a = arenas_[i].load(std::memory_order_acquire)) return a;
  // The heap's arena objects live in one region of their own, released with the heap (so a
  // destroyed private heap gives back every byte it reserved).
  if (!arena_mem_) {
    std::size_t bytes = align_up(std::size_t(narenas_) * sizeof(CoreArena), os::kGranularity);
    arena_mem_ = static_cast<char *>(vm::reserve_committed(bytes));
    if (!arena_mem_) return nullptr;
    arena_mem_bytes_ = bytes;
  }
  auto *a = new (arena_mem_ + std::size_t(i) * sizeof(CoreArena)) CoreArena();
  a->init(this, i);
  arenas_[i].store(a, std::memory_order_release);
  arenas_live_.fetch_add(1, std::memory_order_relaxed);
  return a;
}

namespace {
// The arena index + 1 this thread allocated from last (0: none yet); one hint for every heap,
// ignored where it is out of a heap's range. A thread keeps to one arena while it
// finds it free, so the ranges it frees serve its next allocations: picking by CPU alone split one
// thread's memory over the arenas each time it migrated (large_realloc@2: 74 k page faults with
// two arenas, 31 k with one).
constinit thread_local unsigned t_arena_hint __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace

// This thread's last arena, locked (the arena of its CPU the first time); if another thread holds
// it, the next one when that one is free (and that becomes the thread's arena), else wait.
CoreArena *CoreHeap::lock_any(bool lock) {
  unsigned n = narenas_;
  unsigned hint = t_arena_hint;
  unsigned i = n > 1 ? (hint != 0 && hint <= n ? hint - 1 : os::current_cpu_fast() % n) : 0;
  CoreArena *a = arena_at(i, lock);
  if (!a || !serialize_ || !lock) return a;
  if (a->mutex().try_lock()) {
    t_arena_hint = i + 1;
    return a;
  }
  if (n > 1) {
    const unsigned j = (i + 1) % n;
    CoreArena *b = arenas_[j].load(std::memory_order_acquire);
    if (b && b->mutex().try_lock()) {
      t_arena_hint = j + 1;
      return b;
    }
  }
  a->mutex().lock();
  return a;
}

// ---- the operations ----------------------------------------------------------------------------

void *CoreHeap::alloc(std::size_t n, std::size_t align, bool zero, bool lock) {
  if (align < kUnit) align = kUnit;
  if (!serves(n, align)) return nullptr;
  CoreArena *a = lock_any(lock);
  if (!a) return nullptr;
  std::uint64_t now = 0;
  void *p = a->alloc(n, align, zero, now);
  a->enforce_budget();
  unlock_arena(a, lock);
  maybe_purge(now, lock);
  return p;
}

// Judge p against segment s: return its header when p is a live block's user pointer, abort with
// the right message otherwise. Runs with s's arena locked. Only memory known to be committed is
// read: the header word is read only after the bitmap says its page is there; when the header
// does not check out, the segment's block chain is walked from the start (every header on it is
// committed by invariant) to find what p points into.
BlockHeader *CoreHeap::busy_block(Segment *s, const void *p, bool realloc) {
  const char *ctx_invalid = realloc ? "passed to realloc, not the start of a large block" : "not the start of a large block lfh handed out";
  if (s->check != seal_segment(s)) fatal_error(ErrorKind::kHeapCorruption, s, "large-block segment header damaged");
  std::uintptr_t x = addr(p);
  if ((x & (kUnit - 1)) || x < addr(s->first) + kHeaderSize || x >= addr(s->end))
    fatal_error(ErrorKind::kInvalidFree, p, ctx_invalid);
  auto *target = reinterpret_cast<BlockHeader *>(x - kHeaderSize);
  if (s->page_committed(addr(target)) && header_ok(target)) {
    if (!target->is_free() && !target->is_dead()) return target;
    fatal_error(ErrorKind::kDoubleFree, p, realloc ? "passed to realloc after it was freed" : "large block is already free");
  }
  for (BlockHeader *h = s->first_block(); !s->is_end(h);) {
    if (!s->page_committed(addr(h)) || !header_ok(h) || h->units() == 0)
      fatal_error(ErrorKind::kHeapCorruption, h, "large block header overwritten (overrun of the block before it?)");
    BlockHeader *next = h->next();
    if (addr(next) > addr(target)) {
      if (h == target) break;
      if (h->is_free()) fatal_error(ErrorKind::kDoubleFree, p, "inside a free range: freed before");
      fatal_error(ErrorKind::kInvalidFree, p, realloc ? "passed to realloc, interior pointer of a large block" : "interior pointer of a large block");
    }
    h = next;
  }
  fatal_error(ErrorKind::kHeapCorruption, target, "large-block chain of the segment is broken");
}

void CoreHeap::free(Segment *s, void *p, bool lock) {
  CoreArena *a = s->arena;
  lock_arena(a, lock);
  BlockHeader *h = busy_block(s, p, false);
  std::uint64_t now = 0;
  a->free(s, h, now);
  a->enforce_budget();
  unlock_arena(a, lock);
  maybe_purge(now, lock);
}

bool CoreHeap::resize(Segment *s, void *p, std::size_t n, bool lock) {
  CoreArena *a = s->arena;
  lock_arena(a, lock);
  BlockHeader *h = busy_block(s, p, true);
  std::uint64_t now = 0;
  bool ok = n <= cfg_.max_request && a->resize(s, h, n, now);
  a->enforce_budget();
  unlock_arena(a, lock);
  maybe_purge(now, lock);
  return ok;
}

std::size_t CoreHeap::checked_usable_size(Segment *s, void *p, bool lock) {
  CoreArena *a = s->arena;
  lock_arena(a, lock);
  BlockHeader *h = busy_block(s, p, true);
  std::size_t n = h->bytes() - kHeaderSize;
  unlock_arena(a, lock);
  return n;
}

std::size_t CoreHeap::usable_size(const Segment *s, const void *p) const {
  std::uintptr_t x = addr(p);
  if ((x & (kUnit - 1)) || x < addr(s->first) + kHeaderSize || x >= addr(s->end)) return 0;
  auto *h = reinterpret_cast<const BlockHeader *>(x - kHeaderSize);
  if (!s->page_committed(addr(h)) || !header_ok(h) || h->is_free() || h->is_dead()) return 0;
  return h->bytes() - kHeaderSize;
}

bool CoreHeap::owns(Segment *s, const void *p, bool lock) {
  CoreArena *a = s->arena;
  lock_arena(a, lock);
  bool live = usable_size(s, p) != 0;
  unlock_arena(a, lock);
  return live;
}

// ---- purging -----------------------------------------------------------------------------------

void CoreHeap::maybe_purge(std::uint64_t now, bool lock) {
  if (cfg_.purge_delay_ms == 0) return;   // done inline
  if (pending_total.load(std::memory_order_relaxed) == 0 && empty_segments.load(std::memory_order_relaxed) == 0) return;
  if (now == 0) now = os::now_ns();
  std::uint64_t last = last_purge_.load(std::memory_order_relaxed);
  if (now < last + kPurgeCheckNs) return;
  if (!last_purge_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;   // someone else does it
  for (unsigned i = 0; i < narenas_; ++i) {
    CoreArena *a = arena(i);
    if (!a || (serialize_ && lock && !a->mutex().try_lock())) continue;
    a->purge(now, false);
    unlock_arena(a, lock);
  }
  if (direct_) direct_->purge(false, lock);
}

std::size_t CoreHeap::purge(bool force, bool lock) {
  std::size_t given = 0;
  std::uint64_t now = os::now_ns();
  for (unsigned i = 0; i < narenas_; ++i) {
    CoreArena *a = arena(i);
    if (!a) continue;
    lock_arena(a, lock);
    given += a->purge(now, force);
    unlock_arena(a, lock);
  }
  return given;
}

void CoreHeap::release_all() {
  os::LockGuard g(init_lock_);
  for (unsigned i = 0; i < kMaxArenas; ++i) {
    CoreArena *a = arenas_[i].load(std::memory_order_acquire);
    if (!a) continue;
    a->release_all();
    a->~CoreArena();
    arenas_[i].store(nullptr, std::memory_order_release);
  }
  if (arena_mem_) vm::release_committed(arena_mem_, arena_mem_bytes_, arena_mem_bytes_);
  arena_mem_ = nullptr;
  arena_mem_bytes_ = 0;
  pending_total.store(0, std::memory_order_relaxed);
  empty_segments.store(0, std::memory_order_relaxed);
  busy_total.store(0, std::memory_order_relaxed);
  arenas_live_.store(0, std::memory_order_relaxed);
}

// ---- introspection -----------------------------------------------------------------------------

CoreStats CoreHeap::stats(bool lock) {
  CoreStats st{};
  for (unsigned i = 0; i < narenas_; ++i) {
    CoreArena *a = arena(i);
    if (!a) continue;
    ++st.arenas;
    lock_arena(a, lock);
    a->add_stats(&st);
    unlock_arena(a, lock);
  }
  return st;
}

bool CoreHeap::validate(bool lock) {
  bool ok = true;
  for (unsigned i = 0; i < narenas_ && ok; ++i) {
    CoreArena *a = arena(i);
    if (!a) continue;
    lock_arena(a, lock);
    std::size_t free_seen = 0;
    for (Segment *s = a->segments(); s && ok; s = s->next) {
      if (s->check != seal_segment(s) || s->arena != a || vm::pagemap_lookup(s) != &s->hdr) {
        ok = false;
        break;
      }
      std::size_t prev_units = 0;
      bool prev_free = false;
      std::uint32_t busy = 0;
      BlockHeader *h = s->first_block();
      while (!s->is_end(h)) {
        if (!s->page_committed(addr(h)) || !header_ok(h) || h->units() == 0 || h->prev_units != prev_units ||
            (h->is_free() && prev_free) || addr(h) + h->bytes() > addr(s->end)) {
          ok = false;
          break;
        }
        if (h->is_free()) {
          auto *f = reinterpret_cast<FreeBlock *>(h);
          ++free_seen;
          if (f->cls != FreeLists::class_of(h->bytes())) ok = false;
        } else {
          ++busy;
          std::uintptr_t from = align_down(addr(h), os::kPageSize);
          if (s->committed_in(from, align_up(addr(h) + h->bytes(), os::kPageSize)) !=
              align_up(addr(h) + h->bytes(), os::kPageSize) - from)
            ok = false;   // a busy block must be committed entirely
        }
        prev_units = h->units();
        prev_free = h->is_free();
        h = h->next();
      }
      if (ok && (addr(h) != addr(s->end) || busy != s->busy)) ok = false;
    }
    if (ok && free_seen != a->free_lists().count()) ok = false;
    unlock_arena(a, lock);
  }
  return ok;
}

bool CoreHeap::block_info(const void *p, CoreBlockInfo *out, bool lock) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (!o || o->kind != vm::OwnerKind::kCoreSegment) return false;
  auto *s = reinterpret_cast<Segment *>(o);
  if (s->heap != heap_ || addr(p) < addr(s->first)) return false;
  CoreArena *a = s->arena;
  lock_arena(a, lock);
  bool found = false;
  for (BlockHeader *h = s->first_block(); !s->is_end(h) && header_ok(h) && h->units(); h = h->next()) {
    if (addr(p) < addr(h) + h->bytes()) {
      *out = CoreBlockInfo{h, h->user(), h->bytes(), h->is_free(), s, a->index()};
      found = true;
      break;
    }
  }
  unlock_arena(a, lock);
  return found;
}

// ---- fork ----------------------------------------------------------------------------------------

void CoreHeap::lock_all() {
  init_lock_.lock();
  for (unsigned i = 0; i < narenas_; ++i)
    if (CoreArena *a = arena(i)) a->mutex().lock();
}

void CoreHeap::unlock_all() {
  for (unsigned i = narenas_; i-- > 0;)
    if (CoreArena *a = arena(i)) a->mutex().unlock();
  init_lock_.unlock();
}

void CoreHeap::reset_locks_after_fork() {
  for (unsigned i = 0; i < narenas_; ++i)
    if (CoreArena *a = arena(i)) a->mutex().reset_after_fork();
  init_lock_.reset_after_fork();
}

}  // namespace lfh::core
