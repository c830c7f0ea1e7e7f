// Direct blocks: large pages for blocks ≥ 2 MB (LFH_LARGE_PAGES), growth past the headroom by
// moving the pages with mremap, and the cache of freed regions (the purge delay for direct blocks).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "core/direct.h"
#include "core_test_util.h"
#include "heap/heap.h"
#include "heap/runtime.h"
#include "test_util.h"
#include "vm/page_map.h"
#include "vm/vm.h"

using lfh::DirectBlock;
using lfh::DirectBlocks;

TEST_CASE("large pages: direct blocks of 2 MB and more are 2 MB-aligned huge-page backed") {
  lfh::process_heap();
  DirectBlocks d;
  d.configure(&d, false, true, /*large_pages=*/true);
  DirectBlock *b = d.alloc(5 << 20, 16);
  REQUIRE(b);
  CHECK(lfh_test::aligned(b->base, 2 << 20));
  CHECK(b->committed >= (std::size_t(5) << 20));
  std::memset(b->base, 0x3c, 5 << 20);
  INFO("explicit huge pages: " << b->huge);
  CHECK(d.resize(b, 5 << 20));
  d.free(b);
  // Below 2 MB: ordinary pages.
  DirectBlock *s = d.alloc(1 << 20, 16);
  REQUIRE(s);
  CHECK_FALSE(s->huge);
  d.free(s);
  CHECK(d.stats().blocks == 0);
}

TEST_CASE("direct block growth past its headroom moves the pages without copying") {
  lfh::process_heap();
  DirectBlocks d;
  d.configure(&d, false, true);
  DirectBlock *b = d.alloc(2 << 20, 16);
  REQUIRE(b);
  char *old = b->base;
  lfh_test::fill(old, 2 << 20, 42);
  const std::uint64_t committed0 = lfh::vm::totals().committed;
  CHECK_FALSE(d.resize(b, 8 << 20));   // beyond the 25 % headroom
  char *moved = static_cast<char *>(d.move(b, 8 << 20));
  REQUIRE(moved);
  CHECK(moved == b->base);
  CHECK(lfh_test::check(moved, 2 << 20, 42));
  CHECK(b->committed == (std::size_t(8) << 20));
  // (+ at most a page-map page for the new region's entries)
  CHECK(lfh::vm::totals().committed >= committed0 + (6 << 20));
  CHECK(lfh::vm::totals().committed <= committed0 + (6 << 20) + 8192);
  CHECK(lfh::vm::pagemap_lookup(old) == nullptr);
  CHECK(lfh::vm::pagemap_lookup(moved) == &b->hdr);
  std::memset(moved + (2 << 20), 1, 6 << 20);
  lfh::DirectStats st = d.stats();
  CHECK(st.committed == (std::size_t(8) << 20));
  CHECK(st.reserved == b->reserved);
  d.free(b);
  CHECK(lfh::vm::totals().committed <= committed0 - (2 << 20) + 8192);
}

namespace {
core_test::TestCore *cache_owner(std::uint64_t delay_ms, std::size_t budget = 8 << 20) {
  lfh::core::CoreConfig c = core_test::quiet();
  c.purge_delay_ms = delay_ms;
  c.total_free = budget;
  return new core_test::TestCore(c);
}
}  // namespace

TEST_CASE("a freed direct block's region is reused within the purge delay and released after it") {
  std::unique_ptr<core_test::TestCore> t(cache_owner(80));
  DirectBlocks d;
  d.configure(&d, false, true);
  d.enable_cache(&t->core);
  DirectBlock *b = d.alloc(3 << 20, 16);
  REQUIRE(b);
  char *base = b->base;
  std::memset(base, 0x5c, 3 << 20);
  const std::uint64_t reserved = lfh::vm::totals().reserved;
  d.free(b);
  // Kept: still mapped and registered (marked cached), counted as free-but-committed.
  CHECK(d.stats().cached_blocks == 1);
  CHECK(t->core.pending_total.load() == (std::size_t(3) << 20));
  CHECK(lfh::vm::pagemap_lookup(base) != nullptr);
  CHECK(lfh::vm::totals().reserved == reserved);
  // About the same size again: the same region, its pages still resident (no fault, no syscall).
  bool reused = false;
  DirectBlock *c = d.alloc((3 << 20) - 100000, 16, true, &reused);
  REQUIRE(c);
  CHECK(reused);
  CHECK(c->base == base);
  // (the tail past the smaller request, 96 KB, was given back: a tail of 64 KB or more is)
  CHECK(c->committed == lfh::align_up((3 << 20) - 100000, 4096));
  CHECK(core_test::resident_pages(base, c->committed) >= c->committed / 4096 - 1);
  CHECK(d.stats().cache_hits == 1);
  CHECK(t->core.pending_total.load() == 0);
  const std::size_t kept = c->committed;
  d.free(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  CHECK(d.purge(false) == kept);
  CHECK(d.stats().cached_blocks == 0);
  CHECK(lfh::vm::pagemap_lookup(base) == nullptr);
  CHECK(lfh::vm::totals().reserved < reserved);
  d.release_all();
}

TEST_CASE("direct-block cache: a much smaller request does not take a big region, the budget holds") {
  std::unique_ptr<core_test::TestCore> t(cache_owner(60000, 4 << 20));
  DirectBlocks d;
  d.configure(&d, false, true);
  d.enable_cache(&t->core);
  DirectBlock *big = d.alloc(8 << 20, 16);
  REQUIRE(big);
  char *big_base = big->base;
  d.free(big);   // 8 MB > the 4 MB budget: released at once
  CHECK(d.stats().cached_blocks == 0);
  CHECK(lfh::vm::pagemap_lookup(big_base) == nullptr);
  DirectBlock *x = d.alloc(3 << 20, 16), *y = d.alloc(3 << 20, 16);
  char *xb = x->base;
  d.free(x);
  CHECK(d.stats().cached_blocks == 1);
  DirectBlock *s = d.alloc(1 << 20, 16);   // 1 MB must not pin a 3.75 MB region
  CHECK(s->base != xb);
  d.free(s);   // 1 MB + 3 MB cached = 4 MB: within the budget
  CHECK(t->core.pending_total.load() <= (std::size_t(4) << 20));
  d.free(y);   // over: the oldest go
  CHECK(t->core.pending_total.load() <= (std::size_t(4) << 20));
  CHECK(lfh::vm::pagemap_lookup(xb) == nullptr);
  d.release_all();
  CHECK(t->core.pending_total.load() == 0);
}

TEST_CASE("LFH_PURGE_DELAY_MS=0: a direct block is released at once") {
  std::unique_ptr<core_test::TestCore> t(cache_owner(0));
  DirectBlocks d;
  d.configure(&d, false, true);
  d.enable_cache(&t->core);
  DirectBlock *b = d.alloc(2 << 20, 16);
  char *base = b->base;
  d.free(b);
  CHECK(d.stats().cached_blocks == 0);
  CHECK(lfh::vm::pagemap_lookup(base) == nullptr);
}

TEST_CASE("lfh::Heap: calloc of a reused direct block is cleared, of a fresh one not touched") {
  lfh::process_heap();
  std::unique_ptr<lfh::Heap> h(new lfh::Heap());
  REQUIRE(h->init(0, 0, 0, 4, 256, true));
  char *p = static_cast<char *>(h->alloc_zeroed(3 << 20));
  REQUIRE(p);
  CHECK(core_test::resident_pages(p, 3 << 20) == 0);   // fresh: demand-zero, never written
  std::memset(p, 0xab, 3 << 20);
  lfh::free_block(p);
  char *q = static_cast<char *>(h->alloc_zeroed(3 << 20));
  REQUIRE(q == p);   // the cached region came back dirty: it must have been cleared
  CHECK(lfh_test::all_zero(q, 3 << 20));
  CHECK(lfh::usable_size(q) >= (std::size_t(3) << 20));
  lfh::free_block(q);
  CHECK(lfh::usable_size(q) == 0);   // cached: not a live block
  h->trim();
  lfh::HeapStats st;
  h->stats(&st);
  CHECK(st.direct_cached_bytes == 0);
  h->release_all();
}
