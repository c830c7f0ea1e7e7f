#include "lfh/bucket.h"

#include "lfh/free_link.h"
#include "os/report.h"
#include "vm/vm.h"

namespace lfh {

using namespace lfh_buckets;

void Bucket::push_partial(Subsegment *s) {
  s->in_partial = true;
  s->prev = nullptr;
  s->next = partial_;
  if (partial_) partial_->prev = s;
  partial_ = s;
}

void Bucket::remove_partial(Subsegment *s) {
  if (s->prev) s->prev->next = s->next;
  else partial_ = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  s->in_partial = false;
}

Subsegment *Bucket::new_subsegment() {
  const unsigned g = span_granules(index_);
  auto *s = static_cast<Subsegment *>(subsegment_pool().alloc());   // zero-filled
  if (!s) return nullptr;
  vm::Span span = arena_->alloc(g);
  if (!span.base) {
    subsegment_pool().free(s);
    return nullptr;
  }
  s->hdr.kind = vm::OwnerKind::kLfhSubsegment;
  s->hdr.process_lfh = process_ ? 1 : 0;
  s->base = static_cast<char *>(span.base);
  s->bucket = std::uint8_t(index_);
  s->granules = std::uint16_t(g);
  s->block_size = std::uint32_t(lfh_buckets::block_size(index_));
  s->capacity = blocks_per_span(index_);
  s->used = 0;
  s->set_bump(0);
  s->magic = div_magic(index_);
  s->divisor = divisible_magic(index_);
  s->first = static_cast<char *>(span.base) + first_block_offset(index_);
  s->heap = heap_;
  s->free_list = nullptr;
  s->free_count = 0;
  s->in_partial = false;
  s->prev = s->next = nullptr;
  if (!vm::pagemap_set(span.base, g * vm::kGranularity, s)) {
    arena_->free(span.base, g);
    subsegment_pool().free(s);
    return nullptr;
  }
  s->all_prev = nullptr;
  s->all_next = all_;
  if (all_) all_->all_prev = s;
  all_ = s;
  ++live_;
  ++created_;
  return s;
}

void Bucket::retire(Subsegment *s) {
  if (s->in_partial) remove_partial(s);
  if (s->all_prev) s->all_prev->all_next = s->all_next;
  else all_ = s->all_next;
  if (s->all_next) s->all_next->all_prev = s->all_prev;
  --live_;
  const unsigned g = s->granules;
  // Clear the map first: from here on a stale free() of one of its blocks is an invalid free.
  vm::pagemap_clear(s->base, g * vm::kGranularity);
  s->hdr.kind = vm::OwnerKind::kNone;
  arena_->free(s->base, g, purge_on_retire_);
  subsegment_pool().free(s);
}

std::uint32_t Bucket::take(std::uint32_t want, void **head, void **tail, bool serialize) {
  os::LockGuard guard(lock_, serialize);
  void *h = nullptr, *t = nullptr;
  std::uint32_t n = 0;
  while (n < want) {
    Subsegment *s = partial_;
    if (!s) {
      s = new_subsegment();
      if (!s) break;
      push_partial(s);
    }
    // Free list first (warm blocks), then never-used blocks. The first k blocks of the free list
    // are taken as they lie: their encoded links already chain them in order (a link does not
    // depend on which list the block is on), so only the k-th is relinked, to the chain so far.
    if (n < want && s->free_list && s->free_count) {
      const std::uint32_t k = want - n < s->free_count ? want - n : s->free_count;
      void *first = s->free_list, *last = first;
      for (std::uint32_t i = 1; i < k; ++i) {
        last = load_link(last);
        if (!last) fatal_error(ErrorKind::kHeapCorruption, s, "subsegment free list shorter than its count");
      }
      s->free_list = load_link(last);
      s->free_count -= k;
      s->used += k;
      store_link(last, h);   // tail is the last block of the first run taken (link null)
      if (!t) t = last;
      h = first;
      n += k;
    }
    std::uint32_t bump = s->bump.load(std::memory_order_relaxed);
    if (n < want && bump < s->capacity) {
      const std::uint32_t k = want - n < s->capacity - bump ? want - n : s->capacity - bump;
      const std::size_t bs = s->block_size;
      char *b = s->first + std::size_t(bump) * bs;
      if (!t) t = b;
      for (std::uint32_t i = 0; i < k; ++i, b += bs) {
        store_link(b, h);
        h = b;
      }
      bump += k;
      s->used += k;
      n += k;
    }
    // Publish bump before any block past the old value can be freed (Subsegment::set_bump).
    s->set_bump(bump);
    if (!s->free_list && bump == s->capacity) remove_partial(s);
  }
  out_ += n;
  if (n) ++takes_;
  *head = h;
  *tail = t;
  return n;
}

std::uint32_t Bucket::take_batch(std::uint32_t want, void **head, bool carve) {
  os::LockGuard guard(lock_);
  if (pending_) {   // whole, O(1); these blocks are already counted out
    *head = pending_;
    const std::uint32_t n = pending_n_;
    pending_ = nullptr;
    pending_n_ = 0;
    ++takes_;
    ++pending_takes_;
    return n;
  }
  Subsegment *s = partial_;
  if (!s) {
    if (!carve) return 0;
    s = new_subsegment();
    if (!s) return 0;
    push_partial(s);
  }
  std::uint32_t n;
  std::uint32_t bump = s->bump.load(std::memory_order_relaxed);
  const bool has_free = s->free_list && s->free_count;
  if (!has_free && !carve) return 0;
  if (has_free) {
    *head = s->free_list;   // (the list ends with a null link)
    n = s->free_count;
    s->free_list = nullptr;
    s->free_count = 0;
  } else {
    // At least a page's worth: the carve touches those lines anyway, and each batch is a lock.
    if (want < 4096 / s->block_size) want = std::uint32_t(4096 / s->block_size);
    n = want < s->capacity - bump ? want : s->capacity - bump;
    const std::size_t bs = s->block_size;
    // Linked from the last block back, so the chain hands blocks out in address order (what the
    // hardware prefetcher follows best, and what a program walking its fresh objects sees).
    char *b = s->first + std::size_t(bump + n) * bs;
    void *h = nullptr;
    for (std::uint32_t i = 0; i < n; ++i) {
      b -= bs;
      store_link(b, h);
      h = b;
    }
    *head = h;
    bump += n;
    // Publish bump before any block past the old value can be freed (as in take()).
    s->set_bump(bump);
  }
  s->used += n;
  if (!s->free_list && bump == s->capacity) remove_partial(s);
  out_ += n;
  ++takes_;
  return n;
}

void Bucket::return_block(Subsegment *s, void *block) {
  store_link(block, s->free_list);
  s->free_list = block;
  ++s->free_count;
  if (s->used == 0) fatal_error(ErrorKind::kHeapCorruption, block, "subsegment use count underflow");
  --s->used;
  --out_;
  if (!s->in_partial) push_partial(s);
  if (s->used == 0) {
    // Keep one empty subsegment (the head of the partial list) to avoid thrash; retire others.
    if (partial_ != s || s->next != nullptr) retire(s);
  }
}

LFH_ALWAYS_INLINE bool Bucket::return_run(Subsegment *s, void *head, void *tail, std::uint32_t k) {
  store_link(tail, s->free_list);
  s->free_list = head;
  s->free_count += k;
  if (s->used < k) fatal_error(ErrorKind::kHeapCorruption, head, "subsegment use count underflow");
  s->used -= k;
  if (!s->in_partial) push_partial(s);
  // As in return_block: keep one empty subsegment (the partial list's head), retire others.
  if (s->used == 0 && (partial_ != s || s->next != nullptr)) {
    retire(s);
    return true;
  }
  return false;
}

void Bucket::give_back_whole(void *head, void *tail, std::uint32_t n, Subsegment *home, bool serialize) {
  os::LockGuard guard(lock_, serialize);
  ++returns_;
  // The budget: kPendingBytes, or a quarter of the blocks out when that is more.
  const std::uint64_t cap = out_ / 4 > kPendingBytes / block_size() ? out_ / 4 : kPendingBytes / block_size();
  if (std::uint64_t(pending_n_) + n <= cap) {
    store_link(tail, pending_);
    pending_ = head;
    pending_n_ += n;
    return;
  }
  give_back_home_locked(head, tail, n, home);
}

void Bucket::give_back_home(void *head, void *tail, std::uint32_t n, Subsegment *home, bool serialize) {
  os::LockGuard guard(lock_, serialize);
  ++returns_;
  give_back_home_locked(head, tail, n, home);
}

void Bucket::give_back_home_locked(void *head, void *tail, std::uint32_t n, Subsegment *home) {
  if (!home) return give_back_locked(head, n);
  return_run(home, head, tail, n);
  out_ -= n;
}

void Bucket::drain_pending_locked() {
  if (!pending_) return;
  void *head = pending_;
  const std::uint32_t n = pending_n_;
  pending_ = nullptr;
  pending_n_ = 0;
  give_back_locked(head, n);
}

void Bucket::give_back_chain(void *head, std::uint32_t n, bool serialize) {
  os::LockGuard guard(lock_, serialize);
  ++returns_;
  give_back_locked(head, n);
}

// Blocks of one subsegment tend to come back together (a magazine or list filled by one run of
// frees): consecutive blocks inside the current subsegment's span are gathered into a run without
// a page-map lookup, and each run is spliced onto its subsegment's free list whole (one relink per
// run, not per block). The inner loop is the walk itself — one link load and one range test per
// block — and the hot part of a mass free (a garbage collector's sweep) that overflows the caches.
void Bucket::give_back_locked(void *head, std::uint32_t n) {
  const std::uintptr_t key = g_link_key;   // (a register for the walk, not a load per block)
  void *b = head;
  std::uint32_t left = n;
  while (left != 0 && b != nullptr) {
    auto *s = reinterpret_cast<Subsegment *>(vm::pagemap_lookup(b));
    if (!s || s->hdr.kind != vm::OwnerKind::kLfhSubsegment || s->bucket != index_)
      fatal_error(ErrorKind::kHeapCorruption, b, "look-aside list holds a block of another bucket");
    const std::uintptr_t lo = addr(s->first), span = std::uintptr_t(s->capacity) * s->block_size;
    void *run = b, *tail;
    std::uint32_t k = 0;
    // b's successors while they lie in s's span (a null link wraps below lo and ends the run).
    do {
      tail = b;
      b = load_link(b, key);
      ++k;
    } while (k != left && addr(b) - lo < span);
    left -= k;
    return_run(s, run, tail, k);
  }
  out_ -= n - left;
}

void Bucket::give_back_one(Subsegment *s, void *block, bool serialize) {
  os::LockGuard guard(lock_, serialize);
  return_block(s, block);
}

std::size_t Bucket::trim(bool serialize) {
  os::LockGuard guard(lock_, serialize);
  drain_pending_locked();
  std::size_t n = 0;
  for (Subsegment *s = all_; s;) {
    Subsegment *next = s->all_next;
    if (s->used == 0) {
      retire(s);
      ++n;
    }
    s = next;
  }
  return n;
}

std::size_t Bucket::retire_idle_locked(bool bucket_idle) {
  // The pending chain was not taken for a whole tick (whatever else was): its blocks go home,
  // emptying the subsegments they alone kept (return_run retires those at once). Scattered
  // blocks of a finished phase must not pin its spans for longer.
  if (pending_ && (bucket_idle || pending_takes_ == pending_seen_)) drain_pending_locked();
  pending_seen_ = pending_takes_;
  Subsegment *empty = nullptr;
  unsigned seen = 0;
  for (Subsegment *s = partial_; s && seen < kIdleScan; s = s->next, ++seen)
    if (s->used == 0) {
      empty = s;
      break;
    }
  std::size_t n = 0;
  // Same subsegment, nothing taken from the bucket since: it held no block for the whole tick.
  // (A retired span that came back as a new subsegment went through take(), which moved takes_.)
  if (empty && (bucket_idle || (empty == idle_seen_ && takes_ == idle_takes_))) {
    retire(empty);
    empty = nullptr;
    n = 1;
  }
  idle_seen_ = empty;
  idle_takes_ = takes_;
  return n;
}

void Bucket::release_descriptors() {
  for (Subsegment *s = all_; s;) {
    Subsegment *next = s->all_next;
    vm::pagemap_clear(s->base, s->granules * vm::kGranularity);
    s->hdr.kind = vm::OwnerKind::kNone;
    subsegment_pool().free(s);
    s = next;
  }
  all_ = partial_ = idle_seen_ = nullptr;
  pending_ = nullptr;
  pending_n_ = 0;
  live_ = out_ = 0;
}

BucketStats Bucket::stats() {
  os::LockGuard guard(lock_);
  BucketStats st{};
  st.subsegments = live_;
  st.subsegments_created = created_;
  st.blocks_out = out_;
  for (Subsegment *s = all_; s; s = s->all_next) st.blocks_free += s->capacity - s->used;
  st.batch_takes = takes_;
  st.batch_returns = returns_;
  st.blocks_pending = pending_n_;
  return st;
}

}  // namespace lfh
