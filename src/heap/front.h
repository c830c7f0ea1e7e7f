// heap/front.h — the process heap's front end for malloc/free of small blocks: the calling
// thread's magazine (lookaside/magazine.h) first, with no atomic at all; the per-CPU look-aside
// lists and the buckets behind it (front.cpp, Heap).
//
// Only the process heap has magazines: private heaps are often short-lived or single-threaded,
// and a magazine would pin their blocks in threads that outlive them.
#pragma once
#include "heap/runtime.h"
#include "lfh/free_link.h"
#include "lookaside/magazine.h"

namespace lfh {

namespace detail {
void *front_refill(unsigned bucket);            // A empty (or magazine not set up yet)
void front_overflow(Subsegment *s, void *p);    // F full or empty (or magazine not set up yet)
void front_free_lfh_suspect(Subsegment *s, void *p);   // front_free_lfh's double-free test, out of line
}  // namespace detail

// The calling thread's slot for bucket b, its address computed once: the empty asm makes the
// pointer opaque, so the compiler cannot re-derive it from the thread pointer for each field it
// touches (g++ did so for the counters: 4 more instructions per call).
LFH_ALWAYS_INLINE MagazineSlot &front_slot(unsigned b) {
  MagazineSlot *m = &t_magazine.slots[b];
  asm("" : "+r"(m));
  return *m;
}

// A block of `bucket` from the calling thread's magazine, or nullptr when it has none (no call:
// for callers that must stay leaf functions, such as tag mode's fast path).
LFH_ALWAYS_INLINE void *front_pop(unsigned bucket) {
  MagazineSlot &m = front_slot(bucket);
  void *p;
  // F first, LIFO: the block freed last is the one most likely still in cache. F's bottom block
  // stays (its recorded tail must remain F's), so F serves while it holds two or more; then A.
  p = m.free_top;
  if (LFH_LIKELY(p != m.free_tail)) {   // F holds two or more (an empty F has both null)
    m.free_top = load_link(p);
    ++m.free_room;
  } else {
    p = m.alloc_top;
    if (LFH_UNLIKELY(p == nullptr)) return nullptr;
    m.alloc_top = load_link(p);
    --m.alloc_count;
    // A's blocks are often long out of cache (a subsegment's free list, another CPU's list): start
    // loading the next one now, so the next call finds its link there (tcmalloc does the same).
    __builtin_prefetch(m.alloc_top, 1);
  }
  bump_owned_counter(m.allocs);
  clear_link(p);
  return p;
}

// A block of `bucket` from the process heap, or nullptr when memory cannot be had.
LFH_ALWAYS_INLINE void *front_alloc(unsigned bucket) {
  if (void *p = front_pop(bucket); LFH_LIKELY(p != nullptr)) return p;
  return detail::front_refill(bucket);
}

// free() of a checked live block p of s, a subsegment of the process heap: onto the calling
// thread's free stack.
LFH_ALWAYS_INLINE void front_push(Subsegment *s, void *p) {
  MagazineSlot &m = front_slot(s->bucket);
  if (LFH_LIKELY(m.free_room != 0)) {   // 1 ≤ |F| < cap and the magazine active (magazine.h)
    store_link(p, m.free_top);
    m.free_top = p;
    --m.free_room;   // (frees are not counted here: MagazineSlot::net_in)
    // F now mixes subsegments unless s is F's. Branch-free (a select and a store every time): as
    // a branch, its outcome depends on the program's order of frees, and its mispredictions cost
    // wl_larson 45 % (0.41 -> 0.60 s).
    Subsegment *sub = m.free_sub;
    m.free_sub = sub == s ? sub : nullptr;
    return;
  }
  detail::front_overflow(s, p);
}

// free() of a live LFH block of any heap that the caller has checked (a block start of s, handed
// out, not free): tag mode's fast path, which knows so from the block's sealed record.
LFH_ALWAYS_INLINE void front_free_lfh_checked(Subsegment *s, void *p) {
  if (LFH_LIKELY(s->hdr.process_lfh)) return front_push(s, p);
  static_cast<Heap *>(s->heap)->lfh_free_checked(s, p);
}

// The checks of free() on an LFH block (invalid / double free are fatal), then `then(s, p)`.
template <void (*then)(Subsegment *, void *)>
LFH_ALWAYS_INLINE void front_check_then(Subsegment *s, void *p) {
  Heap::lfh_check_bounds(s, p);
  // lfh_block_is_free's inline half, reduced to one compare: a first word that decodes below the
  // address limit might be a free link (for a live block that happens with probability 2^-17,
  // see lfh/free_link.h) and goes out of line, as a tail call that also finishes the free: no
  // call returns here, so the fast path needs no stack frame.
  const std::uintptr_t d = decoded_first_word(p);
  if (LFH_UNLIKELY(d < os::kAddressLimit)) return detail::front_free_lfh_suspect(s, p);
  then(s, p);
}

// free() of an LFH block of any heap; checks it first.
LFH_ALWAYS_INLINE void front_free_lfh(Subsegment *s, void *p) { front_check_then<front_free_lfh_checked>(s, p); }

// free() of any block p (non-null) whose page-map owner is o. The process heap's LFH blocks are
// told apart by one 16-bit compare on the owner's header (kind and process_lfh, vm/page_map.h),
// with no load of the owning heap.
LFH_ALWAYS_INLINE bool front_free_owned(vm::OwnerHeader *o, void *p) {
  if (LFH_LIKELY(o != nullptr && vm::owner_is_process_lfh(o))) {
    front_check_then<front_push>(reinterpret_cast<Subsegment *>(o), p);
    return true;
  }
  if (o != nullptr && o->kind == vm::OwnerKind::kLfhSubsegment) {
    front_free_lfh(reinterpret_cast<Subsegment *>(o), p);
    return true;
  }
  return false;
}

// free() of any lfh block. p non-null.
LFH_ALWAYS_INLINE void front_free(void *p) {
  if (!front_free_owned(vm::pagemap_lookup(p), p)) free_block(p);
}

// Magazine statistics of every live thread plus those folded in by exited threads.
void front_stats(std::uint64_t *allocs, std::uint64_t *frees);
// Per bucket (out[kBuckets]): the same counts, and the blocks the magazines hold now.
struct MagazineBucketStats {
  std::uint64_t allocs, frees, cached;
};
void front_bucket_stats(MagazineBucketStats *out);
// Empty the calling thread's magazine into its buckets (trim).
void front_flush_current_thread();
// fn(magazine, arg) for every live thread's magazine, under the registry lock (the balance tick
// and statistics). fn may read the counters with relaxed loads and set flush_requested; it must
// not touch the slots, which belong to their thread.
void front_for_each_magazine(void (*fn)(ThreadMagazine &, void *), void *arg);
// The balance tick, for a thread whose flush request went unanswered for a whole tick (it ran no
// slow path: asleep, or busy elsewhere): give its stash's chains to their buckets, unless the
// thread holds the stash right now. Only from a front_for_each_magazine callback (the registry
// lock keeps tm alive).
void front_drain_stash(ThreadMagazine &tm);
// The magazine an exited thread left for the next thread to adopt (front.cpp): to the buckets
// once it has waited through a whole balance tick, or at once with `all` (trim, pressure).
// `may_wait` false (the tick): takes no lock it would have to wait for; what a busy bucket would
// get waits for the next call. Nothing while the calling thread holds the process heap.
void front_tend_orphans(bool all, bool may_wait = true);
// Affinity slots in use (front.cpp: one per CPU, at most 16; 0 before the first thread registers).
unsigned front_affinity_slots();
// Adds the blocks each bucket has in orphaned magazines to per_bucket[kBuckets].
void front_orphan_cached(std::uint64_t *per_bucket);
// Fork protection for the magazine registry and the orphans.
void front_fork_prepare();
void front_fork_parent();
void front_fork_child();

}  // namespace lfh
