// heap/heap_walk.cpp — HeapWalk and HeapValidate for a heap: every block visited, every invariant
// checked, the first problem described in one `lfh:` line instead of a crash.
#include "base/format.h"
#include "heap/heap.h"
#include "lfh/free_link.h"
#include "os/report.h"
#include "vm/vm.h"

namespace lfh {

using namespace lfh_buckets;

namespace {

// RAII: hold the heap lock (recursive for the owner) for a walk or a validation.
class HeapLockScope {
 public:
  explicit HeapLockScope(Heap &h) : h_(h) { h_.lock_heap(); }
  ~HeapLockScope() { h_.unlock_heap(); }

 private:
  Heap &h_;
};

bool problem(const char *what, const void *where) {
  LineBuf l;
  l.str("lfh: heap validation failed: ").str(what).str(" at ").ptr(where).chr('\n');
  os::write_all(2, l.data(), l.size());
  return false;
}

// Is `b` a block boundary of subsegment `s` (a decoded link target)?
bool block_of(const Subsegment *s, const void *b) {
  return s->index_of(b) >= 0 && std::uint32_t(s->index_of(b)) < s->bump.load(std::memory_order_relaxed);
}

bool validate_subsegment(const Heap *heap, unsigned bucket, const Subsegment *s) {
  if (s->hdr.kind != vm::OwnerKind::kLfhSubsegment) return problem("subsegment header kind overwritten", s);
  if (s->bucket != bucket || s->block_size != block_size(bucket) || s->capacity != blocks_per_span(bucket) ||
      s->granules != span_granules(bucket) || s->heap != heap)
    return problem("subsegment header fields inconsistent", s);
  if (s->first != s->base + first_block_offset(bucket))
    return problem("subsegment first-block pointer overwritten", s);
  const std::uint32_t bump = s->bump.load(std::memory_order_relaxed);
  if (bump > s->capacity) return problem("subsegment bump index past capacity", s);
  for (std::size_t g = 0; g < s->granules; ++g)
    if (vm::pagemap_lookup(s->base + g * vm::kGranularity) != &s->hdr)
      return problem("page map entry does not point to its subsegment", s);
  // Walk the free list: every link a block of this subsegment, no cycle, count exact.
  std::uint32_t n = 0;
  for (const void *b = s->free_list; b; b = load_link(b)) {
    if (!block_of(s, b)) return problem("subsegment free list links outside its blocks", b);
    if (++n > s->free_count) return problem("subsegment free list longer than its count (cycle?)", b);
  }
  if (n != s->free_count) return problem("subsegment free list shorter than its count", s);
  if (s->used + s->free_count + (s->capacity - bump) != s->capacity)
    return problem("subsegment block accounting does not add up", s);
  if ((s->free_count || bump < s->capacity) && !s->in_partial)
    return problem("subsegment with free blocks missing from its bucket's partial list", s);
  return true;
}

// The list is taken off whole (one CAS) and walked while no other thread can reach it, then put
// back. Walking it in place raced with the process heap's thread magazines, which refill from
// and overflow to the lists without the bucket locks that the heap lock holds: a refill could
// take the list and hand its blocks out, and their owners' writes then read as links (seen once,
// in a CI run of reliability_validate_concurrent); so could a private heap's pop that passed the
// look-aside check just before lock_heap. A list found broken stays off (its blocks are lost
// with it; the heap is corrupt anyway).
bool validate_lookaside_list(Heap &h, std::uint32_t cpu, unsigned bucket) {
  LookasideList &l = h.lookaside().list(cpu, bucket);
  std::uint32_t count = 0;
  void *const chain = l.stack.pop_all(&count);
  std::uint32_t n = 0;
  void *tail = nullptr;
  for (void *b = chain; b; b = load_link(b)) {
    const vm::OwnerHeader *o = vm::pagemap_lookup(b);
    if (!o || o->kind != vm::OwnerKind::kLfhSubsegment) return problem("look-aside list links outside the LFH", b);
    const auto *s = reinterpret_cast<const Subsegment *>(o);
    if (s->bucket != bucket || s->heap != &h || !block_of(s, b))
      return problem("look-aside list holds a block of another bucket or heap", b);
    if (++n > count) return problem("look-aside list longer than its count (cycle?)", b);
    tail = b;
  }
  if (n != count) return problem("look-aside list count does not match its blocks", chain);
  if (chain) l.stack.push_chain(chain, tail, count);
  return true;
}

}  // namespace

bool Heap::walk(WalkFn fn, void *arg) {
  HeapLockScope lock(*this);
  for (unsigned b = 0; b < kBuckets; ++b) {
    bool go = true;
    buckets_[b].for_each_subsegment([&](Subsegment *s) {
      const std::uint32_t bump = s->bump.load(std::memory_order_relaxed);
      for (std::uint32_t i = 0; go && i < s->capacity; ++i) {
        char *p = s->first + std::size_t(i) * s->block_size;
        bool in_use = i < bump && !lfh_block_is_free(s, p);
        if (!fn(WalkEntry{p, s->block_size, in_use, 0}, arg)) go = false;
      }
    });
    if (!go) return true;
  }
  bool go = true;
  core_.for_each_block([&](void *p, std::size_t n, bool busy) {
    if (go && !fn(WalkEntry{p, n, busy, 1}, arg)) go = false;
  }, /*lock=*/false);   // lock_heap holds the arena locks
  direct_.for_each([&](DirectBlock *d) {
    if (go && !fn(WalkEntry{d->base, d->committed, true, 2}, arg)) go = false;
  });
  return true;
}

bool Heap::validate() {
  HeapLockScope lock(*this);
  for (unsigned b = 0; b < kBuckets; ++b) {
    bool ok = true;
    buckets_[b].for_each_subsegment([&](Subsegment *s) {
      if (ok) ok = validate_subsegment(this, b, s);
    });
    if (!ok) return false;
    if (lookaside_configured_)
      for (std::uint32_t c = 0; c < lookaside_.cpus(); ++c)
        if (!validate_lookaside_list(*this, c, b)) return false;
  }
  if (!core_.validate(/*lock=*/false)) return problem("large-block segment (core heap) inconsistent", this);
  bool ok = true;
  std::uint64_t committed = 0;
  direct_.for_each([&](DirectBlock *d) {
    if (!ok) return;
    if (d->hdr.kind != vm::OwnerKind::kDirectBlock || d->heap != this) ok = problem("large block descriptor overwritten", d->base);
    else if (d->committed > d->reserved || d->committed % vm::kPageSize) ok = problem("large block sizes inconsistent", d->base);
    else if (vm::pagemap_lookup(d->base) != &d->hdr) ok = problem("page map entry does not point to its large block", d->base);
    committed += d->committed;
  });
  if (!ok) return false;
  if (committed != direct_.committed_relaxed()) return problem("large block commit accounting does not add up", this);
  if (arena_.used_relaxed() + committed > vm::totals().committed)
    return problem("heap holds more committed memory than the process commit charge", this);
  return true;
}

bool Heap::validate_block(const void *p) {
  const vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (!o) return problem("not a block of any heap", p);
  if (o->kind == vm::OwnerKind::kLfhSubsegment) {
    const auto *s = reinterpret_cast<const Subsegment *>(o);
    if (s->heap != this) return problem("block belongs to another heap", p);
    if (!block_of(s, p)) return problem("not the start of a block", p);
    if (lfh_block_is_free(s, p)) return problem("block is free", p);
    return true;
  }
  if (o->kind == vm::OwnerKind::kCoreSegment) {
    const auto *s = reinterpret_cast<const core::Segment *>(o);
    if (s->heap != this) return problem("block belongs to another heap", p);
    if (core_.usable_size(s, p) == 0) return problem("not the start of a live block", p);
    return true;
  }
  if (o->kind == vm::OwnerKind::kDirectBlock) {
    const auto *d = reinterpret_cast<const DirectBlock *>(o);
    if (d->heap != this) return problem("block belongs to another heap", p);
    if (d->base != p) return problem("not the start of a block", p);
    if (d->cached) return problem("block is free", p);
    return true;
  }
  return problem("not a block this heap handed out", p);
}

}  // namespace lfh
