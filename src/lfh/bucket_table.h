// lfh/bucket_table.h — the 128 buckets of the Low Fragmentation Heap, as in the seed table
// (Windows Internals, "The Low Fragmentation Heap"):
//
//   buckets   granularity  range
//     1– 32        8          1 –   256
//    33– 48       16        257 –   512
//    49– 64       32        513 –  1024
//    65– 80       64       1025 –  2048
//    81– 96      128       2049 –  4096
//    97–112      256       4097 –  8192
//   113–128      512       8193 – 16384
//
// Indices here are 0-based (bucket 1 of the seed is index 0). The bucket of a size is computed
// (a table lookup up to 1 KB, a bit scan above), never searched.
//
// Alignment: a block is aligned to the largest power of two dividing its size, capped at 4096
// (subsegments place their first block accordingly). So every block whose size is a multiple of
// 16 is 16-aligned, and the 8-byte-step sizes 8, 24, 40, … 248 are 8-aligned. malloc maps requests
// through bucket_for_request (below), which sends every request of 32 bytes or more — where
// max_align_t fits — to a 16-byte-multiple bucket; only requests of ≤ 8 and 17–24 bytes get
// 8-aligned blocks.
#pragma once
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"

namespace lfh::lfh_buckets {

inline constexpr unsigned kBuckets = 128;
inline constexpr std::size_t kMaxSize = 16384;
inline constexpr std::size_t kMinBlock = 8;

// Size of the blocks of bucket `i` (0-based).
constexpr std::size_t block_size(unsigned i) {
  if (i < 32) return (i + 1) * 8;
  unsigned g = (i - 32) / 16;          // group 0..5
  unsigned j = (i - 32) % 16 + 1;      // 1..16
  return (std::size_t(256) << g) + j * (std::size_t(16) << g);
}

// Bucket for a request of n bytes, 0 < n ≤ kMaxSize (n == 0 is treated as 1). Computed.
constexpr unsigned bucket_of_computed(std::size_t n) {
  if (n <= 256) return n == 0 ? 0 : unsigned((n + 7) >> 3) - 1;
  unsigned k = unsigned(std::bit_width(n - 1));          // n in (2^(k-1), 2^k]
  unsigned shift = k - 5;                               // granularity 2^(k-5)
  std::size_t step = ((n - (std::size_t(1) << (k - 1))) + (std::size_t(1) << shift) - 1) >> shift;
  return 32 + (k - 9) * 16 + unsigned(step) - 1;
}

namespace detail {
// Lookup table for n ≤ 1024, indexed by (n + 7) / 8.
constexpr std::array<std::uint8_t, 129> make_small_table() {
  std::array<std::uint8_t, 129> t{};
  for (std::size_t k = 0; k <= 128; ++k) t[k] = std::uint8_t(bucket_of_computed(k == 0 ? 1 : k * 8));
  return t;
}
inline constexpr std::array<std::uint8_t, 129> kSmall = make_small_table();
}  // namespace detail

LFH_ALWAYS_INLINE constexpr unsigned bucket_of(std::size_t n) {
  if (n <= 1024) return detail::kSmall[(n + 7) >> 3];
  return bucket_of_computed(n);
}

// The bucket malloc uses for a request of n bytes. Requests of 32 bytes or more — the size of
// max_align_t — must be 16-aligned (C17 7.22.3; e.g. a struct holding a long double followed by a
// flexible array), so they are rounded up to a multiple of 16 before the table: the 8-byte-step
// buckets 40, 56, … 248 serve no malloc request. Requests of 8 and 24 bytes keep their 8-aligned
// buckets (nothing needing 16-byte alignment fits in them but a lone long double at 16+8).
// Above 256 bytes every bucket size is a multiple of 16 already.
namespace detail {
constexpr std::array<std::uint8_t, 129> make_request_table() {
  std::array<std::uint8_t, 129> t{};
  for (std::size_t k = 0; k <= 128; ++k) {
    std::size_t n = k == 0 ? 1 : k * 8;
    if (n >= 32 && n % 16) n += 8;
    t[k] = std::uint8_t(bucket_of_computed(n));
  }
  return t;
}
inline constexpr std::array<std::uint8_t, 129> kRequest = make_request_table();
}  // namespace detail

inline constexpr std::size_t kRequestTableMax = 1024;   // requests the table maps
LFH_ALWAYS_INLINE constexpr unsigned bucket_for_table_request(std::size_t n) { return detail::kRequest[(n + 7) >> 3]; }
LFH_ALWAYS_INLINE constexpr unsigned bucket_for_request(std::size_t n) {
  if (n <= kRequestTableMax) return bucket_for_table_request(n);
  return bucket_of_computed(n);
}
static_assert(bucket_for_request(24) == bucket_of(24) && bucket_for_request(40) == bucket_of(48) &&
              bucket_for_request(33) == bucket_of(48) && bucket_for_request(32) == bucket_of(32) &&
              bucket_for_request(248) == bucket_of(256) && bucket_for_request(1000) == bucket_of(1000));

// --- subsegment geometry -------------------------------------------------------------------
// Bytes reserved for the subsegment header at the start of each span.
inline constexpr std::size_t kHeaderBytes = 256;

// Alignment of the blocks of a bucket: largest power of two dividing the size, capped at 4096.
constexpr std::size_t block_alignment(unsigned i) {
  std::size_t s = block_size(i);
  std::size_t a = s & (~s + 1);
  return a > 4096 ? 4096 : a;
}

// Offset of the first block: after the header, aligned to the block alignment.
constexpr std::size_t first_block_offset(unsigned i) {
  std::size_t a = block_alignment(i) < 16 ? 16 : block_alignment(i);
  return align_up(kHeaderBytes, a);
}

// Span size in 64 KB granules: the smallest (1..16) that holds at least 16 blocks, or the one
// with the least waste among those holding ≥ 8 blocks for the largest buckets.
constexpr unsigned span_granules(unsigned i) {
  const std::size_t s = block_size(i), off = first_block_offset(i);
  unsigned best = 16;
  std::size_t best_waste = ~std::size_t(0);
  for (unsigned g = 1; g <= 16; ++g) {
    std::size_t bytes = g * std::size_t(65536);
    std::size_t n = (bytes - off) / s;
    if (n >= 16 || (g == 16 && n >= 8)) return g;
    if (n >= 8) {
      std::size_t waste = (bytes - off - n * s) * 1000 / bytes;
      if (waste < best_waste) best_waste = waste, best = g;
    }
  }
  return best;
}

constexpr std::uint32_t blocks_per_span(unsigned i) {
  return std::uint32_t((span_granules(i) * std::size_t(65536) - first_block_offset(i)) / block_size(i));
}

// Exact division by the block size for offsets inside a span (< 2^20): q = (off * magic) >> 40.
constexpr std::uint64_t div_magic(unsigned i) { return ((std::uint64_t(1) << 40) / block_size(i)) + 1; }
LFH_ALWAYS_INLINE constexpr std::uint64_t div_by_block(std::uint64_t off, std::uint64_t magic) {
  return (off * magic) >> 40;
}

// Divisibility without a quotient (Lemire, Kaser & Kurz, "Faster remainder by direct
// computation", 2019): with c = ceil(2^64 / d), a 32-bit n is a multiple of d exactly when
// n * c mod 2^64 < c. free()'s bounds test uses it: one multiply and one compare, where the
// quotient and its product took two multiplies and a shift.
constexpr std::uint64_t divisible_magic(unsigned i) { return ~std::uint64_t(0) / block_size(i) + 1; }
LFH_ALWAYS_INLINE constexpr bool divisible_by_block(std::uint32_t n, std::uint64_t c) {
  return std::uint64_t(n) * c < c;
}

// --- compile-time checks against the seed table ----------------------------------------------
static_assert(block_size(0) == 8 && block_size(31) == 256);
static_assert(block_size(32) == 272 && block_size(47) == 512);
static_assert(block_size(48) == 544 && block_size(63) == 1024);
static_assert(block_size(64) == 1088 && block_size(79) == 2048);
static_assert(block_size(80) == 2176 && block_size(95) == 4096);
static_assert(block_size(96) == 4352 && block_size(111) == 8192);
static_assert(block_size(112) == 8704 && block_size(127) == 16384);
static_assert([] {
  for (unsigned i = 0; i < kBuckets; ++i)
    for (std::uint32_t n : {0u, 1u, 7u, std::uint32_t(block_size(i)) - 1, std::uint32_t(block_size(i)),
                            std::uint32_t(block_size(i)) + 1, std::uint32_t(block_size(i)) * 1001,
                            std::uint32_t(block_size(i)) * 1001 + 8, 0xffffffffu})
      if (divisible_by_block(n, divisible_magic(i)) != (n % block_size(i) == 0)) return false;
  return true;
}());
static_assert(bucket_of(1) == 0 && bucket_of(8) == 0 && bucket_of(9) == 1 && bucket_of(256) == 31);
static_assert(bucket_of(257) == 32 && bucket_of(512) == 47 && bucket_of(513) == 48);
static_assert(bucket_of(1024) == 63 && bucket_of(1025) == 64 && bucket_of(16384) == 127);
static_assert(bucket_of(8193) == 112 && bucket_of(8192) == 111);
static_assert(blocks_per_span(127) >= 8 && blocks_per_span(0) >= 16);
static_assert(span_granules(127) <= 16);

}  // namespace lfh::lfh_buckets
