// core/core_segment.h — a core-heap segment: one reservation (64 KB-granular, 1 MB … 64 MB) that
// a single arena carves blocks from, committing its pages only as blocks need them.
//
// Layout: [Segment header | block | block | … | block)  — the header sits in the segment's first
// page (always committed) and the blocks (core_block.h) tile the rest up to `end`. The page map
// points every granule of the segment at the header, so free(p) finds it in one lookup.
//
// Which pages are committed is tracked exactly, one bit per 4 KB page (`bits`): commit() commits
// only the pages whose bit is clear and reports which were already there (the only ones a calloc
// must clear: the others are fresh demand-zero pages); decommit() gives back only set pages, so
// the commit charge is always exactly Σ committed pages.
//
// Two layers, so that the hot reuse path makes no system call and the segment stays one or two
// kernel mappings (no VMA split per free range):
//   * mapping: [base, rw_end) is readable and writable, the rest PROT_NONE. rw_end only grows
//     (carving proceeds from the front of the segment's tail), by one mprotect per growth;
//   * commit: a page is committed when charged (vm::charge) and may be resident. Decommit is
//     vm::purge (MADV_DONTNEED: the pages go back to the kernel at once and read zero after,
//     uncharged) and recommit is just the charge again: the demand-zero page is mapped on touch.
//     Below rw_end an uncommitted page is therefore never resident and always reads zero.
// A locked (mlock) heap unlocks pages before purging them and locks them again on commit.
//
// All fields are guarded by the owning arena's lock, except the immutable ones (kind, check,
// arena, heap, base, size, first, end) which free() reads before taking it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/core_block.h"
#include "vm/page_map.h"

namespace lfh::core {

class CoreArena;

inline constexpr std::size_t kMinSegment = 1 * kMiB;
inline constexpr std::size_t kMaxSegment = 64 * kMiB;
inline constexpr std::size_t kMaxSegmentPages = kMaxSegment / os::kPageSize;

struct Segment {
  vm::OwnerHeader hdr;         // kind == kCoreSegment
  std::uint8_t pad_[7];
  std::uint64_t check;         // seal_segment(this): a damaged header is heap corruption
  CoreArena *arena;            // owner (its lock guards everything mutable below)
  void *heap;                  // owning lfh::Heap
  char *base;                  // == this; reserved [base, base + size)
  std::size_t size;
  char *first;                 // first block header
  char *end;                   // one past the last block == base + size
  Segment *next, *prev;        // arena's segment list
  std::size_t committed;       // bytes of committed pages (header page included)
  char *rw_end;                // [base, rw_end) is mapped read/write (page aligned)
  std::uint32_t busy;          // busy blocks
  std::uint32_t pad2_;
  std::uint64_t empty_since;   // now_ns() when busy dropped to 0 (0 while busy)
  std::uint64_t bits[kMaxSegmentPages / 64];   // bit i: page i committed

  bool page_committed(std::uintptr_t a) const {
    std::size_t i = (a - addr(base)) / os::kPageSize;
    return (bits[i / 64] >> (i % 64)) & 1;
  }
  // Bytes of committed pages in the page-aligned range [from, to).
  std::size_t committed_in(std::uintptr_t from, std::uintptr_t to) const;
  // Commit every page touching [from, to). `zero`: first clear [zfrom, zto) where it lies on pages
  // that were already committed (fresh pages are zero). `lock`: mlock new pages. False on failure
  // (pages committed before the failure stay committed and counted).
  bool commit(std::uintptr_t from, std::uintptr_t to, bool lock, bool zero = false, std::uintptr_t zfrom = 0,
              std::uintptr_t zto = 0);
  // Decommit the committed pages in the page-aligned range [from, to). Returns bytes given back.
  // `lock`: the heap mlocks its pages (unlocked first).
  std::size_t decommit(std::uintptr_t from, std::uintptr_t to, bool lock);
  // Walk helpers: the first block, and whether a block pointer has run off the end.
  BlockHeader *first_block() { return reinterpret_cast<BlockHeader *>(first); }
  bool is_end(const BlockHeader *h) const { return reinterpret_cast<const char *>(h) >= end; }
};

// Where the first block starts (the header is rounded to the block unit).
inline constexpr std::size_t kSegmentHeaderBytes = align_up(sizeof(Segment), kUnit);
static_assert(kSegmentHeaderBytes + kMinBlock <= os::kPageSize, "segment header must fit one page");

inline std::uint64_t seal_segment(const Segment *s) {
  return (addr(s) * 0x9E3779B97F4A7C15ull) ^ s->size ^ g_seal_key ^ 0x5345474d454e54ull;
}

// The segment containing p (p inside a core segment's granules), from the page map.
inline Segment *segment_of(const void *p) {
  return reinterpret_cast<Segment *>(vm::pagemap_lookup(p));
}

}  // namespace lfh::core
