// heap/heap.cpp — the slow paths of a heap: refills, overflows, large blocks, realloc, trimming.
#include "heap/heap.h"

#include <cstring>

#include "base/options.h"
#include "heap/balance_hooks.h"
#include "heap/runtime.h"
#include "lfh/free_link.h"
#include "os/report.h"
#include "vm/vm.h"

namespace lfh {

using namespace lfh_buckets;

bool Heap::init(unsigned flags, std::size_t initial, std::size_t maximum, std::uint32_t depth,
                std::uint32_t max_depth, bool lookaside) {
  (void)initial;
  flags_ = flags;
  serialize_ = !(flags & kHeapNoSerialize);
  // Freed spans kept committed for reuse by any bucket: 16 MB (was 4). A thread that frees a
  // 15 MB burst of small blocks and exits left 11 MB of spans to be purged and refaulted by the
  // next one (thread_bursts: 320 → 70 madvise, 9 k → 6.5 k faults); spans left free for a whole
  // balance tick are purged anyway (trim_aged), so RSS still follows live memory.
  arena_.configure((flags & kHeapLocked) != 0, maximum, maximum ? 0 : 16 * kMiB);
  direct_.configure(this, (flags & kHeapLocked) != 0, serialize_, option_bool(Opt::large_pages));
  core_.configure(this, (flags & kHeapLocked) != 0, serialize_, (flags & kHeapSecureFree) != 0,
                  core::config_from_options());
  if (maximum == 0) direct_.enable_cache(&core_);   // freed regions kept for the purge delay
  for (unsigned b = 0; b < kBuckets; ++b) buckets_[b].init(b, this, &arena_, this == &lfh::detail::g_process_heap);
  maximum_ = maximum ? align_up(maximum, vm::kGranularity) : 0;
  if (maximum_) {
    arena_.set_budget_check([](void *ctx, std::size_t bytes) { return static_cast<Heap *>(ctx)->fixed_room_for(bytes); },
                            this);
    if (!arena_.reserve_now()) return false;   // a fixed heap reserves its whole range up front
  }
  use_lookaside_ = false;
  if (serialize_ && lookaside && depth > 0) {
    if (!lookaside_.init(os::possible_cpus(), depth, max_depth)) return false;
    use_lookaside_ = true;
    lookaside_configured_ = true;
  }
  return true;
}

void Heap::release_all() {
  // Unregister every subsegment from the page map before its memory goes: a stale free() of one
  // of its blocks must then read "invalid free", not follow a dangling header.
  for (unsigned b = 0; b < kBuckets; ++b)
    buckets_[b].release_descriptors();
  direct_.release_all();
  core_.release_all();
  arena_.release_all();
  if (lookaside_configured_) lookaside_.destroy();
  use_lookaside_ = lookaside_configured_ = false;
}

bool lfh_link_target_is_block(const Subsegment *s, std::uintptr_t d) {
  const vm::OwnerHeader *o = vm::pagemap_lookup(ptr(d));
  if (!o || o->kind != vm::OwnerKind::kLfhSubsegment) return false;
  const auto *n = reinterpret_cast<const Subsegment *>(o);
  return n->bucket == s->bucket && n->index_of(ptr(d)) >= 0;
}

void *Heap::lfh_refill(LookasideList &l, unsigned b) {
  lfh::detail::balance_slow_path();
  bump_counter(l.misses);
  raise_depth_on_miss(l);
  std::uint32_t want = __atomic_load_n(&l.depth, __ATOMIC_RELAXED) / 2 + 1;
  void *head, *tail;
  std::uint32_t n = buckets_[b].take(want, &head, &tail);
  if (n == 0 && lfh::detail::balance_relieve_pressure(this)) n = buckets_[b].take(want, &head, &tail);
  if (n == 0) return nullptr;
  void *p = head;
  if (n > 1) l.stack.push_chain(load_link(head), tail, n - 1);
  clear_link(p);
  return p;
}

void *Heap::lfh_alloc_unbuffered(unsigned b) {
  void *head, *tail;
  // The thread that locked the heap (lfh_heap_lock) already holds the bucket locks.
  bool serialize = serialize_ && !held_by_me();
  lfh::detail::balance_slow_path();
  if (buckets_[b].take(1, &head, &tail, serialize) == 0 &&
      (!lfh::detail::balance_relieve_pressure(this) || buckets_[b].take(1, &head, &tail, serialize) == 0))
    return nullptr;
  clear_link(head);
  return head;
}

void Heap::lfh_overflow(LookasideList &l, unsigned b, void *p) {
  bump_counter(l.overflows);
  // The list is at its depth: detach it, keep its top (hottest) half plus p, and give the bottom
  // half back to the bucket in one locked batch.
  std::uint32_t n;
  void *chain = l.stack.pop_all(&n);
  std::uint32_t keep = n / 2;
  void *keep_tail = nullptr, *rest = chain;
  for (std::uint32_t i = 0; i < keep; ++i) {
    keep_tail = rest;
    rest = load_link(rest);
  }
  if (keep) {
    store_link(p, chain);
    l.stack.push_chain(p, keep_tail, keep + 1);
  } else {
    l.stack.push_chain(p, p, 1);
  }
  if (n - keep) buckets_[b].give_back_chain(rest, n - keep);
}

void Heap::invalid_lfh_free(void *p) { fatal_error(ErrorKind::kInvalidFree, p, "not the start of a block lfh handed out"); }
void Heap::double_lfh_free(void *p) { fatal_error(ErrorKind::kDoubleFree, p, "block is already free"); }

void Heap::lfh_free_checked(Subsegment *s, void *p) {
  if (flags_ & kHeapSecureFree) std::memset(p, 0, s->block_size);
  if (LFH_LIKELY(__atomic_load_n(&use_lookaside_, __ATOMIC_RELAXED))) {
    LookasideList &l = lookaside_.list(os::current_cpu_fast(), s->bucket);
    bump_counter(l.frees);
    if (LFH_LIKELY(l.stack.push(p, __atomic_load_n(&l.depth, __ATOMIC_RELAXED)))) return;
    lfh_overflow(l, s->bucket, p);
    return;
  }
  buckets_[s->bucket].give_back_one(s, p, serialize_ && !held_by_me());
}

void *Heap::large_alloc(std::size_t n, std::size_t align, bool *zeroed) {
  lfh::detail::balance_slow_path();
  void *p = large_alloc_once(n, align, zeroed);
  // Out of memory: the balance manager trims every heap, then one more try.
  if (LFH_UNLIKELY(p == nullptr) && lfh::detail::balance_relieve_pressure(this)) p = large_alloc_once(n, align, zeroed);
  return p;
}

void *Heap::large_alloc_once(std::size_t n, std::size_t align, bool *zeroed) {
  // Up to the direct threshold: the core heap (a fixed heap keeps large blocks direct, where its
  // budget counts them). Its calloc clears only pages that were used before.
  if (LFH_LIKELY(maximum_ == 0) && core_.serves(n, align)) {
    void *p = core_.alloc(n, align, zeroed != nullptr, !held_by_me());
    if (p && zeroed) *zeroed = true;
    return p;
  }
  if (LFH_UNLIKELY(maximum_ != 0) && !fixed_room_for(align_up(n, vm::kPageSize))) return nullptr;
  bool reused = false;
  DirectBlock *d = direct_.alloc(n, align ? align : vm::kGranularity, !held_by_me(), &reused);
  if (!d) return nullptr;
  if (zeroed) *zeroed = !reused;   // fresh pages from the kernel are demand-zero
  return d->base;
}

void Heap::direct_free(DirectBlock *d) {
  if (flags_ & kHeapSecureFree) std::memset(d->base, 0, d->committed);
  direct_.free(d, !held_by_me());
}

void *Heap::alloc_zeroed(std::size_t n) {
  if (n <= kMaxSize) {
    void *p = lfh_alloc(bucket_for_request(n));
    if (p) std::memset(p, 0, n);
    return p;
  }
  bool zeroed = false;
  void *p = large_alloc(n, 0, &zeroed);
  if (p && !zeroed) std::memset(p, 0, n);
  return p;
}

void *Heap::alloc_aligned(std::size_t align, std::size_t n) {
  if (align <= 8) return alloc(n);
  if (n == 0) n = 1;
  // LFH blocks are aligned to the largest power of two dividing their size (≤ 4096): a bucket
  // whose size is a multiple of `align` gives aligned blocks with no slack at all.
  if (align <= 4096) {
    std::size_t sz;
    if (add_overflows(n, align - 1, &sz)) return nullptr;
    sz &= ~(align - 1);
    if (sz <= kMaxSize) return lfh_alloc(bucket_of(sz));
  }
  return large_alloc(n, align, nullptr);
}

void *Heap::realloc(void *p, std::size_t n, bool in_place_only) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (o && o->kind == vm::OwnerKind::kLfhSubsegment) {
    auto *s = reinterpret_cast<Subsegment *>(o);
    std::int64_t idx = s->index_of(p);
    if (idx < 0 || std::uint32_t(idx) >= s->bump.load(std::memory_order_acquire))
      fatal_error(ErrorKind::kInvalidFree, p, "passed to realloc, not the start of a block lfh handed out");
    if (lfh_block_is_free(s, p)) fatal_error(ErrorKind::kDoubleFree, p, "passed to realloc after it was freed");
    std::size_t bs = s->block_size;
    // Stay in place while the block fits and is not more than twice what is needed, and keeps
    // the alignment a fresh block of n would have (16 unless n's bucket is an 8-byte step, see
    // bucket_for_request): an 8-aligned 24-byte block must not be kept for a 16-byte request.
    const unsigned want = bucket_for_request(n);
    const bool needs16 = block_size(want) % 16 == 0;
    if (n <= bs && (n > bs / 2 || bs <= 16 || want == s->bucket) && (!needs16 || (addr(p) & 15) == 0)) return p;
    if (in_place_only) return nullptr;
    void *q = alloc(n);
    if (!q) return nullptr;
    std::memcpy(q, p, n < bs ? n : bs);
    lfh_free(s, p);
    return q;
  }
  if (o && o->kind == vm::OwnerKind::kCoreSegment) {
    auto *s = reinterpret_cast<core::Segment *>(o);
    const bool lock = !held_by_me();
    const std::size_t have = core_.checked_usable_size(s, p, lock);   // aborts on a bad pointer
    // In place: into a free next block, or shrinking (the tail becomes free). Below 16 KB the
    // block moves to the LFH; above the threshold to a direct block.
    if ((n > kMaxSize || in_place_only) && core_.resize(s, p, n, lock)) return p;
    if (in_place_only) return nullptr;
    void *q = alloc(n);
    if (!q) return nullptr;
    std::memcpy(q, p, have < n ? have : n);   // only the live bytes
    core_.free(s, p, lock);
    return q;
  }
  if (o && o->kind == vm::OwnerKind::kDirectBlock) {
    auto *d = reinterpret_cast<DirectBlock *>(o);
    if (d->base != p) fatal_error(ErrorKind::kInvalidFree, p, "passed to realloc, interior pointer of a large block");
    if (d->cached) fatal_error(ErrorKind::kDoubleFree, p, "passed to realloc after it was freed");
    // Shrinking below the LFH limit moves the block to the LFH when that saves real memory.
    bool move_down = n <= kMaxSize && !in_place_only;
    if (!move_down && direct_.resize(d, n, !held_by_me())) return p;
    if (in_place_only) return nullptr;
    // Still a direct block but past its headroom: move the pages (mremap) instead of copying.
    if (maximum_ == 0 && !core_.serves(n, 0))
      if (void *q = direct_.move(d, n, !held_by_me())) return q;
    void *q = alloc(n);
    if (!q) return nullptr;
    std::size_t live = d->committed < n ? d->committed : n;
    std::memcpy(q, p, live);
    direct_free(d);
    return q;
  }
  fatal_error(ErrorKind::kInvalidFree, p, "passed to realloc, not a block lfh handed out");
}

void Heap::lfh_flush_lookaside() {
  if (!lookaside_configured_) return;
  for (std::uint32_t c = 0; c < lookaside_.cpus(); ++c) {
    for (unsigned b = 0; b < kBuckets; ++b) {
      LookasideList &l = lookaside_.list(c, b);
      std::uint32_t n;
      void *chain = l.stack.pop_all(&n);
      if (n) buckets_[b].give_back_chain(chain, n, !held_by_me());
    }
  }
}

std::size_t Heap::trim() {
  lfh_flush_lookaside();
  for (unsigned b = 0; b < kBuckets; ++b) buckets_[b].trim(serialize_ && !held_by_me());
  std::size_t given = core_.purge(/*force=*/true, !held_by_me()) + direct_.purge(/*force=*/true, !held_by_me());
  return given + arena_.trim();
}

void Heap::stats(HeapStats *out) {
  HeapStats st{};
  if (lookaside_configured_) {
    for (std::uint32_t c = 0; c < lookaside_.cpus(); ++c) {
      for (unsigned b = 0; b < kBuckets; ++b) {
        const LookasideList &l = lookaside_.list(c, b);
        st.lfh_allocs += __atomic_load_n(&l.allocs, __ATOMIC_RELAXED);
        st.lfh_frees += __atomic_load_n(&l.frees, __ATOMIC_RELAXED);
        st.lookaside_misses += __atomic_load_n(&l.misses, __ATOMIC_RELAXED);
        st.lookaside_overflows += __atomic_load_n(&l.overflows, __ATOMIC_RELAXED);
      }
    }
  }
  for (unsigned b = 0; b < kBuckets; ++b) {
    BucketStats bs = buckets_[b].stats();
    st.lfh_blocks_out += bs.blocks_out;
    st.lfh_subsegments += bs.subsegments;
    st.lfh_bytes_out += bs.blocks_out * block_size(b);
  }
  DirectStats ds = direct_.stats();
  st.direct_blocks = ds.blocks;
  st.direct_committed = ds.committed;
  st.direct_reserved = ds.reserved;
  st.direct_allocs = ds.allocs;
  st.direct_frees = ds.frees;
  vm::SpanArena::Info ai = arena_.info();
  st.arena_reserved = ai.reserved;
  st.arena_carved = ai.carved;
  st.arena_cached_committed = ai.cached_committed;
  st.arena_cached_purged = ai.cached_purged;
  core::CoreStats cs = core_.stats(!held_by_me());
  st.core_segments = cs.segments;
  st.core_reserved = cs.reserved;
  st.core_committed = cs.committed;
  st.core_blocks = cs.blocks;
  st.core_busy_bytes = cs.busy_bytes;
  st.core_free_bytes = cs.free_bytes;
  st.core_pending_bytes = cs.pending_bytes;
  st.core_allocs = cs.allocs;
  st.core_frees = cs.frees;
  st.core_decommitted = cs.decommitted;
  st.direct_cached_bytes = ds.cached_bytes;
  st.direct_cache_hits = ds.cache_hits;
  *out = st;
}

void Heap::lock_all() {
  // A thread that holds the heap (lfh_heap_lock) and forks already owns the bucket locks.
  if (!held_by_me()) {
    for (unsigned b = 0; b < kBuckets; ++b) buckets_[b].mutex().lock();
    direct_.mutex().lock();
    core_.lock_all();
  }
  arena_.lock();
}

void Heap::unlock_all() {
  arena_.unlock();
  if (!held_by_me()) {
    core_.unlock_all();
    direct_.mutex().unlock();
    for (unsigned b = kBuckets; b-- > 0;) buckets_[b].mutex().unlock();
  }
}

void Heap::reset_locks_after_fork() {
  arena_.reset_after_fork();
  direct_.mutex().reset_after_fork();
  core_.reset_locks_after_fork();
  for (unsigned b = 0; b < kBuckets; ++b) buckets_[b].mutex().reset_after_fork();
}

}  // namespace lfh
