#include "heap/runtime.h"

#include "heap/front.h"

#include "base/format.h"
#include "base/options.h"
#include "lfh/free_link.h"
#include "os/cpu.h"
#include "vm/meta_pool.h"
#include "vm/span_arena.h"
#include "vm/vm.h"

namespace lfh {

// debug/debug.h — the one call from heap/ up into the debug layer (a declaration, not an include:
// heap/ does not depend on debug/'s headers).
namespace debug {
void init();
}

namespace detail {
constinit std::atomic<int> g_state{0};
constinit Heap g_process_heap;
}  // namespace detail

namespace {

constinit os::Mutex g_heaps_lock;
constinit Heap *g_heaps = nullptr;
constinit RuntimeOptions g_rt{4, 256, true};
constinit bool g_fork_registered = false;

void fork_prepare() {
  front_fork_prepare();
  g_heaps_lock.lock();
  for (Heap *h = g_heaps; h; h = h->next_heap) h->lock_all();
  vm::arena_record_pool().lock();
  subsegment_pool().lock();
  direct_descriptor_pool().lock();
  vm::pagemap_lock();
}

void fork_parent() {
  vm::pagemap_unlock();
  direct_descriptor_pool().unlock();
  subsegment_pool().unlock();
  vm::arena_record_pool().unlock();
  for (Heap *h = g_heaps; h; h = h->next_heap) h->unlock_all();
  g_heaps_lock.unlock();
  front_fork_parent();
}

void fork_child() {
  // The threads that could hold these locks do not exist in the child: reset, don't unlock.
  vm::pagemap_reset_lock();
  os::thread_exit_reset_after_fork();
  direct_descriptor_pool().reset_after_fork();
  subsegment_pool().reset_after_fork();
  vm::arena_record_pool().reset_after_fork();
  for (Heap *h = g_heaps; h; h = h->next_heap) h->reset_locks_after_fork();
  g_heaps_lock.reset_after_fork();
  front_fork_child();
}

void print_verbose() {
  LineBuf l;
  l.str("lfh: initialised: cpus=").dec(os::possible_cpus()).str(" rseq=").str(os::rseq_available() ? "yes" : "no");
  l.str(" lookaside=").str(g_rt.lookaside ? "on" : "off").str(" depth=").dec(g_rt.lookaside_depth);
  l.str("/").dec(g_rt.lookaside_max_depth).str(" commit_limit=").dec(option_u64(Opt::commit_limit)).chr('\n');
  os::write_all(2, l.data(), l.size());
}

}  // namespace

const RuntimeOptions &runtime_options() { return g_rt; }

namespace detail {

void init_slow() {
  int expected = 0;
  if (!g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    // Another thread is initialising (or we are already ready): wait for it.
    while (g_state.load(std::memory_order_acquire) != 2) os::yield_cpu();
    return;
  }
  options_init(os::environment());
  vm::set_commit_limit(option_u64(Opt::commit_limit));
  g_rt.lookaside_depth = std::uint32_t(option_u64(Opt::lookaside_depth));
  g_rt.lookaside_max_depth = std::uint32_t(option_u64(Opt::lookaside_max_depth));
  g_rt.lookaside = option_bool(Opt::lookaside);
  if (g_rt.lookaside_max_depth == 0) g_rt.lookaside = false;
  if (g_rt.lookaside_depth == 0) g_rt.lookaside_depth = 1;

  std::uintptr_t key = 0;
  os::random_bytes(&key, sizeof key);
  g_link_key = key | 1;   // never zero
  os::possible_cpus();
  if (!vm::pagemap_init()) {
    report_line("cannot reserve the page map (16 GiB of address space); aborting");
    os::abort_process();
  }
  if (!g_process_heap.init(0, 0, 0, g_rt.lookaside_depth, g_rt.lookaside_max_depth, g_rt.lookaside)) {
    report_line("cannot set up the process heap; aborting");
    os::abort_process();
  }
  g_heaps = &g_process_heap;
  g_state.store(2, std::memory_order_release);

  if (option_bool(Opt::verbose)) print_verbose();
  if (!g_fork_registered) {
    g_fork_registered = true;
    os::at_fork(fork_prepare, fork_parent, fork_child);
  }
  // The debug layer (LFH_PAGEHEAP*, LFH_DEBUG), once lfh is usable; returns at once when it is
  // off. Last, so that its fork handlers (registered inside) take its locks before the heap's.
  debug::init();
}

void free_unowned(const void *p, vm::OwnerHeader *o) {
  if (!o && recently_released_direct(p)) fatal_error(ErrorKind::kDoubleFree, p, "large block already freed");
  if (!o && core::recently_released_segment(p))
    fatal_error(ErrorKind::kDoubleFree, p, "large block already freed (its segment was released)");
  if (o && o->kind == vm::OwnerKind::kDirectBlock)
    fatal_error(ErrorKind::kInvalidFree, p, "interior pointer of a large block");
  fatal_error(ErrorKind::kInvalidFree, p, "not a block lfh handed out");
}

}  // namespace detail

Heap *owner_heap(const void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (!o) return nullptr;
  if (o->kind == vm::OwnerKind::kLfhSubsegment) return static_cast<Heap *>(reinterpret_cast<Subsegment *>(o)->heap);
  if (o->kind == vm::OwnerKind::kDirectBlock) return static_cast<Heap *>(reinterpret_cast<DirectBlock *>(o)->heap);
  if (o->kind == vm::OwnerKind::kCoreSegment) return static_cast<Heap *>(reinterpret_cast<core::Segment *>(o)->heap);
  return nullptr;
}

bool block_is_live(const void *p, vm::OwnerHeader *o) {
  if (!o) return false;
  switch (o->kind) {
    case vm::OwnerKind::kLfhSubsegment: {
      auto *s = reinterpret_cast<Subsegment *>(o);
      const std::int64_t i = s->index_of(p);
      return i >= 0 && std::uint32_t(i) < s->bump.load(std::memory_order_acquire) && !lfh_block_is_free(s, p);
    }
    case vm::OwnerKind::kDirectBlock: {
      auto *d = reinterpret_cast<DirectBlock *>(o);
      return d->base == p && !d->cached;   // (a cached one was freed)
    }
    case vm::OwnerKind::kCoreSegment: {
      auto *s = reinterpret_cast<core::Segment *>(o);
      auto *h = static_cast<Heap *>(s->heap);
      return h->core().owns(s, p, !h->held_by_me());
    }
    default: return false;
  }
}

std::size_t usable_size(const void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (!o) return 0;
  if (o->kind == vm::OwnerKind::kLfhSubsegment) {
    auto *s = reinterpret_cast<Subsegment *>(o);
    return s->index_of(p) >= 0 ? s->block_size : 0;
  }
  if (o->kind == vm::OwnerKind::kDirectBlock) {
    auto *d = reinterpret_cast<DirectBlock *>(o);
    return d->base == p && !d->cached ? d->committed : 0;
  }
  if (o->kind == vm::OwnerKind::kCoreSegment) {
    auto *s = reinterpret_cast<core::Segment *>(o);
    return static_cast<Heap *>(s->heap)->core().usable_size(s, p);
  }
  return 0;
}

void register_heap(Heap *h) {
  os::LockGuard g(g_heaps_lock);
  // Insert after the process heap (which stays first).
  h->prev_heap = &detail::g_process_heap;
  h->next_heap = detail::g_process_heap.next_heap;
  if (h->next_heap) h->next_heap->prev_heap = h;
  detail::g_process_heap.next_heap = h;
}

bool for_each_heap(bool (*fn)(Heap &, void *), void *arg) {
  os::LockGuard g(g_heaps_lock);
  for (Heap *h = g_heaps; h; h = h->next_heap)
    if (!fn(*h, arg)) return false;
  return true;
}

void unregister_heap(Heap *h) {
  os::LockGuard g(g_heaps_lock);
  if (h->prev_heap) h->prev_heap->next_heap = h->next_heap;
  if (h->next_heap) h->next_heap->prev_heap = h->prev_heap;
  h->next_heap = h->prev_heap = nullptr;
}

}  // namespace lfh
