// Private heaps: create/destroy, the process heap, walk, validate, size, compact, ownership.
#include <errno.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "heap_test_util.h"
#include "lfh/lfh.h"

using heap_test::stats;

TEST_CASE("process heap exists, cannot be destroyed, serves lfh_heap_alloc") {
  lfh_heap_t *ph = lfh_process_heap();
  REQUIRE(ph != nullptr);
  REQUIRE(lfh_process_heap() == ph);
  void *p = lfh_heap_alloc(ph, 0, 100);
  REQUIRE(p);
  CHECK(lfh_heap_of(p) == ph);
  CHECK(lfh_heap_free(ph, 0, p));
  errno = 0;
  CHECK(lfh_heap_destroy(ph) == 0);
  CHECK(errno == EINVAL);
}

TEST_CASE("destroy with 100000 live blocks of mixed sizes gives back all its memory") {
  heap_test::warm_up_metadata();
  lfh_stats_t before = stats();
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  std::mt19937 rng(7);
  std::vector<void *> blocks;
  blocks.reserve(100000);
  for (int i = 0; i < 100000; ++i) {
    std::size_t n = (i % 100 == 0) ? 20000 + rng() % 200000 : 1 + rng() % 2000;
    void *p = lfh_heap_alloc(h, 0, n);
    REQUIRE(p);
    std::memset(p, 0xab, n < 64 ? n : 64);
    blocks.push_back(p);
  }
  lfh_stats_t during = stats();
  CHECK(during.committed_bytes > before.committed_bytes + 50 * 1024 * 1024);
  REQUIRE(lfh_heap_destroy(h));
  lfh_stats_t after = stats();
  // Everything the heap reserved and committed is gone, but for lfh's own metadata: the page
  // map keeps the pages it charged for its entries (4 KB per 32 MB of address space mapped) and
  // the descriptor pools keep the chunks they grew by (reused by later heaps).
  const std::uint64_t kMetadataSlack = 256 * 1024;
  CHECK(after.reserved_bytes <= before.reserved_bytes + kMetadataSlack);
  CHECK(after.committed_bytes <=
        before.committed_bytes + kMetadataSlack + (during.reserved_bytes / (32u << 20) + 2) * 4096);
  CHECK(during.reserved_bytes - after.reserved_bytes > 50 * 1024 * 1024);
  // Pointers into the destroyed heap are no longer lfh's.
  CHECK_FALSE(lfh_owns(blocks[0]));
  CHECK(lfh_heap_of(blocks[1]) == nullptr);
}

TEST_CASE("walk visits every block with the right in-use state and tier") {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  std::vector<void *> live;
  for (int i = 0; i < 3000; ++i) live.push_back(lfh_heap_alloc(h, 0, 16 + (i % 50) * 24));
  void *big1 = lfh_heap_alloc(h, 0, 3 << 20);
  void *big2 = lfh_heap_alloc(h, 0, 5 << 20);
  REQUIRE((big1 && big2));
  for (int i = 0; i < 3000; i += 3) lfh_heap_free(h, 0, live[i]), live[i] = nullptr;
  struct Count {
    std::size_t in_use = 0, free = 0, big = 0;
  } c;
  REQUIRE(lfh_heap_walk(
      h,
      [](const lfh_heap_entry_t *e, void *arg) {
        auto *c = static_cast<Count *>(arg);
        if (e->in_use && e->size > 16384) ++c->big;
        else if (e->in_use) ++c->in_use;
        else ++c->free;
        return 1;
      },
      &c));
  CHECK(c.in_use == 2000);
  CHECK(c.big == 2);
  CHECK(c.free > 0);
  // Stopping early.
  int seen = 0;
  lfh_heap_walk(h, [](const lfh_heap_entry_t *, void *arg) { return ++*static_cast<int *>(arg) < 10 ? 1 : 0; }, &seen);
  CHECK(seen == 10);
  lfh_heap_destroy(h);
}

TEST_CASE("validate: a sound heap passes, a corrupted free list and a bad block are found") {
  // A no-serialize heap has no look-aside lists: a freed block goes straight onto its
  // subsegment's free list, where we can corrupt its link.
  lfh_heap_t *h = lfh_heap_create(LFH_HEAP_NO_SERIALIZE, 0, 0);
  REQUIRE(h);
  void *a = lfh_heap_alloc(h, 0, 64);
  void *b = lfh_heap_alloc(h, 0, 64);
  void *c = lfh_heap_alloc(h, 0, 64);
  REQUIRE((a && b && c));
  CHECK(lfh_heap_validate(h, 0, nullptr));
  CHECK(lfh_heap_validate(h, 0, b));
  lfh_heap_free(h, 0, b);
  CHECK(lfh_heap_validate(h, 0, nullptr));
  CHECK_FALSE(lfh_heap_validate(h, 0, b));                        // freed
  CHECK_FALSE(lfh_heap_validate(h, 0, static_cast<char *>(a) + 8)); // interior
  int local = 0;
  CHECK_FALSE(lfh_heap_validate(h, 0, &local));                   // not a heap block
  // A write after free smashes b's encoded link: validation reports it instead of crashing.
  std::uintptr_t saved;
  std::memcpy(&saved, b, sizeof saved);
  std::uintptr_t garbage = 0x4141414141414141ull;
  std::memcpy(b, &garbage, sizeof garbage);
  errno = 0;
  CHECK_FALSE(lfh_heap_validate(h, 0, nullptr));
  CHECK(errno == EINVAL);
  std::memcpy(b, &saved, sizeof saved);   // repair, so destroy is clean
  CHECK(lfh_heap_validate(h, 0, nullptr));
  CHECK(lfh_validate());
  lfh_heap_destroy(h);
}

TEST_CASE("lfh_heap_size and a block freed with plain lfh_free") {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  void *p = lfh_heap_alloc(h, 0, 1000);
  REQUIRE(p);
  CHECK(lfh_heap_size(h, 0, p) >= 1000);
  lfh_heap_t *other = lfh_heap_create(0, 0, 0);
  errno = 0;
  CHECK(lfh_heap_size(other, 0, p) == static_cast<std::size_t>(-1));
  CHECK(errno == EINVAL);
  // free() (here lfh_free, which is what free() is in a preloaded process) finds the owner.
  lfh_free(p);
  CHECK_FALSE(lfh_owns(p));
  lfh_heap_destroy(other);
  lfh_heap_destroy(h);
}

TEST_CASE("compact gives back cached memory and reports the largest free block") {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  std::vector<void *> v;
  for (int i = 0; i < 20000; ++i) v.push_back(lfh_heap_alloc(h, 0, 512));
  for (void *p : v) lfh_heap_free(h, 0, p);
  lfh_stats_t before = stats();
  std::size_t largest = lfh_heap_compact(h);
  lfh_stats_t after = stats();
  CHECK(after.committed_bytes < before.committed_bytes);
  CHECK(largest <= 16384);
  CHECK(lfh_heap_validate(h, 0, nullptr));
  lfh_heap_destroy(h);
}

TEST_CASE("freeing into the wrong heap is reported") {
  bool aborted = false;
  std::string err = heap_test::run_child_expect_abort(
      [] {
        lfh_heap_t *a = lfh_heap_create(0, 0, 0);
        lfh_heap_t *b = lfh_heap_create(0, 0, 0);
        void *p = lfh_heap_alloc(a, 0, 32);
        lfh_heap_free(b, 0, p);
      },
      &aborted);
  CHECK(aborted);
  CHECK(err.find("lfh: block belongs to another heap") != std::string::npos);
}

TEST_CASE("a destroyed heap's handle is reported, not followed") {
  bool aborted = false;
  std::string err = heap_test::run_child_expect_abort(
      [] {
        lfh_heap_t *a = lfh_heap_create(0, 0, 0);
        lfh_heap_destroy(a);
        lfh_heap_alloc(a, 0, 32);
      },
      &aborted);
  CHECK(aborted);
  CHECK(err.find("lfh: invalid heap handle") != std::string::npos);
}
