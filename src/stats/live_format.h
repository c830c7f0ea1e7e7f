// stats/live_format.h — the binary layout of a statistics snapshot, shared by the library (which
// fills it: the live segment /dev/shm/lfh.<pid> with LFH_STATS_LIVE=1, and the buffer behind
// lfh_stats_print) and by the `lfh` tool (which reads the segment). Plain structs of fixed-width
// fields, no pointers, no library types: this header includes nothing of lfh and is the whole
// contract between the two programs.
//
// Versioning: `magic` names the format, `version` its revision. A reader accepts the version it
// knows; newer writers only append fields to the end of rows (row sizes are in the header, and a
// reader steps through arrays by those sizes) and bump `version` for anything else.
//
// Torn reads (seqlock): the writer makes `seq` odd before it writes anything and even again
// (release) after the last write. A reader copies the whole segment between two loads of `seq`
// and keeps the copy only when both loads are equal and even; otherwise it retries. Only the
// library's balance tick writes, one tick at a time (its tick lock), so there is one writer.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::live {

inline constexpr std::uint64_t kMagic = 0x31534c4556494c48ull;   // "HLIVELS1" in memory order
inline constexpr std::uint32_t kVersion = 1;

// Bounds: a snapshot has a fixed size; what does not fit is counted in the *_omitted fields.
inline constexpr std::uint32_t kMaxHeaps = 64;
inline constexpr std::uint32_t kMaxBuckets = 2048;   // (heap, bucket) rows that ever had a block
inline constexpr std::uint32_t kMaxTags = 256;
inline constexpr std::uint32_t kMaxRegions = 8192;

enum RegionKind : std::uint32_t {
  kRegionLfhSubsegment = 1,   // a span of equal-size blocks of one bucket (bucket, blocks_*)
  kRegionLfhReserve = 2,      // LFH span-arena reservation (regions carved into subsegments)
  kRegionCoreSegment = 3,     // core heap segment (blocks above 16 KB up to the direct threshold)
  kRegionDirectBlock = 4,     // a large block with its own VM region
};

struct Totals {   // all heaps together
  std::uint64_t reserved_bytes, committed_bytes, peak_committed_bytes, commit_limit, decommitted_bytes;
  std::uint64_t rss_bytes, peak_rss_bytes;             // the whole process (/proc/self/statm, getrusage)
  std::uint64_t heaps;
  std::uint64_t lfh_allocs, lfh_frees, lfh_blocks_in_use, lfh_bytes_in_use, lfh_blocks_free, lfh_subsegments;
  std::uint64_t lfh_lookaside_hits, lfh_lookaside_misses;
  std::uint64_t core_allocs, core_frees, core_blocks, core_busy_bytes, core_segments, core_committed_bytes;
  std::uint64_t direct_allocs, direct_frees, direct_blocks, direct_committed_bytes;
  std::uint64_t pageheap_blocks, pageheap_bytes;       // LFH_PAGEHEAP blocks (process-wide)
};

struct HeapRow {
  std::uint32_t index;         // 0: the process heap, then private heaps in creation order
  std::uint32_t flags;         // LFH_HEAP_* it was created with
  std::uint64_t address;       // the lfh_heap_t handle
  std::uint64_t reserved_bytes, committed_bytes;   // LFH arena + core segments + direct blocks
  std::uint64_t lfh_allocs, lfh_frees, lfh_blocks_in_use, lfh_bytes_in_use, lfh_blocks_free, lfh_subsegments;
  std::uint64_t lfh_lookaside_hits, lfh_lookaside_misses;
  std::uint64_t core_allocs, core_frees, core_blocks, core_busy_bytes, core_segments, core_reserved_bytes,
      core_committed_bytes;
  std::uint64_t direct_allocs, direct_frees, direct_blocks, direct_reserved_bytes, direct_committed_bytes;
  std::uint32_t locked;        // 1: held with lfh_heap_lock when the snapshot was taken: not read
  std::uint32_t reserved_;
};

struct BucketRow {
  std::uint32_t heap;          // HeapRow::index
  std::uint32_t bucket;        // 0..127
  std::uint64_t block_size;
  std::uint64_t allocs, frees;       // events: magazine + look-aside list (as lfh_stats_t counts them)
  std::uint64_t blocks_in_use;       // with the program (handed out, not in any cache)
  std::uint64_t blocks_free;         // in subsegment free lists, never used, or cached in front
  std::uint64_t blocks_cached;       // of the free ones: on look-aside lists and thread magazines
  std::uint64_t subsegments;
  std::uint64_t lookaside_hits, lookaside_misses;
  std::uint32_t lookaside_depth;     // deepest of the per-CPU lists
  std::uint32_t reserved_;
};

struct TagRow {
  std::uint32_t tag;            // LFH_TAG packing: first character in the low byte
  std::uint32_t reserved_;
  std::uint64_t allocs, frees, blocks, bytes, peak_bytes;
};

struct RegionRow {
  std::uint64_t address;
  std::uint64_t size;           // reserved bytes
  std::uint64_t committed;      // committed bytes
  std::uint64_t resident;       // resident bytes (mincore) — valid when Header::resident_known
  std::uint64_t used_bytes;     // bytes of blocks in use (LFH: blocks × size; core: busy; direct: size)
  std::uint32_t kind;           // RegionKind
  std::uint32_t heap;           // HeapRow::index
  std::uint32_t bucket;         // LFH subsegments: the bucket; else 0
  std::uint32_t block_size;     // LFH subsegments
  std::uint32_t blocks_total;   // LFH: capacity; core: blocks in the segment
  std::uint32_t blocks_used;    // LFH: blocks out of the subsegment; core: busy blocks
};

struct Header {
  std::uint64_t magic;          // kMagic
  std::uint32_t version;        // kVersion
  std::uint32_t header_size;    // sizeof(Header)
  std::uint64_t total_size;     // bytes of the whole snapshot
  std::uint64_t seq;            // seqlock (see above); odd while being written
  std::int32_t pid;
  std::uint32_t period_ms;      // how often the writer refreshes (the balance tick)
  std::uint64_t updated_wall_ns;   // CLOCK_REALTIME of the last update
  std::uint64_t updates;        // snapshots written so far
  std::uint32_t heaps, buckets, tags, regions;   // rows filled
  std::uint64_t heaps_omitted, buckets_omitted, tags_omitted, regions_omitted;
  std::uint32_t tags_on;        // LFH_TAGS=1 in the process
  std::uint32_t resident_known; // RegionRow::resident was measured
  // Where each part is and how big one row is (readers use these, not sizeof).
  std::uint32_t off_totals, off_heaps, off_buckets, off_tags, off_regions;
  std::uint32_t size_totals, size_heap, size_bucket, size_tag, size_region;
  std::uint32_t reserved_;
};

struct Snapshot {
  Header header;
  Totals totals;
  HeapRow heaps[kMaxHeaps];
  BucketRow buckets[kMaxBuckets];
  TagRow tags[kMaxTags];
  RegionRow regions[kMaxRegions];
};

// Fill the header's fixed fields (magic, version, sizes, offsets).
inline void init_header(Header &h) {
  h.magic = kMagic;
  h.version = kVersion;
  h.header_size = sizeof(Header);
  h.total_size = sizeof(Snapshot);
  h.off_totals = offsetof(Snapshot, totals);
  h.off_heaps = offsetof(Snapshot, heaps);
  h.off_buckets = offsetof(Snapshot, buckets);
  h.off_tags = offsetof(Snapshot, tags);
  h.off_regions = offsetof(Snapshot, regions);
  h.size_totals = sizeof(Totals);
  h.size_heap = sizeof(HeapRow);
  h.size_bucket = sizeof(BucketRow);
  h.size_tag = sizeof(TagRow);
  h.size_region = sizeof(RegionRow);
}

// The segment's name under /dev/shm: "lfh.<pid>".
inline void segment_name(int pid, char out[32]) {
  char digits[16];
  int n = 0;
  unsigned v = unsigned(pid);
  do {
    digits[n++] = char('0' + v % 10);
    v /= 10;
  } while (v && n < 15);
  int k = 0;
  for (const char *c = "lfh."; *c; ++c) out[k++] = *c;
  while (n) out[k++] = digits[--n];
  out[k] = 0;
}

}  // namespace lfh::live
