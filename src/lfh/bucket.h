// lfh/bucket.h — one of the 128 buckets of a heap: the subsegments of its block size.
//
// The bucket is the pool behind the look-aside lists: they take blocks from it in batches and give
// surplus back in batches, each under the bucket's own lock (there is no heap-wide lock on the
// small-block path). Subsegments with a free or never-used block sit on the `partial` list;
// a subsegment that becomes entirely free is retired to the heap's span arena (one empty
// subsegment is kept per bucket to avoid carve/retire thrash).
#pragma once
#include <cstddef>
#include <cstdint>

#include "lfh/subsegment.h"
#include "os/mutex.h"
#include "vm/span_arena.h"

namespace lfh {

struct BucketStats {
  std::uint64_t subsegments;     // live now
  std::uint64_t subsegments_created;
  std::uint64_t blocks_out;      // with the program or on look-aside lists
  std::uint64_t blocks_free;     // in subsegment free lists or never used
  std::uint64_t batch_takes;     // refills served
  std::uint64_t batch_returns;   // surplus batches received
  std::uint64_t blocks_pending;  // of blocks_out: waiting whole on the bucket's pending chain
};

class Bucket {
 public:
  constexpr Bucket() = default;
  // `process`: the process heap's bucket (its subsegments are marked for free's fast path,
  // vm::owner_is_process_lfh).
  void init(unsigned index, void *heap, vm::SpanArena *arena, bool process) {
    index_ = index;
    heap_ = heap;
    arena_ = arena;
    process_ = process;
  }

  // Take up to `want` blocks as an encoded chain head..tail (tail's link is null). Returns the
  // count (0 when no memory could be committed). Takes the lock unless `locked` says it is held.
  std::uint32_t take(std::uint32_t want, void **head, void **tail, bool serialize = true);
  // A thread magazine's refill: blocks of one subsegment as a null-terminated chain, found without
  // walking any list — its whole free list when it has one (however long: those blocks are cold,
  // and reading each link only to split the list was most of take()'s time), else up to `want`
  // never-used blocks (at least a page's worth). Returns the count (0 when no memory could be
  // committed).
  // `carve` false: 0 rather than carving never-used blocks (the caller looks elsewhere first).
  std::uint32_t take_batch(std::uint32_t want, void **head, bool carve = true);
  // Give back a chain of `n` blocks whose tail is known (a thread magazine's full free stack): it
  // is parked whole on the bucket's pending chain (O(1): the tail is linked to what is pending)
  // while the pending blocks stay within kPendingBytes (or a quarter of the blocks out, when that
  // is more: a program that frees a large part of its heap at once, then allocates it again),
  // else given back as by give_back_home. The next take_batch hands the whole
  // pending chain out again in O(1): a mass free followed by a mass allocation (a garbage
  // collector's sweep, then the mutator) moves chains, never walks them. Pending blocks count as
  // out (their subsegments keep them as used); the balance tick returns them to their subsegments
  // when the chain was not taken for a whole tick (retire_idle_locked), and trim() at once.
  // `home`: as for give_back_home, which takes the chain over the budget.
  static constexpr std::size_t kPendingBytes = 64 * 1024;
  // `serialize` false: the caller holds the lock (a stash flush gives several chains in one round).
  void give_back_whole(void *head, void *tail, std::uint32_t n, Subsegment *home = nullptr, bool serialize = true);
  // Give back n blocks chained head..tail straight to their subsegments: spliced onto home's free
  // list in O(1) when `home` is the subsegment they all belong to (a thread magazine's free stack
  // that never mixed subsegments), else walked block by block as by give_back_chain.
  void give_back_home(void *head, void *tail, std::uint32_t n, Subsegment *home, bool serialize = true);
  // Give back an encoded chain of `n` blocks of this bucket (from look-aside lists or free()).
  void give_back_chain(void *head, std::uint32_t n, bool serialize = true);
  // Give back one block whose subsegment is known.
  void give_back_one(Subsegment *s, void *block, bool serialize = true);

  // Retire every empty subsegment (trim). Returns spans retired.
  std::size_t trim(bool serialize = true);
  // The balance tick, with the lock held: retire the empty subsegment the bucket keeps (see
  // return_block) when it was already the kept one at the previous call and no block was taken
  // since, i.e. it stayed free for a whole tick — or at once when `bucket_idle` (no look-aside
  // list of the bucket was allocated from during the tick). Looks at the first kIdleScan partial
  // subsegments only, to keep the lock hold short. Returns spans retired (0 or 1).
  static constexpr unsigned kIdleScan = 64;
  std::size_t retire_idle_locked(bool bucket_idle = false);
  // While set (by the balance tick, lock held), retired spans are purged at once instead of being
  // cached committed: they held nothing anyone used for a whole tick.
  void set_purge_on_retire(bool on) { purge_on_retire_ = on; }

  // Heap destroy: unregister every subsegment from the page map and free its descriptor (the
  // spans themselves go with the arena). The bucket is empty afterwards.
  void release_descriptors();

  BucketStats stats();
  unsigned index() const { return index_; }
  std::size_t block_size() const { return lfh_buckets::block_size(index_); }

  // Walk subsegments (live ones: partial and full). Caller holds the lock.
  template <class F> void for_each_subsegment(F &&f) {
    for (Subsegment *s = all_; s; s = s->all_next) f(s);
  }

  os::Mutex &mutex() { return lock_; }

 private:
  Subsegment *new_subsegment();
  void retire(Subsegment *s);
  void push_partial(Subsegment *s);
  void remove_partial(Subsegment *s);
  void return_block(Subsegment *s, void *block);
  // Return k blocks of s that are already chained head..tail in order; true when s was retired.
  bool return_run(Subsegment *s, void *head, void *tail, std::uint32_t k);
  void give_back_locked(void *head, std::uint32_t n);
  void give_back_home_locked(void *head, void *tail, std::uint32_t n, Subsegment *home);
  void drain_pending_locked();

  os::Mutex lock_;
  unsigned index_ = 0;
  void *heap_ = nullptr;
  vm::SpanArena *arena_ = nullptr;
  Subsegment *partial_ = nullptr;
  Subsegment *all_ = nullptr;
  std::uint64_t live_ = 0, created_ = 0, takes_ = 0, returns_ = 0;
  std::uint64_t out_ = 0;
  void *pending_ = nullptr;           // give_back_whole's chain (null-terminated)
  std::uint32_t pending_n_ = 0;
  std::uint32_t pending_takes_ = 0;   // times take_batch took the pending chain
  std::uint32_t pending_seen_ = 0;    // … at the previous retire_idle_locked
  Subsegment *idle_seen_ = nullptr;   // retire_idle_locked: the empty one seen last time
  std::uint64_t idle_takes_ = 0;      // … and takes_ then
  bool purge_on_retire_ = false;
  bool process_ = false;
};

}  // namespace lfh
