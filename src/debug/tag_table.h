// debug/tag_table.h — per-tag accounting (LFH_TAGS=1): allocations, frees, blocks and bytes in
// use, peak bytes, per pool tag. The stats layer reads it (lfh_stats_print, the JSON and the live
// segment); the leak report ranks it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::debug {

struct TagRow {
  std::uint32_t tag;             // LFH_TAG packing; see tags.h
  std::uint64_t allocs, frees;   // since start
  std::uint64_t blocks, bytes;   // in use now (requested bytes)
  std::uint64_t peak_bytes;      // the most `bytes` has been
};

// True when tag accounting is on (LFH_TAGS=1).
bool tags_on();
// Copies up to `max` rows, largest `bytes` first; returns how many tags are tracked (which may
// be more than `max`). 0 when tag accounting is off. Async-signal-safe and allocation-free.
std::size_t tag_rows(TagRow *out, std::size_t max);

}  // namespace lfh::debug
