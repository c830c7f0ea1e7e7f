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
  std::uint32_t pad;
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
};

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
