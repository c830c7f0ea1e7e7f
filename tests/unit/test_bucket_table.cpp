// The 128 LFH buckets against the seed table, and the subsegment geometry derived from them.
#include <catch2/catch.hpp>

#include <vector>

#include "lfh/bucket_table.h"
#include "lfh/subsegment.h"

using namespace lfh::lfh_buckets;

namespace {

// The seed table written out independently of the code: (granularity, last size of the group).
struct Group { std::size_t step, last; };
constexpr Group kSeed[] = {{8, 256},    {16, 512},   {32, 1024},  {64, 2048},
                           {128, 4096}, {256, 8192}, {512, 16384}};

std::vector<std::size_t> seed_sizes() {
  std::vector<std::size_t> sizes;
  std::size_t prev = 0;
  for (const Group &g : kSeed) {
    for (std::size_t s = prev + g.step; s <= g.last; s += g.step) sizes.push_back(s);
    prev = g.last;
  }
  return sizes;
}

}  // namespace

TEST_CASE("bucket sizes are the seed table") {
  const std::vector<std::size_t> sizes = seed_sizes();
  REQUIRE(sizes.size() == kBuckets);
  for (unsigned i = 0; i < kBuckets; ++i) {
    INFO("bucket " << i);
    CHECK(block_size(i) == sizes[i]);
    if (i > 0) CHECK(block_size(i) > block_size(i - 1));
  }
  CHECK(block_size(0) == kMinBlock);
  CHECK(block_size(kBuckets - 1) == kMaxSize);
}

TEST_CASE("every size 1..16384 maps to the smallest bucket that fits") {
  const std::vector<std::size_t> sizes = seed_sizes();
  unsigned expect = 0;
  std::size_t bad = 0;
  for (std::size_t n = 1; n <= kMaxSize; ++n) {
    while (sizes[expect] < n) ++expect;
    unsigned b = bucket_of(n);
    if (b != expect || bucket_of_computed(n) != expect || block_size(b) < n) {
      if (bad++ < 10) FAIL_CHECK("size " << n << " -> bucket " << b << ", want " << expect);
    }
  }
  CHECK(bad == 0);
  CHECK(bucket_of(0) == 0);
}

TEST_CASE("block alignment follows the size") {
  for (unsigned i = 0; i < kBuckets; ++i) {
    INFO("bucket " << i << " size " << block_size(i));
    const std::size_t a = block_alignment(i), s = block_size(i);
    CHECK((a & (a - 1)) == 0);
    CHECK(a <= 4096);
    CHECK(s % a == 0);
    if (s % 16 == 0) CHECK(a >= 16);
    if (a < 4096) CHECK(s % (a * 2) != 0);   // the largest power of two dividing the size
    CHECK(first_block_offset(i) >= kHeaderBytes);
    CHECK(first_block_offset(i) % a == 0);
    CHECK(first_block_offset(i) % 16 == 0);
  }
  CHECK(block_alignment(bucket_of(8)) == 8);
  CHECK(block_alignment(bucket_of(24)) == 8);
  CHECK(block_alignment(bucket_of(40)) == 8);
  CHECK(block_alignment(bucket_of(16)) == 16);
  CHECK(block_alignment(bucket_of(4096)) == 4096);
  CHECK(block_alignment(bucket_of(16384)) == 4096);
}

TEST_CASE("spans hold enough blocks and every block keeps its alignment") {
  for (unsigned i = 0; i < kBuckets; ++i) {
    INFO("bucket " << i);
    const unsigned g = span_granules(i);
    const std::size_t span = g * std::size_t(65536), n = blocks_per_span(i);
    CHECK(g >= 1);
    CHECK(g <= 16);
    CHECK(n >= 8);
    CHECK(first_block_offset(i) + n * block_size(i) <= span);
    CHECK(first_block_offset(i) + (n + 1) * block_size(i) > span);   // no block left out
    // The span base is 64 KB aligned, so the block offsets decide alignment.
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t off = first_block_offset(i) + k * block_size(i);
      if (off % block_alignment(i) != 0) FAIL("block " << k << " misaligned");
    }
  }
}

namespace {
// How many offsets in bucket i's span (and in `extra`, a range of further offsets) `agrees`
// rejects.
template <class F>
std::uint64_t offsets_disagreeing(unsigned i, F agrees, std::uint64_t extra_from = 0, std::uint64_t extra_to = 0) {
  const std::uint64_t span = span_granules(i) * std::uint64_t(65536);
  std::uint64_t bad = 0;
  for (std::uint64_t off = 0; off < span; ++off) bad += !agrees(off);
  for (std::uint64_t off = extra_from; off < extra_to; ++off) bad += !agrees(off);
  return bad;
}
}  // namespace

TEST_CASE("div_magic divides exactly for every offset in a span") {
  for (unsigned i = 0; i < kBuckets; ++i) {
    const std::uint64_t magic = div_magic(i), bs = block_size(i);
    INFO("bucket " << i);
    CHECK(offsets_disagreeing(i, [&](std::uint64_t off) { return div_by_block(off, magic) == off / bs; }) == 0);
  }
}

TEST_CASE("divisible_by_block agrees with % for every offset in a span and beyond") {
  for (unsigned i = 0; i < kBuckets; ++i) {
    const std::uint64_t c = divisible_magic(i), bs = block_size(i);
    // free()'s test only relies on it below the span size, but it holds for every 32-bit value:
    // the top 4 blocks' worth of them too.
    const std::uint64_t top = 0x100000000ull;
    INFO("bucket " << i);
    CHECK(offsets_disagreeing(
              i, [&](std::uint64_t off) { return divisible_by_block(std::uint32_t(off), c) == (off % bs == 0); },
              top - 4 * bs, top) == 0);
  }
}

TEST_CASE("Subsegment::index_of accepts block starts only") {
  for (unsigned i = 0; i < kBuckets; ++i) {
    INFO("bucket " << i);
    // index_of only does arithmetic on addresses: a fake span base is enough.
    lfh::Subsegment s{};
    char *base = reinterpret_cast<char *>(std::uintptr_t(0x7f0000000000));
    s.block_size = std::uint32_t(block_size(i));
    s.capacity = blocks_per_span(i);
    s.magic = div_magic(i);
    s.first = base + first_block_offset(i);
    for (std::uint32_t k = 0; k < s.capacity; ++k) {
      char *b = s.first + std::size_t(k) * s.block_size;
      if (s.index_of(b) != k) FAIL("block " << k << " not found");
      if (s.index_of(b + 1) != -1 || s.index_of(b + s.block_size - 1) != -1) FAIL("interior of block " << k);
    }
    CHECK(s.index_of(s.first - 1) == -1);
    CHECK(s.index_of(base) == -1);
    CHECK(s.index_of(s.end()) == -1);
    CHECK(s.index_of(nullptr) == -1);
  }
}
