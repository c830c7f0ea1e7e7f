// heap/heap_ops.cpp — whole-heap operations for private heaps: lock/unlock (HeapLock), the
// fixed-size budget, secure zeroing.
#include <cstring>

#include "heap/heap.h"
#include "vm/vm.h"

namespace lfh {

bool Heap::held_by_me() const {
  return __atomic_load_n(&lock_owner_, __ATOMIC_RELAXED) == os::thread_id();
}

void Heap::lock_heap() {
  if (held_by_me()) {
    ++lock_depth_;
    return;
  }
  heap_lock_.lock();
  // Route new operations through the bucket locks, then take them all: a thread that already
  // passed the look-aside check finishes its one push/pop; walk/validate classify blocks by their
  // encoded state (lfh_block_is_free), so such a straggler cannot make them wrong.
  __atomic_store_n(&use_lookaside_, false, __ATOMIC_SEQ_CST);
  // Bucket and large-block locks, not the span arena's: the arena is only reached under a bucket
  // lock, and the owning thread may still allocate (new subsegments) while it holds the heap.
  if (serialize_) {
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) buckets_[b].mutex().lock();
    direct_.mutex().lock();
    core_.lock_all();
  }
  __atomic_store_n(&lock_owner_, os::thread_id(), __ATOMIC_RELAXED);
  lock_depth_ = 1;
}

void Heap::unlock_heap() {
  if (!held_by_me()) return;
  if (--lock_depth_ != 0) return;
  __atomic_store_n(&lock_owner_, std::uintptr_t(0), __ATOMIC_RELAXED);
  if (serialize_) {
    core_.unlock_all();
    direct_.mutex().unlock();
    for (unsigned b = lfh_buckets::kBuckets; b-- > 0;) buckets_[b].mutex().unlock();
  }
  __atomic_store_n(&use_lookaside_, lookaside_configured_, __ATOMIC_SEQ_CST);
  heap_lock_.unlock();
}

bool Heap::fixed_room_for(std::size_t bytes) {
  if (maximum_ == 0) return true;
  // Lock-free reads: two threads racing here may overshoot by one block; fixed heaps are
  // normally used by one thread (and the overshoot still fails cleanly at the range's end).
  std::size_t used = arena_.used_relaxed() + direct_.committed_relaxed();
  return used + bytes <= maximum_;
}

void Heap::zero_all() {
  arena_.zero_carved();
  direct_.for_each([](DirectBlock *d) { std::memset(d->base, 0, d->committed); });
  // Core blocks in use (free ones were cleared when freed: the core heap is told SECURE_FREE).
  core_.for_each_block([](void *p, std::size_t n, bool busy) { if (busy) std::memset(p, 0, n); }, !held_by_me());
}

}  // namespace lfh
