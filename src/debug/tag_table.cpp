// debug/tag_table.cpp — per-tag accounting (see tag_table.h and tagged.h).
//
// Slots. A fixed open-addressed table of kTagSlots keys (the tags themselves; 0 = empty), filled
// by CAS and never emptied, so a tag's slot never changes once it has one: free finds the slot
// its allocation counted in by the same probe. When the probe finds no room the tag counts in the
// last slot, "Othr".
//
// Counters. Each thread counts in its own shard (an array of per-slot counters in memory from
// the VM layer): the owning thread is the only writer, with relaxed load+store (no lock prefix);
// readers sum the shards with relaxed loads. A shard whose thread has exited is found by the next
// thread that needs one (os::thread_alive), folded into the base totals and reused — so threads
// that come and go cost nothing lasting, and no thread-exit hook is needed.
//
// Peak bytes. A true peak of a sum of per-thread counters would need a shared counter on every
// call; instead each thread publishes its bytes delta per slot to a shared atomic once it has
// moved by kTagPublish (64 KB) either way, and the peak is the most that shared value (and every
// exact sum a reader computed) has been. It is exact for one thread moving in steps of 64 KB or
// more and otherwise low by at most kTagPublish per thread.
#include "debug/tag_table.h"

#include <atomic>
#include <cstring>

#include "base/bits.h"
#include "debug/tag_shard.h"
#include "debug/tagged.h"
#include "debug/tags.h"
#include "os/mutex.h"
#include "os/os.h"
#include "os/signals.h"
#include "vm/vm.h"

namespace lfh::debug {
namespace {

constexpr int kProbes = 32;

using Counter = TagCounter;
using Shard = TagShard;
constexpr std::size_t kShardBytes = (sizeof(Shard) + os::kGranularity - 1) & ~(os::kGranularity - 1);

constinit bool g_on = false;
constinit std::atomic<std::uint32_t> g_keys[kTagSlots] = {};
constinit std::atomic<std::int64_t> g_published[kTagSlots] = {};
constinit std::atomic<std::uint64_t> g_peak[kTagSlots] = {};
constinit std::atomic<Shard *> g_shards{nullptr};
constinit Shard *g_base = nullptr;        // totals of folded shards (owner 0, never in the list)
constinit Shard *g_fallback = nullptr;    // shared when no memory is left for a shard (counts may race)
constinit os::Mutex g_shard_lock;         // taking / folding shards
// Seqlock over folds: odd while a dead shard's counters move into g_base (readers retry).
constinit std::atomic<std::uint32_t> g_fold_seq{0};

using detail::ld;
using detail::st;

inline void raise_peak(unsigned slot, std::uint64_t v) {
  std::uint64_t cur = g_peak[slot].load(std::memory_order_relaxed);
  while (v > cur && !g_peak[slot].compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

void publish(Counter &c, unsigned slot) {
  const std::int64_t d = ld(c.pending);
  st(c.pending, 0);
  const std::int64_t v = g_published[slot].fetch_add(d, std::memory_order_relaxed) + d;
  if (v > 0) raise_peak(slot, std::uint64_t(v));
}

Shard *new_shard() {
  return static_cast<Shard *>(vm::reserve_committed(kShardBytes));
}

// Move a dead thread's counts into g_base and zero the shard. Under g_shard_lock.
void fold(Shard *s) {
  g_fold_seq.fetch_add(1, std::memory_order_acq_rel);   // odd: readers wait
  for (unsigned i = 0; i < kTagSlots; ++i) {
    Counter &c = s->c[i], &b = g_base->c[i];
    if (!ld(c.allocs) && !ld(c.frees) && !ld(c.bytes_in) && !ld(c.bytes_out) && !ld(c.pending)) continue;
    if (ld(c.pending)) publish(c, i);
    st(b.allocs, ld(b.allocs) + ld(c.allocs));
    st(b.frees, ld(b.frees) + ld(c.frees));
    st(b.bytes_in, ld(b.bytes_in) + ld(c.bytes_in));
    st(b.bytes_out, ld(b.bytes_out) + ld(c.bytes_out));
    std::memset(&c, 0, sizeof c);
  }
  g_fold_seq.fetch_add(1, std::memory_order_release);
}

Shard *shard_slow() {
  const std::uint32_t me = os::kernel_tid();
  os::LockGuard g(g_shard_lock);
  Shard *s = nullptr;
  for (Shard *x = g_shards.load(std::memory_order_acquire); x; x = x->next) {
    const std::uint32_t o = x->owner.load(std::memory_order_relaxed);
    if (o == 0 || !os::thread_alive(o)) {
      fold(x);
      s = x;
      break;
    }
  }
  if (!s) {
    s = new_shard();
    if (!s) return t_tag_thread.shard = g_fallback;
    s->next = g_shards.load(std::memory_order_relaxed);
    s->owner.store(me, std::memory_order_relaxed);
    g_shards.store(s, std::memory_order_release);   // readers see it whole (zeroed pages)
  }
  s->owner.store(me, std::memory_order_relaxed);
  return t_tag_thread.shard = s;
}

inline unsigned hash_slot(std::uint32_t tag) { return unsigned((tag * 0x9e3779b1u) >> 22) & (kTagSlots - 1); }

// Sum of every shard's counters for `slot`, plus the folded base. Retries while a fold runs
// (bounded: a reader inside a signal handler may have interrupted the folding thread itself).
void sum_slot(unsigned slot, Counter *out) {
  for (int attempt = 0;; ++attempt) {
    const std::uint32_t s1 = g_fold_seq.load(std::memory_order_acquire);
    Counter t{};
    auto add = [&](const Counter &c) {
      t.allocs += ld(c.allocs);
      t.frees += ld(c.frees);
      t.bytes_in += ld(c.bytes_in);
      t.bytes_out += ld(c.bytes_out);
    };
    if (g_base) add(g_base->c[slot]);
    if (g_fallback) add(g_fallback->c[slot]);
    for (Shard *x = g_shards.load(std::memory_order_acquire); x; x = x->next) add(x->c[slot]);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (((s1 & 1) == 0 && g_fold_seq.load(std::memory_order_relaxed) == s1) || attempt >= 8) {
      *out = t;
      return;
    }
    os::yield_cpu();
  }
}

}  // namespace

bool tags_on() { return g_on; }

bool tag_table_init() {
  if (g_on) return true;
  g_base = new_shard();
  g_fallback = new_shard();
  if (!g_base || !g_fallback) return false;
  g_keys[kOtherSlot].store(LFH_TAG_OTHER, std::memory_order_relaxed);
  g_on = true;
  return true;
}

unsigned tag_slot(std::uint32_t tag) {
  unsigned i = hash_slot(tag);
  for (int probe = 0; probe < kProbes; ++probe, i = (i + 1) & (kTagSlots - 1)) {
    if (i == kOtherSlot) continue;
    std::uint32_t k = g_keys[i].load(std::memory_order_acquire);
    if (k == tag) return i;
    if (k == 0) {
      // Claim it; a thread that loses the race to the same tag finds it there.
      if (g_keys[i].compare_exchange_strong(k, tag, std::memory_order_acq_rel)) return i;
      if (k == tag) return i;
    }
  }
  return kOtherSlot;
}

std::uint32_t slot_tag(unsigned slot) { return g_keys[slot & (kTagSlots - 1)].load(std::memory_order_acquire); }

LFH_NOINLINE TagShard *tag_shard_slow() { return shard_slow(); }
LFH_NOINLINE void tag_publish(TagCounter &c, unsigned slot) { publish(c, slot); }

void tag_table_fork_prepare() { g_shard_lock.lock(); }
void tag_table_fork_parent() { g_shard_lock.unlock(); }
void tag_table_fork_child() {
  g_shard_lock.reset_after_fork();
  // The child's one thread has a new kernel id: its shard must not look abandoned.
  if (TagShard *s = t_tag_thread.shard; s && s != g_fallback) s->owner.store(os::kernel_tid(), std::memory_order_relaxed);
}

std::size_t tag_rows(TagRow *out, std::size_t max) {
  if (!g_on) return 0;
  std::size_t tracked = 0, have = 0;
  for (unsigned i = 0; i < kTagSlots; ++i) {
    const std::uint32_t tag = g_keys[i].load(std::memory_order_acquire);
    if (tag == 0) continue;
    Counter t;
    sum_slot(i, &t);
    if (t.allocs == 0 && t.frees == 0) continue;   // "Othr" before anything overflowed
    ++tracked;
    TagRow r;
    r.tag = tag;
    r.allocs = t.allocs;
    r.frees = t.frees;
    r.blocks = t.allocs >= t.frees ? t.allocs - t.frees : 0;
    r.bytes = t.bytes_in >= t.bytes_out ? t.bytes_in - t.bytes_out : 0;
    raise_peak(i, r.bytes);   // every exact sum seen is a lower bound of the peak
    r.peak_bytes = g_peak[i].load(std::memory_order_relaxed);
    if (r.peak_bytes < r.bytes) r.peak_bytes = r.bytes;
    // Keep out[0..have) sorted by bytes (then allocations), largest first; drop past `max`.
    std::size_t at = have;
    while (at > 0 && (out[at - 1].bytes < r.bytes || (out[at - 1].bytes == r.bytes && out[at - 1].allocs < r.allocs))) --at;
    if (at >= max) continue;
    const std::size_t last = have < max ? have : max - 1;
    for (std::size_t k = last; k > at; --k) out[k] = out[k - 1];
    out[at] = r;
    if (have < max) ++have;
  }
  return tracked;
}

}  // namespace lfh::debug
