// heap/runtime.h — process-wide state: initialisation on first use, the process heap, the list of
// live heaps, fork handling, and free() dispatch by owner.
//
// Initialisation happens on the first allocator call, whenever that is (inside ld.so, before any
// constructor, from any thread): options are read, the page map reserved, the link key drawn, the
// process heap set up. It calls nothing that allocates. Only once lfh is usable does it register
// fork handlers (pthread_atfork may itself call malloc).
#pragma once
#include <atomic>

#include "core/direct.h"
#include "heap/heap.h"
#include "lfh/subsegment.h"
#include "os/report.h"
#include "vm/page_map.h"

namespace lfh {

namespace detail {
extern LFH_HIDDEN std::atomic<int> g_state;   // 0 not started, 1 initialising, 2 ready
extern LFH_HIDDEN Heap g_process_heap;
void init_slow();
[[noreturn]] void free_unowned(const void *p, vm::OwnerHeader *o);
}  // namespace detail

LFH_ALWAYS_INLINE Heap &process_heap() {
  if (LFH_UNLIKELY(detail::g_state.load(std::memory_order_acquire) != 2)) detail::init_slow();
  return detail::g_process_heap;
}
inline bool initialized() { return detail::g_state.load(std::memory_order_acquire) == 2; }

// The heap that owns p's block (nullptr: none).
Heap *owner_heap(const void *p);

// Is p the start of a live plain heap block (LFH, core or direct tier) of any heap? `o` is p's
// page-map owner (nullptr: none). Never faults; lfh_owns, memcheck mode and tag mode ask it.
bool block_is_live(const void *p, vm::OwnerHeader *o);

// free() of any lfh block, whatever heap it belongs to. p non-null.
LFH_ALWAYS_INLINE void free_block(void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (LFH_LIKELY(o != nullptr && o->kind == vm::OwnerKind::kLfhSubsegment)) {
    auto *s = reinterpret_cast<Subsegment *>(o);
    static_cast<Heap *>(s->heap)->lfh_free(s, p);
    return;
  }
  if (o != nullptr && o->kind == vm::OwnerKind::kCoreSegment) {
    auto *s = reinterpret_cast<core::Segment *>(o);
    static_cast<Heap *>(s->heap)->core_free(s, p);   // checks p against the boundary tags
    return;
  }
  if (o != nullptr && o->kind == vm::OwnerKind::kDirectBlock) {
    auto *d = reinterpret_cast<DirectBlock *>(o);
    if (LFH_LIKELY(d->base == p)) {
      static_cast<Heap *>(d->heap)->direct_free(d);
      return;
    }
  }
  detail::free_unowned(p, o);
}

// Usable size of an lfh block; 0 for a pointer lfh does not own.
std::size_t usable_size(const void *p);

// Heap registry (private heaps). The process heap is always first.
void register_heap(Heap *h);
void unregister_heap(Heap *h);
// Call fn(heap) for every live heap, under the registry lock. Stops when fn returns false.
bool for_each_heap(bool (*fn)(Heap &, void *), void *arg);

// Options as read at start (cached here so the hot paths read plain globals).
struct RuntimeOptions {
  std::uint32_t lookaside_depth;
  std::uint32_t lookaside_max_depth;
  bool lookaside;
};
const RuntimeOptions &runtime_options();

}  // namespace lfh
