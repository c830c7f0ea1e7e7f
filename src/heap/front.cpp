// heap/front.cpp — the magazine's slow paths: refill of A from F, from this CPU's look-aside list
// (one CAS takes the whole list), the thread's stash or the bucket; a full F into the list (one
// CAS) or the stash, and the stash into the buckets; registration of the thread's magazine (and
// its affinity slot) and its hand-over to a successor, or flush, when the thread exits.
#include "heap/front.h"

#include <errno.h>

#include <utility>

#include "base/options.h"
#include "heap/balance_hooks.h"
#include "os/cpu.h"

namespace lfh {

constinit thread_local ThreadMagazine t_magazine __attribute__((tls_model("initial-exec"))) = {};

namespace {

constinit os::Mutex g_registry_lock;
constinit ThreadMagazine *g_registry = nullptr;
// Folded in by exited threads, per bucket (registry lock).
constinit std::uint64_t g_dead_allocs[lfh_buckets::kBuckets] = {}, g_dead_frees[lfh_buckets::kBuckets] = {};

// ThreadMagazine::stash_lock: the owner try-locks it (the tick holds it only to drain the stash),
// and spins only where the stash must be emptied (stash_lock_wait: thread exit, trim, a flush).
bool stash_try_lock(ThreadMagazine &tm) { return __atomic_exchange_n(&tm.stash_lock, std::uint8_t(1), __ATOMIC_ACQUIRE) == 0; }
void stash_lock_wait(ThreadMagazine &tm) {
  while (!stash_try_lock(tm)) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}
void stash_unlock(ThreadMagazine &tm) { __atomic_store_n(&tm.stash_lock, std::uint8_t(0), __ATOMIC_RELEASE); }

// Write stash entry d (bucket and count relaxed-atomically: statistics read them).
void stash_write(StashedChain &d, void *head, void *tail, Subsegment *sub, std::uint32_t bucket, std::uint32_t n) {
  d.head = head;
  d.tail = tail;
  d.sub = sub;
  __atomic_store_n(&d.bucket, bucket, __ATOMIC_RELAXED);
  __atomic_store_n(&d.n, n, __ATOMIC_RELAXED);
}

// The stash (magazine.h), stash_lock held: every chain to its bucket, one lock round per bucket
// present. `try_only` (the balance tick, which never waits for a bucket, balance/trim.h): a bucket
// that is busy keeps its chains in the stash for later.
void stash_flush(ThreadMagazine &tm, bool try_only = false) {
  const std::uint32_t len = tm.stash_len;
  if (len == 0) return;
  __atomic_store_n(&tm.stash_len, 0u, __ATOMIC_RELAXED);
  Heap &h = detail::g_process_heap;
  bool kept = false;
  for (std::uint32_t i = 0; i < len; ++i) {
    if (tm.stash[i].n == 0) continue;   // given back with an earlier entry of its bucket
    const unsigned b = tm.stash[i].bucket;
    Bucket &bk = h.bucket(b);
    if (try_only && !bk.mutex().try_lock()) {
      kept = true;
      continue;
    }
    if (!try_only) bk.mutex().lock();
    for (std::uint32_t j = i; j < len; ++j) {
      StashedChain &e = tm.stash[j];
      if (e.n == 0 || e.bucket != b) continue;
      bk.give_back_whole(e.head, e.tail, e.n, e.sub, /*serialize=*/false);
      __atomic_store_n(&e.n, 0u, __ATOMIC_RELAXED);
    }
    bk.mutex().unlock();
  }
  if (!kept) return;
  std::uint32_t k = 0;   // the kept chains move down, in order
  for (std::uint32_t i = 0; i < len; ++i) {
    if (tm.stash[i].n == 0) continue;
    const StashedChain &e = tm.stash[i];
    if (k != i) stash_write(tm.stash[k], e.head, e.tail, e.sub, e.bucket, e.n);
    ++k;
  }
  __atomic_store_n(&tm.stash_len, k, __ATOMIC_RELAXED);
}

// The owner's flush of its whole stash, which must happen now (thread exit, trim, a flush
// request): waits out a tick that is draining it.
void stash_flush_now(ThreadMagazine &tm) {
  stash_lock_wait(tm);
  stash_flush(tm);
  stash_unlock(tm);
}

// The exiting thread's stash, spliced onto its slots' allocation chains (O(1) a chain), so that
// it goes to the successor with the rest of the magazine (orphan_leave) rather than through the
// buckets to whichever thread refills first. Waits out a tick that is draining the stash.
void stash_fold_now(ThreadMagazine &tm) {
  stash_lock_wait(tm);
  for (std::uint32_t i = 0; i < tm.stash_len; ++i) {
    StashedChain &e = tm.stash[i];
    if (e.n == 0) continue;
    MagazineSlot &m = tm.slots[e.bucket];
    store_link(e.tail, m.alloc_top);
    m.alloc_top = e.head;
    m.alloc_count += e.n;
    m.net_in += e.n;
    __atomic_store_n(&e.n, 0u, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&tm.stash_len, 0u, __ATOMIC_RELAXED);
  stash_unlock(tm);
}

// Park a full free stack (head..tail, n blocks of bucket b, all of subsegment sub unless null);
// stash_lock held.
void stash_push(ThreadMagazine &tm, unsigned b, void *head, void *tail, std::uint32_t n, Subsegment *sub) {
  if (tm.stash_len == kStashChains) stash_flush(tm);
  stash_write(tm.stash[tm.stash_len], head, tail, sub, b, n);
  __atomic_store_n(&tm.stash_len, tm.stash_len + 1, __ATOMIC_RELAXED);
}

// The most recently stashed chain of bucket b (its count in *n), or null; stash_lock held.
void *stash_take(ThreadMagazine &tm, unsigned b, std::uint32_t *n) {
  for (std::uint32_t i = tm.stash_len; i-- > 0;) {
    StashedChain &e = tm.stash[i];
    if (e.bucket != b) continue;
    void *head = e.head;
    *n = e.n;
    // The last entry fills the hole (order among the rest does not matter).
    const std::uint32_t last = tm.stash_len - 1;
    const StashedChain &l = tm.stash[last];
    stash_write(e, l.head, l.tail, l.sub, l.bucket, l.n);
    __atomic_store_n(&tm.stash_len, last, __ATOMIC_RELAXED);
    return head;
  }
  return nullptr;
}

// A slot's chains, taken out of it whole (take_slot): A, and F with its recorded bottom,
// subsegment and cap (MagazineSlot::cap, 0 for the initial one).
struct SlotChains {
  void *alloc_top, *free_top, *free_tail;
  Subsegment *free_sub;
  std::uint32_t alloc_count, free_count, cap;
};

// Take both chains out of the slot, leaving it empty (the owner; net_in counts them out).
SlotChains take_slot(MagazineSlot &m, unsigned b) {
  const std::uint32_t f = slot_free_count(m, b);
  const SlotChains c{m.alloc_top, m.free_top, m.free_tail, m.free_sub, m.alloc_count, f, m.cap};
  m.net_in -= std::int64_t(m.alloc_count) + f;
  m.alloc_top = m.free_top = m.free_tail = nullptr;
  m.alloc_count = 0;
  m.free_room = 0;
  return c;
}

// Give a slot's blocks (both chains) back to the bucket and leave it empty, its cap the initial one.
void flush_slot(Heap &h, unsigned b, MagazineSlot &m) {
  const SlotChains c = take_slot(m, b);
  __atomic_store_n(&m.cap, std::uint16_t(0), __ATOMIC_RELAXED);
  if (c.alloc_count) h.bucket(b).give_back_chain(c.alloc_top, c.alloc_count);
  if (c.free_count) h.bucket(b).give_back_chain(c.free_top, c.free_count);
}

void flush(ThreadMagazine &tm) {
  Heap &h = detail::g_process_heap;
  // Back to the bucket: a thread that exits should not leave its blocks cached on a CPU.
  stash_flush_now(tm);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) flush_slot(h, b, tm.slots[b]);
}

// ---- The orphaned magazines ---------------------------------------------------------------------
//
// A thread that exits leaves its magazine's chains to the next thread that starts, rather than to
// the buckets, when it can tell which thread that is: in a pool that replaces a finished worker
// with a fresh one (a server's connection threads, Larson's lanes), the replacement goes on with
// its predecessor's objects, and the free blocks its predecessor cached are warm and lie beside
// those objects. The exit then walks no chain (a magazine's allocation chain can be a whole
// subsegment's free list, thousands of blocks out of cache) and the successor's first refills are
// served without a lock: wl_larson and wl_thread_bursts at 2 and 4 threads, 1-5 % faster.
//
// Which thread is the successor: the one that takes the exiting thread's affinity slot. Every
// registered thread holds one of g_affinity_slots slots (one per CPU, at most kAffinitySlots), and
// each slot has its own orphan. A thread that registers while orphans wait takes one of their
// slots (affinity_take_locked says which), else the emptiest slot. With one orphan for the whole
// process, two threads that ended close together (two lanes of a pool) sent both magazines to the
// buckets, and a waiting magazine went to whichever thread started next, often the other lane's:
// either way one lane's free blocks ended up among the other lane's objects, whose cache lines
// both threads then write (`wl_larson --threads 2 --sharing 1`: 1.1 % of the live lines, 0.1 %
// with the slots). A thread exiting while its own slot's orphan still waits (more threads than
// slots) gives both to the buckets. The balance tick gives an orphan no thread took for a whole
// tick to the buckets (front_tend_orphans), trim and memory pressure at once; with the balance
// manager off (LFH_BALANCE_MS=0) nothing is orphaned.
struct OrphanMagazine {
  SlotChains slots[lfh_buckets::kBuckets];
  bool waiting;         // holds a magazine (written under the orphan lock; read without it first)
  std::uint32_t ticks;  // balance ticks it has waited through
  std::uint64_t order;  // when it was left (g_orphan_order), for affinity_take_locked
};
constexpr unsigned kAffinitySlots = 16;
constinit unsigned g_affinity_slots = 0;                      // in use: min(CPUs, kAffinitySlots)
constinit std::uint32_t g_slot_threads[kAffinitySlots] = {};  // registered threads per slot
constinit os::Mutex g_orphan_lock;                            // every orphan (they change rarely)
constinit OrphanMagazine g_orphans[kAffinitySlots] = {};      // (untouched pages until used)
constinit std::uint64_t g_orphan_order = 0;                   // orphans left so far (orphan lock)

// How far the blocks waiting in orphan o for bucket b lie from block p: the least distance over
// the first few of each chain (orphan lock held: the chains are the orphan's alone).
std::uintptr_t orphan_distance(const OrphanMagazine &o, unsigned b, const void *p) {
  constexpr unsigned kSamples = 8;
  std::uintptr_t best = ~std::uintptr_t(0);
  const SlotChains &c = o.slots[b];
  for (void *q : {c.free_top, c.alloc_top})
    for (unsigned i = 0; q != nullptr && i < kSamples; ++i, q = load_link(q)) {
      const std::uintptr_t d = addr(q) > addr(p) ? addr(q) - addr(p) : addr(p) - addr(q);
      if (d < best) best = d;
    }
  return best;
}

// The slot a registering thread takes (registry lock held). Where orphans wait, one of theirs: the
// thread is most likely the replacement of a thread that just exited. With one waiting, that one.
// With several (threads that ended together), the one whose blocks of the size lie nearest the
// block the thread is freeing, when it registers in free() (`near`, of bucket b): a replacement's
// first frees are of its predecessor's objects, among which the predecessor's free blocks lie
// (wl_larson at 2 threads: the order in which the replacements happened to start handed 3 to 7 of
// 80 magazines to the other lane, a whole magazine of one lane's blocks among the other's objects
// each time); else the one that has waited longest. Where none waits, the emptiest slot (jemalloc's
// rule for arenas), the lowest of those.
unsigned affinity_take_locked(std::uint32_t cpus, const void *near, unsigned b) {
  if (g_affinity_slots == 0) g_affinity_slots = cpus == 0 ? 1 : cpus < kAffinitySlots ? cpus : kAffinitySlots;
  unsigned best = 0, waiting = 0;
  std::uint64_t best_order = ~std::uint64_t(0);
  for (unsigned i = 0; i < g_affinity_slots; ++i) {
    if (!__atomic_load_n(&g_orphans[i].waiting, __ATOMIC_RELAXED)) continue;
    ++waiting;
    const std::uint64_t order = __atomic_load_n(&g_orphans[i].order, __ATOMIC_RELAXED);
    if (order < best_order) {
      best = i;
      best_order = order;
    }
  }
  if (waiting >= 2 && near != nullptr) {
    os::LockGuard g(g_orphan_lock);   // (nests inside the registry lock, as in fork_prepare)
    std::uintptr_t nearest = ~std::uintptr_t(0);
    for (unsigned i = 0; i < g_affinity_slots; ++i) {
      if (!g_orphans[i].waiting) continue;
      const std::uintptr_t d = orphan_distance(g_orphans[i], b, near);
      if (d < nearest) {
        nearest = d;
        best = i;
      }
    }
  } else if (waiting == 0) {
    for (unsigned i = 1; i < g_affinity_slots; ++i)
      if (g_slot_threads[i] < g_slot_threads[best]) best = i;
  }
  ++g_slot_threads[best];
  return best;
}

// Give orphan o's chains to their buckets and leave it empty; orphan lock held (it nests outside
// the bucket locks, as in fork_prepare; the chains are released in place, not copied to the
// stack: a record is 5 KB, and a thread's stack may be small). `try_only` (the balance tick,
// which never waits for a bucket): a busy bucket's chains stay, and the orphan waits on with them.
void orphan_release_locked(Heap &h, OrphanMagazine &o, bool try_only = false) {
  bool kept = false;
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    SlotChains &s = o.slots[b];
    if (s.alloc_count == 0 && s.free_count == 0) continue;
    Bucket &bk = h.bucket(b);
    if (!try_only) bk.mutex().lock();
    else if (!bk.mutex().try_lock()) {
      kept = true;
      continue;
    }
    if (s.alloc_count) bk.give_back_chain(s.alloc_top, s.alloc_count, /*serialize=*/false);
    if (s.free_count) bk.give_back_home(s.free_top, s.free_tail, s.free_count, s.free_sub, /*serialize=*/false);
    bk.mutex().unlock();
    s = SlotChains{};
  }
  __atomic_store_n(&o.waiting, kept, __ATOMIC_RELAXED);
}

// The exiting thread's slots, its stash already folded in: into its affinity slot's orphan when
// none waits there, else the waiting one and these to the buckets. The slots are empty afterwards.
void orphan_leave(ThreadMagazine &tm) {
  {
    os::LockGuard g(g_orphan_lock);
    OrphanMagazine &o = g_orphans[tm.affinity];
    if (o.waiting) {
      orphan_release_locked(detail::g_process_heap, o);
    } else {
      bool any = false;
      for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
        const SlotChains &c = o.slots[b] = take_slot(tm.slots[b], b);
        any |= c.free_count != 0 || c.alloc_count != 0;
      }
      o.ticks = 0;
      __atomic_store_n(&o.order, ++g_orphan_order, __ATOMIC_RELAXED);
      __atomic_store_n(&o.waiting, any, __ATOMIC_RELAXED);
      return;
    }
  }
  flush(tm);
}

// A registering thread's slots (all empty) take the orphan waiting in its affinity slot, if any;
// the magazine is active.
void orphan_adopt(ThreadMagazine &tm) {
  OrphanMagazine &o = g_orphans[tm.affinity];
  if (!__atomic_load_n(&o.waiting, __ATOMIC_RELAXED)) return;   // (the common case: no lock)
  os::LockGuard g(g_orphan_lock);
  if (!o.waiting) return;
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    MagazineSlot &m = tm.slots[b];
    SlotChains &s = o.slots[b];
    m.alloc_top = s.alloc_top;
    m.alloc_count = s.alloc_count;
    __atomic_store_n(&m.cap, std::uint16_t(s.cap), __ATOMIC_RELAXED);
    if (s.free_count) {   // F as it was: its recorded bottom, its room, its subsegment
      m.free_top = s.free_top;
      m.free_tail = s.free_tail;
      m.free_room = std::uint16_t(slot_cap(m, b) - s.free_count);
      m.free_sub = s.free_sub;
    }
    m.net_in += std::int64_t(s.alloc_count) + s.free_count;
    s = SlotChains{};
  }
  __atomic_store_n(&o.waiting, false, __ATOMIC_RELAXED);
}

void on_thread_exit(void *arg) {
  auto *tm = static_cast<ThreadMagazine *>(arg);
  if (option_u64(Opt::balance_ms) != 0) {
    stash_fold_now(*tm);
    orphan_leave(*tm);
  } else {
    flush(*tm);
  }
  os::LockGuard g(g_registry_lock);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    g_dead_allocs[b] += tm->slots[b].allocs;
    g_dead_frees[b] += slot_frees(tm->slots[b], b);   // (flushed above: the slot is empty)
    tm->slots[b].allocs = 0;
    tm->slots[b].net_in = 0;
  }
  --g_slot_threads[tm->affinity];   // (only now, with its orphan in place, is the slot free)
  if (tm->prev) tm->prev->next = tm->next;
  else g_registry = tm->next;
  if (tm->next) tm->next->prev = tm->prev;
  tm->next = tm->prev = nullptr;
  // Frees that other thread-exit destructors make after this one bypass the magazine (the flush
  // left every free_room 0, which sends them to the slow path, and that sees kDead).
  tm->state = ThreadMagazine::kDead;
}

// The balance tick asks once a tick: give back the blocks of the buckets this thread did not use
// since the previous request (magazine.h).
LFH_NOINLINE void flush_idle_slots() {
  ThreadMagazine &tm = t_magazine;
  const bool all = __atomic_exchange_n(&tm.flush_requested, std::uint8_t(0), __ATOMIC_RELAXED) == ThreadMagazine::kFlushAll;
  Heap &h = detail::g_process_heap;
  stash_flush_now(tm);   // (whatever it holds: it is a way station, not a cache)
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    const std::uint16_t seen = std::uint16_t(tm.slots[b].allocs + slot_frees(tm.slots[b], b));
    if (all || seen == tm.slots[b].flush_seen) flush_slot(h, b, tm.slots[b]);
    tm.slots[b].flush_seen = seen;
  }
}

LFH_ALWAYS_INLINE void flush_if_requested() {
  if (LFH_UNLIKELY(__atomic_load_n(&t_magazine.flush_requested, __ATOMIC_RELAXED) != 0)) flush_idle_slots();
}

// Set up the calling thread's magazine; false when it cannot (look-aside lists off, or dying).
// `near`: the block of bucket b that the calling free() is freeing (affinity_take_locked).
bool ensure_registered(Heap &h, const void *near = nullptr, unsigned b = 0) {
  ThreadMagazine &tm = t_magazine;
  if (LFH_LIKELY(tm.state == ThreadMagazine::kActive)) return true;
  if (tm.state == ThreadMagazine::kDead || !h.lookaside_enabled()) return false;
  if (!os::thread_exit_hook(on_thread_exit) || !os::thread_exit_arm(&tm)) return false;
  {
    os::LockGuard g(g_registry_lock);
    tm.affinity = std::uint8_t(affinity_take_locked(h.lookaside().cpus(), near, b));
    tm.prev = nullptr;
    tm.next = g_registry;
    if (g_registry) g_registry->prev = &tm;
    g_registry = &tm;
  }
  tm.state = ThreadMagazine::kActive;
  orphan_adopt(tm);
  return true;
}

}  // namespace

namespace detail {

void front_overflow_impl(Subsegment *s, void *p);

// Another CPU's whole look-aside list of bucket b (one CAS each; a few CPUs at most), or null.
// Not a list in use — one a magazine refilled from within kListInUseTicks, about a millisecond
// (lookaside.h, last_refill) — unless it is at least half full. An idle list holds what a thread
// that moved or exited left behind, or what a thread that only frees (a consumer) pushed there; a
// list half full has more than its thread's own swings need. The rest of a list in use is the
// blocks its thread freed and will allocate again: taken by another thread, they interleave the
// two threads' objects in the same cache lines, which both then write. With two persistent
// threads (`wl_larson --generations 1 --sharing 1`), 0.85 % of the live lines held objects of both
// (mimalloc and jemalloc: none; 0.15-0.40 % with this rule), and with no steal at all the run took
// 0.23 s rather than 0.32 s in the machine's phase where its two vCPUs share no cache.
void *steal_from_other_cpus(Heap &h, unsigned b, std::uint32_t *n) {
  constexpr std::uint32_t kMaxVisits = 8;
  const std::uint32_t cpus = h.lookaside().cpus();
  const std::uint32_t self = os::current_cpu_fast();
  const std::uint32_t visits = cpus - 1 < kMaxVisits ? cpus - 1 : kMaxVisits;
  const std::uint32_t now = os::coarse_ticks();
  for (std::uint32_t i = 1; i <= visits; ++i) {
    LookasideList &o = h.lookaside().list((self + i) % cpus, b);
    if (o.stack.count() == 0) continue;
    if (now - __atomic_load_n(&o.last_refill, __ATOMIC_RELAXED) < kListInUseTicks &&
        o.stack.count() * 2 < __atomic_load_n(&o.depth, __ATOMIC_RELAXED))
      continue;
    if (void *chain = o.stack.pop_all(n)) return chain;
  }
  return nullptr;
}

// Start F of bucket b's slot with block q (free, not on any chain) of subsegment s: it is F's
// recorded bottom. The magazine is active (only then does free_room become non-zero).
LFH_ALWAYS_INLINE void start_free_stack(MagazineSlot &m, unsigned b, void *q, Subsegment *s) {
  store_link(q, nullptr);
  m.free_top = m.free_tail = q;
  m.free_room = std::uint16_t(slot_cap(m, b) - 1);
  m.free_sub = s;
}

// A refill found blocks on this CPU's list: double the slot's cap, up to kMagazineCapMax
// (MagazineSlot::cap). |F| is unchanged, so its room grows by as much — while F holds blocks:
// an empty F's room stays 0 (the invariants in magazine.h).
LFH_ALWAYS_INLINE void raise_cap(MagazineSlot &m, unsigned b) {
  const std::uint32_t cap = slot_cap(m, b), max = kMagazineCapMax[b];
  if (cap >= max) return;
  const std::uint32_t next = 2 * cap < max ? 2 * cap : max;
  if (m.free_top != nullptr) m.free_room = std::uint16_t(m.free_room + (next - cap));
  __atomic_store_n(&m.cap, std::uint16_t(next), __ATOMIC_RELAXED);
}

// How many fresh blocks a carve for slot m asks the bucket for: for the slot's first
// kQuietRefills refills only take_batch's minimum, a page's worth, then kCarveBytes' worth, which
// is the magazine's cap except where the cap is clamped: more for blocks under 32 bytes (cap 255),
// two blocks for those over 4 KB (one lock round per 8 KB of fresh blocks, not per 4 KB; wl_lisp
// at 2 threads 0.19 -> 0.18 s). A program whose
// threads each touch many buckets a little (objects of slowly growing sizes) then does not make
// every thread touch a second page of each of them ahead of need (wl_bignum at 4 threads: peak
// RSS 5.3 -> 4.7 MB), while a bucket in steady use still gets whole batches.
constexpr std::size_t kCarveBytes = 8192;
LFH_ALWAYS_INLINE std::uint32_t carve_want(MagazineSlot &m, unsigned b) {
  if (m.refills < kQuietRefills) {
    ++m.refills;
    return 1;
  }
  const auto steady = std::uint32_t(kCarveBytes / lfh_buckets::block_size(b));
  return steady > kMagazineCap[b] ? steady : kMagazineCap[b];
}

void *front_refill(unsigned b) {
  Heap &h = process_heap();   // the first call of the process initialises lfh here
  balance_slow_path();
  if (!ensure_registered(h)) return h.alloc_bucket(b);
  flush_if_requested();
  // Registering may just have adopted an orphaned magazine (orphan_adopt): serve from it.
  if (void *p = front_pop(b)) return p;
  MagazineSlot &m = t_magazine.slots[b];
  // Here A is empty and F holds at most its bottom block (front_pop failed, the only way here; a
  // flush above only empties): A takes this CPU's whole list, or a batch from elsewhere.
  LookasideList &l = h.lookaside().list(os::current_cpu_fast(), b);
  bump_counter(l.allocs);   // a refill is one allocation from the list (depth tuning, and the
                            // statistics: the block it returns is counted here, not in the slot)
  __atomic_store_n(&l.last_refill, os::coarse_ticks(), __ATOMIC_RELAXED);
  std::uint32_t n;
  void *chain = l.stack.pop_all(&n);   // (≤ its depth) in one CAS
  if (chain) raise_cap(m, b);
  if (!chain) {
    bump_counter(l.misses);
    raise_depth_on_miss(l);
    // Blocks before fresh ones: this thread's stash (no lock), the bucket's pending chain or a
    // subsegment's free list, then what waits on other CPUs' lists (a thread that moved, or a
    // burst freed on the other CPU, leaves them there until the balance tick; carving past them
    // grew RSS by their size).
    chain = nullptr;
    if (stash_try_lock(t_magazine)) {
      chain = stash_take(t_magazine, b, &n);
      stash_unlock(t_magazine);
    }
    if (!chain) n = h.bucket(b).take_batch(kMagazineCap[b], &chain, /*carve=*/false);
    if (n == 0) chain = steal_from_other_cpus(h, b, &n);
    if (!chain) n = h.bucket(b).take_batch(carve_want(m, b), &chain);
    if (n == 0) {
      // Out of memory: the balance manager trims every heap, then one more try.
      if (!balance_relieve_pressure(&h)) return nullptr;
      n = h.bucket(b).take_batch(carve_want(m, b), &chain);
      if (n == 0) return nullptr;
    }
  }
  // The block handed out now never enters the magazine: the list's allocs count it (above), the
  // slot's allocs do not (it used to be counted by both), and net_in takes the other n − 1.
  m.alloc_top = chain;
  m.alloc_count = n;
  m.net_in += n - 1;
  void *p = m.alloc_top;
  m.alloc_top = load_link(p);
  --m.alloc_count;
  // An empty F would send the next free() to the slow path: start it with A's next block.
  if (m.free_top == nullptr && m.alloc_top) {
    void *q = m.alloc_top;
    m.alloc_top = load_link(q);
    --m.alloc_count;
    start_free_stack(m, b, q, reinterpret_cast<Subsegment *>(vm::pagemap_lookup(q)));
  }
  clear_link(p);
  return p;
}

void front_free_lfh_suspect(Subsegment *s, void *p) {
  if (lfh_block_is_free(s, p)) Heap::double_lfh_free(p);
  front_free_lfh_checked(s, p);
}

void front_overflow(Subsegment *s, void *p) {
  int saved_errno = errno;   // free() must not change errno (a purge may fail inside)
  front_overflow_impl(s, p);
  errno = saved_errno;
}

void front_overflow_impl(Subsegment *s, void *p) {
  Heap &h = detail::g_process_heap;
  const unsigned b = s->bucket;
  balance_slow_path_free();
  if (!ensure_registered(h, p, b)) {
    h.lfh_free_checked(s, p);
    return;
  }
  flush_if_requested();
  MagazineSlot &m = t_magazine.slots[b];
  // Registering may just have adopted an orphaned magazine whose F has room (orphan_adopt).
  if (m.free_room != 0) return front_push(s, p);
  // F is full or empty here (front_push's test failed, the only way here; registering or a flush
  // above leaves it empty). A non-empty F moves whole: its tail is recorded whatever its length.
  if (m.free_top != nullptr) {
    // F is full: it moves whole, head to recorded tail, to this CPU's list (one CAS, no walk), or
    // towards the bucket (the stash, below) when the list is at its depth; p starts a new F.
    const std::uint32_t moved = slot_free_count(m, b);
    m.net_in -= moved;
    LookasideList &l = h.lookaside().list(os::current_cpu_fast(), b);
    // An empty list takes F whatever its depth: a depth below the cap (4 at first, and again after
    // each stale cut) would otherwise never let a full F of a small bucket onto the list, and the
    // next refill on this CPU finds the blocks freed last there (wl_lisp −2 %).
    const std::uint32_t count = l.stack.count();
    if (count == 0 || count + moved <= __atomic_load_n(&l.depth, __ATOMIC_RELAXED)) {
      l.stack.push_chain(m.free_top, m.free_tail, moved);
    } else {
      bump_counter(l.overflows);
      // A list this thread found full kStaleOverflows times in a row with no allocation from it
      // in between is going stale (a mass free, thousands of blocks): its blocks go back with
      // ours, or each would keep its subsegment's pages until the next balance tick
      // (magazine.h, overflow_seen). Part of the balance manager: off with LFH_BALANCE_MS=0.
      const std::uint16_t allocs = std::uint16_t(__atomic_load_n(&l.allocs, __ATOMIC_RELAXED));
      if (allocs != m.overflow_seen) m.stale_overflows = 0;
      else if (m.stale_overflows < kStaleOverflows) ++m.stale_overflows;
      bool stale = false;
      void *old = nullptr;
      std::uint32_t old_n = 0;
      if (m.stale_overflows >= kStaleOverflows && option_u64(Opt::balance_ms) != 0) {
        stale = true;
        m.stale_overflows = 0;
        old = l.stack.pop_all(&old_n);
        // And the list is cut back to the initial depth until it is allocated from again (a
        // miss raises it on demand; the balance tick tunes it): ExAdjustLookasideDepth's rule for
        // a list nobody allocates from, applied at once.
        const std::uint32_t low = runtime_options().lookaside_depth;
        if (__atomic_load_n(&l.depth, __ATOMIC_RELAXED) > low) __atomic_store_n(&l.depth, low, __ATOMIC_RELAXED);
      }
      m.overflow_seen = allocs;
      // Stale: home to the subsegments (F as one run when it never mixed subsegments). Otherwise
      // into the stash, and from there, kStashChains at a time, parked whole on the bucket
      // (O(1)): the blocks are likely wanted again soon (Bucket::give_back_whole), and go home
      // from there when they are not.
      Subsegment *home = m.free_sub;
      Bucket &bk = h.bucket(b);
      if (!stale && stash_try_lock(t_magazine)) {
        stash_push(t_magazine, b, m.free_top, m.free_tail, moved, home);
        stash_unlock(t_magazine);
      } else if (!stale) {
        bk.give_back_whole(m.free_top, m.free_tail, moved, home);   // (the tick has the stash)
      } else {
        bk.give_back_home(m.free_top, m.free_tail, moved, home);
        if (old) bk.give_back_chain(old, old_n);
      }
    }
  }
  start_free_stack(m, b, p, s);   // (a free: counted by |F|, see MagazineSlot::net_in)
}

}  // namespace detail

void front_stats(std::uint64_t *allocs, std::uint64_t *frees) {
  os::LockGuard g(g_registry_lock);
  std::uint64_t a = 0, f = 0;
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
    a += g_dead_allocs[b];
    f += g_dead_frees[b];
  }
  for (ThreadMagazine *tm = g_registry; tm; tm = tm->next)
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
      a += __atomic_load_n(&tm->slots[b].allocs, __ATOMIC_RELAXED);
      f += slot_frees(tm->slots[b], b);
    }
  *allocs = a;
  *frees = f;
}

void front_bucket_stats(MagazineBucketStats *out) {
  os::LockGuard g(g_registry_lock);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) out[b] = {g_dead_allocs[b], g_dead_frees[b], 0};
  for (ThreadMagazine *tm = g_registry; tm; tm = tm->next) {
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
      out[b].allocs += __atomic_load_n(&tm->slots[b].allocs, __ATOMIC_RELAXED);
      out[b].frees += slot_frees(tm->slots[b], b);
      // (A moment stale at worst: slot_cached.)
      out[b].cached += slot_cached(tm->slots[b], b);
    }
    const std::uint32_t len = __atomic_load_n(&tm->stash_len, __ATOMIC_RELAXED);
    for (std::uint32_t i = 0; i < len && i < kStashChains; ++i) {
      const std::uint32_t b = __atomic_load_n(&tm->stash[i].bucket, __ATOMIC_RELAXED);
      if (b < lfh_buckets::kBuckets) out[b].cached += __atomic_load_n(&tm->stash[i].n, __ATOMIC_RELAXED);
    }
  }
  std::uint64_t orphaned[lfh_buckets::kBuckets] = {};
  front_orphan_cached(orphaned);
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) out[b].cached += orphaned[b];
}

void front_drain_stash(ThreadMagazine &tm) {
  if (__atomic_load_n(&tm.stash_len, __ATOMIC_RELAXED) == 0 || !stash_try_lock(tm)) return;
  // Onto the pending chains, untaken, as the owner's flush would: the tick's pass over the heaps
  // sends them home next (Bucket::retire_idle_locked), purging the spans that empties. Busy
  // buckets are skipped, as everywhere in the tick.
  stash_flush(tm, /*try_only=*/true);
  stash_unlock(tm);
}

void front_tend_orphans(bool all, bool may_wait) {
  // A thread that holds the process heap (lfh_heap_lock) owns its bucket locks already.
  if (detail::g_process_heap.held_by_me()) return;
  bool any = false;
  for (const OrphanMagazine &o : g_orphans) any |= __atomic_load_n(&o.waiting, __ATOMIC_RELAXED);
  if (!any) return;
  if (may_wait) g_orphan_lock.lock();
  else if (!g_orphan_lock.try_lock()) return;
  // Its first tick: the thread that replaces its owner may still be starting.
  for (OrphanMagazine &o : g_orphans)
    if (o.waiting && (all || o.ticks++ != 0)) orphan_release_locked(detail::g_process_heap, o, !may_wait);
  g_orphan_lock.unlock();
}

unsigned front_affinity_slots() {
  os::LockGuard g(g_registry_lock);
  return g_affinity_slots;
}

void front_orphan_cached(std::uint64_t *per_bucket) {
  os::LockGuard g(g_orphan_lock);
  for (const OrphanMagazine &o : g_orphans) {
    if (!o.waiting) continue;
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) per_bucket[b] += o.slots[b].alloc_count + o.slots[b].free_count;
  }
}

void front_for_each_magazine(void (*fn)(ThreadMagazine &, void *), void *arg) {
  os::LockGuard g(g_registry_lock);
  for (ThreadMagazine *tm = g_registry; tm; tm = tm->next) fn(*tm, arg);
}

void front_flush_current_thread() {
  if (t_magazine.state == ThreadMagazine::kActive) flush(t_magazine);
}

}  // namespace lfh

namespace lfh {
void front_fork_prepare() {
  g_registry_lock.lock();
  g_orphan_lock.lock();
}
void front_fork_parent() {
  g_orphan_lock.unlock();
  g_registry_lock.unlock();
}
void front_fork_child() {
  g_orphan_lock.reset_after_fork();
  g_registry_lock.reset_after_fork();
  // Only the forking thread lives on in the child: the slots' thread counts start again from it.
  for (std::uint32_t &n : g_slot_threads) n = 0;
  if (t_magazine.state == ThreadMagazine::kActive) ++g_slot_threads[t_magazine.affinity];
}
}  // namespace lfh
