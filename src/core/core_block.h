// core/core_block.h — the block format of the core heap (blocks above 16 KB, below the direct
// threshold): NT's heap entry with boundary tags.
//
// A segment (core_segment.h) is tiled by blocks, each starting with a 16-byte header:
//
//   offset 0  u32 size_flags   block size in 16-byte units (header included) | kFreeBit if free;
//                              0 marks a "dead" header: one that was merged into a free neighbour
//   offset 4  u32 prev_units   size of the previous block in units; 0 for a segment's first block
//   offset 8  u64 check        seal(address, size_flags, prev_units): a per-process key mixed with
//                              the header's own address and both size words, so a header that was
//                              overwritten (a neighbour's overrun), moved or never written fails it
//   offset 16 user data (busy) — 16-byte aligned, usable size = block size − 16
//
// The next block starts at address + size, the previous one at address − prev_units·16: free()
// finds both neighbours in O(1) and merges with the free ones. Invariants:
//   * blocks tile [segment.first, segment.end) exactly; no two adjacent blocks are both free;
//   * next.prev_units == this.size (checked on every merge: a mismatch is heap corruption);
//   * the pages holding a block's header (and, for a free block, its 64-byte FreeBlock record)
//     are always committed; a busy block is committed entirely; only whole pages strictly inside
//     a free block (its "inner" pages) may be decommitted.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "os/os.h"

namespace lfh::core {

inline constexpr std::size_t kUnit = 16;           // block granularity and user alignment
inline constexpr std::size_t kHeaderSize = 16;     // sizeof(BlockHeader)
inline constexpr std::size_t kMinBlock = 64;       // sizeof(FreeBlock): a free block's record
inline constexpr std::uint32_t kFreeBit = 0x80000000u;
inline constexpr std::uint32_t kSizeMask = 0x7fffffffu;

// Per-process key for header seals (drawn once at the first configure; never 0 afterwards).
extern std::uint64_t g_seal_key;

struct BlockHeader {
  std::uint32_t size_flags;
  std::uint32_t prev_units;
  std::uint64_t check;

  std::size_t units() const { return size_flags & kSizeMask; }
  std::size_t bytes() const { return units() * kUnit; }
  bool is_free() const { return (size_flags & kFreeBit) != 0; }
  bool is_dead() const { return size_flags == 0; }
  char *base() { return reinterpret_cast<char *>(this); }
  void *user() { return base() + kHeaderSize; }
  BlockHeader *next() { return reinterpret_cast<BlockHeader *>(base() + bytes()); }
  BlockHeader *prev() { return reinterpret_cast<BlockHeader *>(base() - std::size_t(prev_units) * kUnit); }
};
static_assert(sizeof(BlockHeader) == kHeaderSize);

LFH_ALWAYS_INLINE std::uint64_t seal(const BlockHeader *h, std::uint32_t size_flags, std::uint32_t prev) {
  std::uint64_t w = (std::uint64_t(prev) << 32) | size_flags;
  return (w * 0x9E3779B97F4A7C15ull) ^ addr(h) ^ g_seal_key;
}
LFH_ALWAYS_INLINE bool header_ok(const BlockHeader *h) { return h->check == seal(h, h->size_flags, h->prev_units); }

LFH_ALWAYS_INLINE void write_header(BlockHeader *h, std::size_t units, bool free, std::size_t prev_units) {
  h->size_flags = std::uint32_t(units) | (free ? kFreeBit : 0);
  h->prev_units = std::uint32_t(prev_units);
  h->check = seal(h, h->size_flags, h->prev_units);
}
LFH_ALWAYS_INLINE void set_prev(BlockHeader *h, std::size_t prev_units) {
  h->prev_units = std::uint32_t(prev_units);
  h->check = seal(h, h->size_flags, h->prev_units);
}
// A header absorbed into a free neighbour: sealed with size 0 so a later free() of the old
// pointer is recognised as a double free rather than followed.
LFH_ALWAYS_INLINE void kill_header(BlockHeader *h) {
  h->size_flags = 0;
  h->prev_units = 0;
  h->check = seal(h, 0, 0);
}

// A free block: the header followed by its list links. Lives in the block's first 64 bytes.
struct FreeBlock {
  BlockHeader h;
  FreeBlock *next, *prev;     // its size class's list (null-terminated both ways)
  FreeBlock *pnext, *pprev;   // the arena's pending-decommit queue (valid while pending)
  std::uint64_t since_ns;     // when it joined the pending queue (queue order = this order)
  std::uint32_t pend_pages;   // committed inner pages counted in the pending total; 0: not pending
  std::uint8_t cls;           // size class it is listed under
  std::uint8_t pad[3];
};
static_assert(sizeof(FreeBlock) == kMinBlock);

// Block size (bytes, header included) for a request of n bytes; n ≤ 2^40 checked by callers.
constexpr std::size_t block_bytes(std::size_t n) {
  std::size_t b = align_up(n + kHeaderSize, kUnit);
  return b < kMinBlock ? kMinBlock : b;
}

// Pages strictly inside free block [b, b+size): everything past its record and before the page
// holding the next block's header. Empty (from ≥ to) for small blocks.
inline void inner_pages(const char *b, std::size_t size, std::uintptr_t *from, std::uintptr_t *to) {
  *from = align_up(addr(b) + kMinBlock, os::kPageSize);
  *to = align_down(addr(b) + size, os::kPageSize);
}

}  // namespace lfh::core
