// lookaside/magazine.h — a small per-thread magazine of free blocks per bucket, in front of the
// per-CPU look-aside lists of the process heap. A hit costs no atomic at all: the magazine is
// owned by its thread (initial-exec TLS). Misses and overflows move blocks between the magazine and
// this CPU's look-aside list in batches (one CAS each), so the look-aside semantics stay as they
// are behind it: per CPU, LIFO, depth-tuned.
//
// Invariants:
//  - blocks in a magazine are linked with the same encoded links as every free LFH block
//    (lfh/free_link.h), so double-free detection and heap validation treat them as free;
//  - slot.count == length of the chain at slot.top, and count ≤ magazine_cap(bucket);
//  - a thread's magazine is emptied into the look-aside lists when the thread exits (a pthread key
//    destructor); afterwards `state` is kDead and the thread's late frees bypass it.
#pragma once
#include <array>
#include <cstdint>

#include "base/bits.h"
#include "lfh/bucket_table.h"

namespace lfh {

struct MagazineSlot {
  void *top;
  std::uint32_t count;
  // Blocks a free may add: kMagazineCap[bucket] while the magazine is registered (kActive), 0
  // before and after (kDead). The fast path's one compare `count < cap` thus also sends a thread
  // whose magazine is not active to the slow path, with no separate load of `state`.
  std::uint32_t cap;
};

// Statistics stay with the thread (plain stores, no atomics) and are summed on read through a
// registry of live magazines; a dying thread folds them into a process-wide total.
struct ThreadMagazine {
  enum State : std::uint8_t { kUnregistered = 0, kActive = 1, kDead = 2 };
  MagazineSlot slots[lfh_buckets::kBuckets];
  std::uint64_t allocs[lfh_buckets::kBuckets];   // served from the magazine
  std::uint64_t frees[lfh_buckets::kBuckets];    // taken into the magazine
  ThreadMagazine *next, *prev;                   // registry (front.cpp)
  std::uint8_t state;
  // Set by the balance tick (relaxed store) once a tick. On its next slow path the owner clears it
  // and gives back to the buckets the blocks of every slot whose bucket it did not use since the
  // previous request (allocs+frees unchanged against flush_seen, its own snapshot): cold slots
  // must not pin subsegments. Nobody but the owner ever touches slots[] or flush_seen[].
  enum Flush : std::uint8_t { kFlushNone = 0, kFlushIdle = 1, kFlushAll = 2 };
  std::uint8_t flush_requested;                  // a Flush; kFlushAll: every slot (pressure, trim)
  std::uint32_t flush_seen[lfh_buckets::kBuckets];
  // The owner's snapshot of a CPU list's allocation count when an overflow last found the list
  // full, and how many overflows in a row found it full with that count unchanged: after
  // kStaleOverflows nobody allocated from the list while this thread freed thousands of blocks
  // into it, so its blocks are going stale and go back to the bucket (front.cpp).
  std::uint32_t overflow_seen[lfh_buckets::kBuckets];
  std::uint16_t stale_overflows[lfh_buckets::kBuckets];
};

inline constexpr std::uint16_t kStaleOverflows = 128;

// Blocks kept per bucket: 8 KB worth, between 1 and 32 blocks.
constexpr std::uint32_t magazine_cap_of(unsigned b) {
  std::size_t n = 8192 / lfh_buckets::block_size(b);
  return std::uint32_t(n < 1 ? 1 : n > 32 ? 32 : n);
}
inline constexpr auto kMagazineCap = [] {
  std::array<std::uint8_t, lfh_buckets::kBuckets> t{};
  for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) t[b] = std::uint8_t(magazine_cap_of(b));
  return t;
}();
static_assert(kMagazineCap[0] == 32 && kMagazineCap[127] == 1);

// constinit: no dynamic initialisation, so no TLS wrapper call on the fast path.
extern LFH_HIDDEN constinit thread_local ThreadMagazine t_magazine __attribute__((tls_model("initial-exec")));

}  // namespace lfh
