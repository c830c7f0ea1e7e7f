// lookaside/magazine.h — a small per-thread magazine of free blocks per bucket, in front of the
// per-CPU look-aside lists of the process heap. A hit costs no atomic at all: the magazine is
// owned by its thread (initial-exec TLS). Misses and overflows move whole chains between the
// magazine and this CPU's look-aside list (one CAS each) or the bucket, so the look-aside
// semantics stay as they are behind it: per CPU, LIFO, depth-tuned.
//
// Each slot holds two chains:
//  - F, the free stack: free() pushes here, and malloc() pops here first (LIFO: the block freed
//    last is handed out next) while F holds two blocks or more. Its bottom block (free_tail) is
//    recorded when F is started and never popped, so a full F moves to a look-aside list whole in
//    O(1) (a chain push needs its head and tail). Walking to a chain's middle or end instead meant
//    one dependent load per block, of blocks long out of cache: 16 % of wl_larson's run time,
//    90 % of Bucket::take's in wl_fragmentation (the same walk over subsegment free lists).
//  - A, the allocation chain: malloc() pops here when F has only its bottom left. The slow path
//    fills it whole — this CPU's whole list, a stashed free stack (below), or from the bucket its
//    pending chain, a subsegment's whole free list or a fresh run, or another CPU's idle or
//    half-full list — so its length is not bounded by the cap and its tail is never needed.
//
// Invariants:
//  - blocks in a magazine are linked with the same encoded links as every free LFH block
//    (lfh/free_link.h), so double-free detection and heap validation treat them as free; both
//    chains end with a null link;
//  - alloc_count == length of A; F holds at most slot_cap blocks (≤ kMagazineCapMax); an empty F has
//    free_top == free_tail == nullptr, so "F holds two or more" is free_top != free_tail;
//  - free_room == cap − |F| while F is non-empty and the magazine is active, and 0 otherwise
//    (F empty, or the thread not registered yet or dead): free()'s fast path needs one test,
//    free_room != 0, and so pushes only onto 1 ≤ |F| < cap, and free_tail stays F's bottom;
//  - F is empty only in the slow path's hands or while the magazine is not active;
//  - a thread's magazine is emptied when the thread exits (a pthread key destructor): into the
//    orphaned magazine of its affinity slot, which the next thread to take that slot adopts, or
//    into the buckets (front.cpp);
//    afterwards `state` is kDead and the thread's late frees bypass it;
//  - the stash (below) holds at most kStashChains full free stacks, ≤ 8 KB each; it is emptied
//    into the buckets with the magazine (thread exit, trim), on every flush request of the
//    balance tick, and by the tick itself when a request went unanswered for a tick; its blocks
//    count as cached, like F's and A's, in the statistics.
#pragma once
#include <array>
#include <cstdint>

#include "base/bits.h"
#include "lfh/bucket_table.h"

namespace lfh {

struct Subsegment;   // lfh/subsegment.h (only compared and handed back here)

// One cache line per bucket: a malloc or free touches this line and the block, nothing else of
// the thread's (the counters used to sit in arrays of their own: a second line per call).
struct alignas(64) MagazineSlot {
  void *free_top;             // F
  void *free_tail;            // F's bottom block (null while F is empty)
  void *alloc_top;            // A
  std::uint32_t alloc_count;
  // Pushes F can still take (see the invariants above): free()'s one test. |F| itself is not
  // stored: it is cap − free_room, or 0 for an empty F (slot_free_count).
  std::uint16_t free_room;
  // Refills so far, up to kQuietRefills: a slot's first refills carve only a page's worth of
  // fresh blocks (front.cpp, carve_want).
  std::uint16_t refills;
  // Statistics stay with the thread (plain stores, no atomics) and are summed on read through
  // the registry of live magazines; a dying thread folds them into a process-wide total.
  // Frees are not counted on the fast path (three instructions saved per free): the slow paths
  // count the blocks they bring in (refills) and take out (moves and flushes) in net_in, and as
  // every block that enters the magazine leaves it again or is still there,
  //     frees = allocs + (|F| + alloc_count) − net_in      (slot_frees below).
  std::uint64_t allocs;       // served by the fast path (a refill's block is the list's)
  std::int64_t net_in;        // blocks the slow paths brought in, minus those they took out
  // The subsegment every block on F belongs to, or null once F mixes subsegments (free() clears
  // it when it pushes a block of another one). A full F that has to go home to its subsegment —
  // a mass free, such as a garbage collector's sweep, that overflows every cache — then goes as
  // one run, in O(1), instead of a walk of its links (one dependent load per block: 10 % of
  // wl_lisp's time). The blocks of one free stack mostly share a subsegment because programs
  // free objects in about the order they allocated them.
  Subsegment *free_sub;
  // The balance tick's flush request (ThreadMagazine::flush_requested): the owner's snapshot of
  // allocs + frees at the previous request (low 16 bits); unchanged means the slot went unused
  // since (a use of exactly 65536 calls in a tick passes for none: that slot's flush waits a tick).
  std::uint16_t flush_seen;
  // The owner's snapshot of a CPU list's allocation count (low 16 bits) when an overflow last
  // found the list full, and how many overflows in a row found it full with that count unchanged:
  // after kStaleOverflows nobody allocated from the list while this thread freed thousands of
  // blocks into it, so its blocks are going stale and go back to the bucket (front.cpp).
  std::uint16_t overflow_seen;
  std::uint16_t stale_overflows;
  // F's capacity now (slot_cap; 0 until first set: kMagazineCap[b]). A refill that finds blocks
  // on this CPU's list doubles it, up to kMagazineCapMax[b] (front.cpp, raise_cap): the thread
  // both frees and allocates this size, and every full F it pushes to the list comes back whole
  // with its next refill — a CAS each way for nothing. A thread that only frees a size (a
  // consumer) never refills it and keeps the small cap; flushing the slot (an idle slot at the
  // balance tick, trim, pressure) sets it back.
  std::uint16_t cap;
};
static_assert(sizeof(MagazineSlot) == 64);

// A full free stack on its way to its bucket (ThreadMagazine::stash).
struct StashedChain {
  void *head, *tail;   // the chain, linked and null-terminated as on F
  Subsegment *sub;     // F's free_sub when it was stashed (null: mixed subsegments)
  std::uint32_t n;     // blocks (written relaxed-atomically: statistics read it)
  std::uint32_t bucket;
};
// The stash: full free stacks that found this CPU's list full wait here, and reach their buckets
// kStashChains at a time, one lock round per bucket among them. A mass free that overflows every
// cache (a garbage collector's sweep) took the bucket lock once per free stack — once per 64 frees
// of a small block: 560 000 lock rounds in wl_lisp's 0.35 s, which two threads sweeping the same
// size contended for (wl_lisp at 2 / 4 threads −4 / −7 %). A refill that finds this CPU's list
// empty takes the last stashed chain of its bucket before it locks the bucket: no lock either way
// for a thread that frees and then allocates the same sizes.
inline constexpr unsigned kStashChains = 16;

struct ThreadMagazine {
  enum State : std::uint8_t { kUnregistered = 0, kActive = 1, kDead = 2 };
  MagazineSlot slots[lfh_buckets::kBuckets];
  StashedChain stash[kStashChains];
  std::uint32_t stash_len;                       // entries in use (relaxed-atomic writes)
  // Held (1) by whoever touches the stash's chains: its owner, in its slow paths, or the balance
  // tick draining the stash of a thread that has not run a slow path for a whole tick (a thread
  // asleep after a mass free must not pin the stash's subsegments; front_drain_stash). The owner
  // only try-locks it, and passes the stash by when the tick has it, except when it must empty it.
  std::uint8_t stash_lock;
  ThreadMagazine *next, *prev;                   // registry (front.cpp)
  std::uint8_t state;
  // The thread's affinity slot, chosen when it registers (front.cpp, affinity_take_locked): which
  // orphaned magazine it leaves when it exits, and which one it adopts when it starts.
  std::uint8_t affinity;
  // Set by the balance tick (relaxed store) once a tick. On its next slow path the owner clears it
  // and gives back to the buckets the blocks of every slot whose bucket it did not use since the
  // previous request (allocs+frees unchanged against flush_seen, its own snapshot): cold slots
  // must not pin subsegments. Nobody but the owner ever touches the slots' chains or snapshots.
  enum Flush : std::uint8_t { kFlushNone = 0, kFlushIdle = 1, kFlushAll = 2 };
  std::uint8_t flush_requested;                  // a Flush; kFlushAll: every slot (pressure, trim)
};

inline constexpr std::uint16_t kStaleOverflows = 128;
inline constexpr std::uint16_t kQuietRefills = 16;

// Blocks F keeps per bucket: 8 KB worth, between 2 and 255 blocks (2: F's fast path needs room
// for one block above its recorded bottom; 255: the table's type). Each slow path is a CAS or a
// bucket lock that threads freeing the same sizes contend for, and a bucket lock moves the lock's
// line and the descriptors it writes between cores; a ceiling of 255 rather than 64 blocks (the
// buckets below 128 bytes; the 8 KB bound is unchanged) cut wl_lisp 0.20 -> 0.187 s at 2 threads
// and 0.21 -> 0.19 s at 4. (64 rather than 32 had halved them once already.)
constexpr std::uint32_t magazine_cap_of(unsigned b) {
  std::size_t n = 8192 / lfh_buckets::block_size(b);
  return std::uint32_t(n < 2 ? 2 : n > 255 ? 255 : n);
}
inline constexpr auto kMagazineCap = [] {
  std::array<std::uint8_t, lfh_buckets::kBuckets> t{};
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) t[b] = std::uint8_t(magazine_cap_of(b));
  return t;
}();
static_assert(kMagazineCap[0] == 255 && kMagazineCap[3] == 255 && kMagazineCap[7] == 128 && kMagazineCap[127] == 2);

// How far raise_cap lets F grow: four times the cap, within 32 KB of blocks (never below the cap).
// wl_larson, whose threads free and allocate random sizes of 8-1000 bytes: 288 000 overflows of
// a full F per run with the 8 KB cap, 10 800 with 32 KB, and 11 % less time at one thread.
// Raising every cap to 32 KB instead cost wl_xmalloc's consumers 2 MB more peak RSS at 2 pairs.
inline constexpr std::size_t kMagazineGrowBytes = 32768;
constexpr std::uint32_t magazine_cap_max_of(unsigned b) {
  const std::uint32_t cap = magazine_cap_of(b);
  const std::size_t by_bytes = kMagazineGrowBytes / lfh_buckets::block_size(b);
  const std::uint32_t grown = by_bytes < 4 * cap ? std::uint32_t(by_bytes) : 4 * cap;
  return grown > cap ? grown : cap;
}
inline constexpr auto kMagazineCapMax = [] {
  std::array<std::uint16_t, lfh_buckets::kBuckets> t{};
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) t[b] = std::uint16_t(magazine_cap_max_of(b));
  return t;
}();
static_assert(kMagazineCapMax[0] == 1020 && kMagazineCapMax[127] == 2);

// Slot m's cap (its owner; another thread's read may be a moment stale, like the counts below).
inline std::uint32_t slot_cap(const MagazineSlot &m, unsigned b) {
  const std::uint16_t c = __atomic_load_n(&m.cap, __ATOMIC_RELAXED);
  return c != 0 ? c : kMagazineCap[b];
}

// Blocks F of bucket b's slot holds; and F and A together. Exact for the owner; another thread
// reads with relaxed loads and may catch the owner between two stores of one slow path: a count a
// moment stale is all such a reader (statistics) may expect.
inline std::uint32_t slot_free_count(const MagazineSlot &m, unsigned b) {
  if (__atomic_load_n(&m.free_top, __ATOMIC_RELAXED) == nullptr) return 0;
  const std::uint32_t room = __atomic_load_n(&m.free_room, __ATOMIC_RELAXED), cap = slot_cap(m, b);
  return room < cap ? cap - room : 0;
}
inline std::uint32_t slot_cached(const MagazineSlot &m, unsigned b) {
  return slot_free_count(m, b) + __atomic_load_n(&m.alloc_count, __ATOMIC_RELAXED);
}
// The slot's frees so far (see net_in), never negative (for such a reader).
inline std::uint64_t slot_frees(const MagazineSlot &m, unsigned b) {
  const std::int64_t f = std::int64_t(__atomic_load_n(&m.allocs, __ATOMIC_RELAXED)) + slot_cached(m, b) -
                         __atomic_load_n(&m.net_in, __ATOMIC_RELAXED);
  return f > 0 ? std::uint64_t(f) : 0;
}

// constinit: no dynamic initialisation, so no TLS wrapper call on the fast path.
extern LFH_HIDDEN constinit thread_local ThreadMagazine t_magazine __attribute__((tls_model("initial-exec")));

}  // namespace lfh
