// lfh/subsegment.h — a span of equal-size blocks of one bucket, and its descriptor.
//
// The descriptor lives out of line, in a dense pool of 128-byte records (subsegment_pool()), not
// at the span's start: span bases are 64 KB-aligned, so headers kept there would all fall into the
// same few cache sets (L1 and L2 index with bits below 64 KB) and free(), which reads the header,
// missed L1 on nearly every call once a program used more than a handful of subsegments
// (cachegrind on wl_larson: 1.3 M L1 read misses in free for 1.5 M calls). Packed together they
// share lines and sets like any small array. The span keeps its first kHeaderBytes unused, so the
// block geometry (bucket_table.h) is unchanged.
//
// Blocks carry no header. A block is in exactly one of these states:
//   never used  — index ≥ bump: not yet handed out (the span's tail is carved lazily, so pages of
//                 a fresh span are touched only as blocks are first used);
//   in the subsegment's free list (encoded links, see free_link.h);
//   out         — handed to a look-aside list or to the program. `used` counts these.
// Invariant (under the bucket lock): used + |free_list| + (capacity - bump) == capacity.
// A subsegment with used == 0 holds no block anyone else can reach, so its span may be retired.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lfh/bucket_table.h"
#include "vm/meta_pool.h"
#include "vm/page_map.h"

namespace lfh {

struct alignas(64) Subsegment {
  // First line: everything free() reads (hdr, bucket, first, carved, divisor) and what giving
  // blocks back writes (used, free_list, free_count, in_partial).
  vm::OwnerHeader hdr;            // kind == kLfhSubsegment
  std::uint8_t bucket;            // 0..127
  bool in_partial;                // on the bucket's partial list (read by every give-back run)
  std::uint16_t granules;         // span size in 64 KB granules
  std::uint32_t block_size;
  std::uint32_t capacity;         // blocks in the span
  std::uint32_t used;             // blocks out (bucket lock)
  std::atomic<std::uint32_t> bump;  // blocks [0, bump) have been handed out at least once
  std::uint64_t magic;            // exact division by block_size (bucket_table.h)
  char *first;                    // first block
  // bump * block_size, stored (release) after bump by set_bump: free()'s bounds test compares
  // offsets with it and needs no quotient (lfh_buckets::divisible_by_block).
  std::atomic<std::uint32_t> carved;
  std::uint32_t free_count;       // length of free_list
  std::uint64_t divisor;          // lfh_buckets::divisible_magic(bucket)
  void *free_list;                // encoded chain (bucket lock)
  // Second line.
  void *heap;                     // owning heap (heap::Heap*)
  Subsegment *prev, *next;        // bucket's partial list
  Subsegment *all_prev, *all_next;  // every live subsegment of the bucket (walk/validate/destroy)
  char *base;                     // the span (granules * 64 KB); first == base + first_block_offset

  // Move the bump index (bucket lock held): bump first, then carved, both release — a block is
  // only freed after the program received it, which happens after these stores through the
  // chain hand-off, so free()'s acquire load of carved sees the block inside.
  void set_bump(std::uint32_t b) {
    bump.store(b, std::memory_order_release);
    carved.store(b * block_size, std::memory_order_release);
  }

  char *end() const { return first + std::size_t(capacity) * block_size; }

  // Index of block p if p is exactly a block boundary inside this span, else -1.
  LFH_ALWAYS_INLINE std::int64_t index_of(const void *p) const {
    std::uintptr_t off = addr(p) - addr(first);       // wraps (huge) when p < first
    std::uint64_t idx = lfh_buckets::div_by_block(off, magic);
    if (LFH_UNLIKELY(off >= std::uintptr_t(capacity) * block_size || idx * block_size != off)) return -1;
    return std::int64_t(idx);
  }
};
static_assert(sizeof(Subsegment) == 128);

// Where descriptors come from: one pool for every heap (its lock nests inside bucket locks).
vm::MetaPool &subsegment_pool();

}  // namespace lfh
