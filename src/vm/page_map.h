// vm/page_map.h — address → owner, one entry per 64 KB granule of the 47-bit user address space.
//
// Every range lfh hands blocks out of (an LFH subsegment, a direct block, a core segment, a
// page-heap block) is registered here with a pointer to its owner descriptor, whose first byte is
// an OwnerKind. free(p) therefore needs two dependent loads to know what p is: the entry, then the
// owner's header; and a pointer lfh never handed out maps to nullptr instead of being followed.
//
// The map is one flat array of 2^31 entries (16 GiB of address space) reserved readable and never
// charged (MAP_NORESERVE): entries never written read as zero from the kernel's zero page, so a
// lookup of any address is safe and costs no memory. Pages of the map are charged to the commit
// total the first time an entry on them is written (committed on demand).
//
// Invariant: an entry is non-null exactly while its granule belongs to a live owner. Entries are
// written before the owner's blocks are handed out and cleared before its memory is reused, under
// the owner's lock; readers (free) only look up blocks they own, so relaxed loads suffice.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "os/os.h"

namespace lfh::vm {

enum class OwnerKind : std::uint8_t {
  kNone = 0,
  kLfhSubsegment = 1,
  kDirectBlock = 2,
  kCoreSegment = 3,
  kPageHeapBlock = 4,
};

// Every owner descriptor starts with this header.
struct OwnerHeader {
  OwnerKind kind;
  // 1 on the LFH subsegments of the process heap only: free()'s fast path tests kind and this in
  // one 16-bit compare (owner_is_process_lfh) and so needs no load of the owning heap.
  std::uint8_t process_lfh;
};

LFH_ALWAYS_INLINE bool owner_is_process_lfh(const OwnerHeader *o) {
  std::uint16_t v;
  __builtin_memcpy(&v, o, sizeof v);
  return v == (std::uint16_t(OwnerKind::kLfhSubsegment) | std::uint16_t(1) << 8);
}

inline constexpr unsigned kMapShift = 16;   // log2(kGranularity)
static_assert((std::size_t(1) << kMapShift) == os::kGranularity);

namespace detail {
// The map and its length in entries, side by side (one line): length 0 until pagemap_init(),
// so a lookup's one compare of the granule index rejects both an address above the 47-bit user
// space and a lookup before the map exists (a free() of a pointer lfh never handed out).
//
// `gated`: the entries free()'s fast path looks up (pagemap_lookup_gated): `entries`, or 0 once a
// layer above has closed the gate (pagemap_close_gate: the debug layer, which must see every
// free). The same one compare then also sends every free to the slow path, so the fast path
// needs no test of its own for that (3 instructions less per free).
struct alignas(32) MapRef {
  std::uintptr_t *map;
  std::uintptr_t entries;
  std::uintptr_t gated;
};
extern LFH_HIDDEN MapRef g_map;
}

bool pagemap_init();
// Register [base, base+size) (granule-aligned) as owned by `owner`. False if the map pages could
// not be charged; then nothing was registered.
bool pagemap_set(const void *base, std::size_t size, const void *owner);
void pagemap_clear(const void *base, std::size_t size);

// The owner of the granule containing p, or nullptr.
LFH_ALWAYS_INLINE OwnerHeader *pagemap_lookup(const void *p) {
  const std::uintptr_t i = addr(p) >> kMapShift;
  // (entries is published after map, release/acquire in pagemap_init; on x86 plain loads.)
  if (LFH_UNLIKELY(i >= __atomic_load_n(&detail::g_map.entries, __ATOMIC_ACQUIRE))) return nullptr;
  return reinterpret_cast<OwnerHeader *>(__atomic_load_n(&detail::g_map.map[i], __ATOMIC_RELAXED));
}

// As pagemap_lookup, but nullptr for every address once the gate is closed: free()'s fast path.
LFH_ALWAYS_INLINE OwnerHeader *pagemap_lookup_gated(const void *p) {
  const std::uintptr_t i = addr(p) >> kMapShift;
  if (LFH_UNLIKELY(i >= __atomic_load_n(&detail::g_map.gated, __ATOMIC_ACQUIRE))) return nullptr;
  return reinterpret_cast<OwnerHeader *>(__atomic_load_n(&detail::g_map.map[i], __ATOMIC_RELAXED));
}
// Close the gate for good (pagemap_lookup_gated finds nothing from now on). Call before publishing
// whatever makes the slow path needed.
void pagemap_close_gate();

}  // namespace lfh::vm

namespace lfh::vm {
// Fork protection for the map's charge lock.
void pagemap_lock();
void pagemap_unlock();
void pagemap_reset_lock();
}  // namespace lfh::vm
