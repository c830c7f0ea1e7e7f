// The standard allocation functions as lfh implements them. This program links liblfh.a, so plain
// malloc/free/new here are lfh's: errno rules, overflow, alignment contracts, realloc corner cases,
// operator new's failure modes, and recovery from an exhausted commit limit.
#include <catch2/catch.hpp>

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>
#include <new>
#include <thread>
#include <vector>

#include "lfh/lfh.h"
#include "test_util.h"
#include "vm/vm.h"

using lfh_test::aligned;

namespace {

// Sizes through a volatile so the compiler cannot reason about them (no folding, no warnings).
volatile std::size_t g_huge = SIZE_MAX / 2;
volatile std::size_t g_max = SIZE_MAX;
std::size_t huge() { return g_huge; }
std::size_t max_size() { return g_max; }

}  // namespace

TEST_CASE("the static library really replaces malloc") {
  void *p = malloc(10);
  REQUIRE(p != nullptr);
  CHECK(lfh_owns(p));
  free(p);
  char *s = strdup("lfh");   // libc's own allocations come from lfh too
  REQUIRE(s != nullptr);
  CHECK(lfh_owns(s));
  free(s);
}

TEST_CASE("malloc(0) returns a unique block that can be freed") {
  void *a = malloc(0), *b = malloc(0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(lfh_owns(a));
  free(a);
  free(b);
}

TEST_CASE("free(NULL) does nothing and free keeps errno") {
  errno = 1234;
  free(nullptr);
  CHECK(errno == 1234);
  for (std::size_t n : {8, 5000, 200000}) {
    void *p = malloc(n);
    REQUIRE(p != nullptr);
    errno = 4321;
    free(p);
    CHECK(errno == 4321);
  }
}

TEST_CASE("size overflow fails with ENOMEM") {
  errno = 0;
  CHECK(malloc(huge()) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(malloc(max_size()) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(calloc(huge(), 4) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(calloc(max_size(), max_size()) == nullptr);
  CHECK(errno == ENOMEM);

  char *p = static_cast<char *>(malloc(64));
  REQUIRE(p != nullptr);
  memset(p, 0x3c, 64);
  errno = 0;
  CHECK(reallocarray(p, huge(), 3) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(realloc(p, huge()) == nullptr);   // a failed realloc leaves the block alone
  CHECK(errno == ENOMEM);
  CHECK(lfh_owns(p));
  for (int i = 0; i < 64; ++i) REQUIRE(p[i] == 0x3c);
  p = static_cast<char *>(reallocarray(p, 10, 20));
  REQUIRE(p != nullptr);
  CHECK(malloc_usable_size(p) >= 200);
  for (int i = 0; i < 64; ++i) REQUIRE(p[i] == 0x3c);
  free(p);
}

TEST_CASE("calloc zeroes") {
  for (std::size_t n : {1, 100, 16384, 100000, 2000000}) {
    void *dirty = malloc(n);
    REQUIRE(dirty != nullptr);
    memset(dirty, 0xff, n);
    free(dirty);
    void *p = calloc(n, 1);
    REQUIRE(p != nullptr);
    CHECK(lfh_test::all_zero(p, n));
    free(p);
  }
}

TEST_CASE("realloc of NULL allocates and realloc to 0 frees and returns NULL") {
  void *p = realloc(nullptr, 100);
  REQUIRE(p != nullptr);
  CHECK(lfh_owns(p));
  CHECK(realloc(p, 0) == nullptr);
  CHECK_FALSE(lfh_owns(p));
  void *big = malloc(300000);
  REQUIRE(big != nullptr);
  CHECK(realloc(big, 0) == nullptr);
  CHECK_FALSE(lfh_owns(big));
}

TEST_CASE("posix_memalign rejects bad alignments and leaves *memptr alone") {
  for (std::size_t a : {0, 1, 2, 4, 3, 12, 24, 48, 4097}) {
    INFO("alignment " << a);
    void *out = reinterpret_cast<void *>(0x5eed);
    CHECK(posix_memalign(&out, a, 16) == EINVAL);
    CHECK(out == reinterpret_cast<void *>(0x5eed));
  }
  void *out = reinterpret_cast<void *>(0x5eed);
  CHECK(posix_memalign(&out, 64, huge()) == ENOMEM);
  CHECK(out == reinterpret_cast<void *>(0x5eed));
}

TEST_CASE("aligned_alloc rejects alignments that are not powers of two") {
  for (std::size_t a : {0, 3, 24, 100, 4095}) {
    INFO("alignment " << a);
    errno = 0;
    CHECK(aligned_alloc(a, 64) == nullptr);
    CHECK(errno == EINVAL);
  }
}

TEST_CASE("every alignment from 8 to 4096 plus 64K and 1M through each function") {
  std::vector<std::size_t> aligns;
  for (std::size_t a = 8; a <= 4096; a *= 2) aligns.push_back(a);
  aligns.push_back(64 * 1024);
  aligns.push_back(1024 * 1024);
  for (std::size_t a : aligns) {
    for (std::size_t n : {std::size_t(1), a / 2, a, a + 1, std::size_t(5000), std::size_t(70000)}) {
      INFO("alignment " << a << " size " << n);
      void *p1 = nullptr;
      REQUIRE(posix_memalign(&p1, a, n) == 0);
      void *p2 = aligned_alloc(a, n);
      void *p3 = memalign(a, n);
      for (void *p : {p1, p2, p3}) {
        REQUIRE(p != nullptr);
        CHECK(aligned(p, a));
        CHECK(malloc_usable_size(p) >= n);
        CHECK(lfh_owns(p));
        memset(p, 0x42, n);
      }
      free(p1);
      free(p2);
      free(p3);
    }
  }
}

TEST_CASE("memalign rounds up while valloc and pvalloc are page aligned") {
  volatile std::size_t odd = 24;   // not a constant: clang rejects a constant non-power-of-two alignment
  void *p = memalign(odd, 10);     // glibc rule: rounded up to 32
  REQUIRE(p != nullptr);
  CHECK(aligned(p, 32));
  free(p);
  p = valloc(100);
  REQUIRE(p != nullptr);
  CHECK(aligned(p, 4096));
  free(p);
  p = pvalloc(1);
  REQUIRE(p != nullptr);
  CHECK(aligned(p, 4096));
  CHECK(malloc_usable_size(p) >= 4096);
  free(p);
  CHECK(malloc_usable_size(nullptr) == 0);
}

TEST_CASE("operator new throws bad_alloc and nothrow new returns nullptr") {
  CHECK_THROWS_AS(::operator new(huge()), std::bad_alloc);
  CHECK_THROWS_AS(::operator new[](huge()), std::bad_alloc);
  CHECK_THROWS_AS(::operator new(huge(), std::align_val_t(64)), std::bad_alloc);
  CHECK(::operator new(huge(), std::nothrow) == nullptr);
  CHECK(::operator new[](huge(), std::nothrow) == nullptr);
  CHECK(::operator new(huge(), std::align_val_t(256), std::nothrow) == nullptr);

  void *p = ::operator new(100, std::align_val_t(256));
  CHECK(aligned(p, 256));
  CHECK(lfh_owns(p));
  ::operator delete(p, std::align_val_t(256));
  int *arr = new int[1000];
  CHECK(lfh_owns(arr));
  delete[] arr;
}

namespace {
int g_handler_calls = 0;
void give_up_after_three() {
  if (++g_handler_calls == 3) std::set_new_handler(nullptr);
}
}  // namespace

TEST_CASE("operator new calls the new_handler until it gives up") {
  g_handler_calls = 0;
  std::set_new_handler(give_up_after_three);
  CHECK_THROWS_AS(::operator new(huge()), std::bad_alloc);
  CHECK(g_handler_calls == 3);
  g_handler_calls = 0;
  std::set_new_handler(give_up_after_three);
  CHECK(::operator new(huge(), std::nothrow) == nullptr);
  CHECK(g_handler_calls == 3);
  std::set_new_handler(nullptr);
}

TEST_CASE("an exhausted commit limit makes malloc fail with ENOMEM and it recovers") {
  // No Catch2 assertion inside the limited window: Catch2 allocates too.
  std::vector<void *> blocks;
  blocks.reserve(4096);
  char *big = static_cast<char *>(malloc(200000));
  memset(big, 7, 200000);

  // An allocation that would pass the limit first makes lfh give back what it caches and retries
  // (balance manager): start from a trimmed heap, so the limit really bites.
  malloc_trim(0);
  lfh::vm::set_commit_limit(lfh::vm::totals().committed);
  errno = 0;
  void *direct = malloc(1 << 20);
  const int direct_errno = errno;
  void *realloc_grow = realloc(big, 4 << 20);   // must fail and keep `big`
  const int realloc_errno = errno;
  int small_errno = 0;
  for (int i = 0; i < 4000; ++i) {   // 8 KB blocks: soon past any cached span
    errno = 0;
    void *p = malloc(8000);
    if (!p) {
      small_errno = errno;
      break;
    }
    blocks.push_back(p);
  }
  void *out = nullptr;
  const int pm = posix_memalign(&out, 4096, 1 << 20);
  errno = 0;
  void *zeroed = calloc(1, 1 << 20);
  const int calloc_errno = errno;
  lfh::vm::set_commit_limit(0);

  CHECK(direct == nullptr);
  CHECK(direct_errno == ENOMEM);
  CHECK(realloc_grow == nullptr);
  CHECK(realloc_errno == ENOMEM);
  CHECK(static_cast<unsigned char>(big[199999]) == 7);
  CHECK(blocks.size() < 4000);
  CHECK(small_errno == ENOMEM);
  CHECK(pm == ENOMEM);
  CHECK(zeroed == nullptr);
  CHECK(calloc_errno == ENOMEM);

  // The limit is gone: everything works again.
  void *again = malloc(1 << 20);
  CHECK(again != nullptr);
  void *small = malloc(8000);
  CHECK(small != nullptr);
  free(again);
  free(small);
  free(big);
  for (void *p : blocks) free(p);
}

TEST_CASE("after everything is freed a trim gives the memory back") {
  lfh_trim();
  lfh_stats_t start;
  REQUIRE(lfh_stats_get(&start));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      std::vector<void *> v;
      v.reserve(3000);
      for (int i = 0; i < 3000; ++i) {
        std::size_t n = 1 + std::size_t(i * 7919 + t) % 20000;
        void *p = malloc(n);
        if (p) memset(p, 1, n);
        v.push_back(p);
      }
      for (void *p : v) free(p);
    });
  for (auto &t : threads) t.join();
  lfh_stats_t busy;
  REQUIRE(lfh_stats_get(&busy));
  const std::size_t purged = lfh_trim();
  lfh_stats_t after;
  REQUIRE(lfh_stats_get(&after));
  INFO("committed: start " << start.committed_bytes << ", peak " << busy.peak_committed_bytes << ", after trim "
                           << after.committed_bytes << " (purged " << purged << ")");
  CHECK(busy.peak_committed_bytes > start.committed_bytes + 50 * 1024 * 1024);
  CHECK(after.committed_bytes < start.committed_bytes + 16 * 1024 * 1024);
  CHECK(after.lfh_blocks_out <= start.lfh_blocks_out + 64);
  CHECK(after.direct_blocks == start.direct_blocks);
}
