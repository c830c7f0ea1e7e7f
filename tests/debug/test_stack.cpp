// Unit tests of the debug layer's pieces that need no preload: the cached CFI unwinder against
// libgcc's, the stack depot, the fill-pattern scanner, option decoding.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "base/options.h"
#include "debug/config.h"
#include "debug/patterns.h"
#include "debug/stack.h"

using namespace lfh::debug;

namespace {

struct Both {
  void *fast[kMaxFrames];
  void *slow[kMaxFrames];
  int nfast = 0, nslow = 0;
};

__attribute__((noinline)) void capture_both(Both *b) {
  const void *cfa = __builtin_dwarf_cfa();
  stack_force_slow_unwinder(false);
  b->nfast = capture_stack(b->fast, kMaxFrames, cfa);
  stack_force_slow_unwinder(true);
  b->nslow = capture_stack(b->slow, kMaxFrames, cfa);
  stack_force_slow_unwinder(false);
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) int recurse(int depth, Both *b) {
  if (depth == 0) {
    capture_both(b);
    return 0;
  }
  int r = recurse(depth - 1, b) + 1;
  __asm__ volatile("" : "+r"(r));
  return r;
}

Both *g_sort_target = nullptr;
int g_sort_calls = 0;
int compare(const void *a, const void *b) {
  if (g_sort_calls++ == 3) capture_both(g_sort_target);   // from inside libc's qsort
  return *static_cast<const int *>(a) - *static_cast<const int *>(b);
}

__attribute__((noinline)) void with_alloca(int n, Both *b) {
  char *buf = static_cast<char *>(__builtin_alloca(static_cast<std::size_t>(n)));
  std::memset(buf, 1, static_cast<std::size_t>(n));
  __asm__ volatile("" ::"r"(buf) : "memory");
  capture_both(b);
}

void same_stacks(const Both &b) {
  INFO("fast " << b.nfast << " frames, libgcc " << b.nslow);
  REQUIRE(b.nfast > 3);
  REQUIRE(b.nfast == b.nslow);
  for (int i = 0; i < b.nfast; ++i) {
    INFO("frame " << i);
    CHECK(b.fast[i] == b.slow[i]);
  }
}

}  // namespace

TEST_CASE("cached unwinder agrees with libgcc's through recursion") {
  stack_init();
  Both b;
  recurse(20, &b);
  same_stacks(b);
  Both again;   // the second time every rule comes from the cache
  recurse(20, &again);
  same_stacks(again);
}

TEST_CASE("cached unwinder agrees with libgcc's through libc (qsort callback)") {
  stack_init();
  Both b;
  g_sort_target = &b;
  g_sort_calls = 0;
  std::vector<int> v(64);
  for (int i = 0; i < 64; ++i) v[static_cast<std::size_t>(i)] = (i * 37) % 64;
  std::qsort(v.data(), v.size(), sizeof(int), compare);
  same_stacks(b);
}

TEST_CASE("cached unwinder agrees with libgcc's through std::function, std::sort and alloca") {
  stack_init();
  Both b1, b2;
  std::function<void()> f = [&] { with_alloca(3000, &b1); };
  f();
  same_stacks(b1);
  std::vector<int> v{5, 3, 9, 1};
  bool done = false;
  std::sort(v.begin(), v.end(), [&](int x, int y) {
    if (!done) {
      done = true;
      capture_both(&b2);
    }
    return x < y;
  });
  same_stacks(b2);
}

TEST_CASE("the first frame is the caller of the function that called the entry point") {
  // capture_both plays the debug entry point and recurse(0) the api/ function that calls it
  // (libc::malloc): frame 0 must be recurse(0)'s return address, into recurse(1).
  stack_init();
  Both b;
  recurse(1, &b);
  REQUIRE(b.nfast > 0);
  auto in = [](void *pc, void *fn) {
    auto p = reinterpret_cast<std::uintptr_t>(pc), f = reinterpret_cast<std::uintptr_t>(fn);
    return p > f && p < f + 512;
  };
  CHECK(in(b.fast[0], reinterpret_cast<void *>(&recurse)));
}

TEST_CASE("depot: equal stacks share an id, different ones do not") {
  stack_init();
  void *a[3] = {reinterpret_cast<void *>(0x1000), reinterpret_cast<void *>(0x2000), reinterpret_cast<void *>(0x3000)};
  void *c[3] = {reinterpret_cast<void *>(0x1000), reinterpret_cast<void *>(0x2000), reinterpret_cast<void *>(0x3001)};
  std::uint32_t ia = depot_put(a, 3), ia2 = depot_put(a, 3), ic = depot_put(c, 3);
  REQUIRE(ia != 0);
  CHECK(ia == ia2);
  CHECK(ic != ia);
  void *const *f;
  REQUIRE(depot_get(ia, &f) == 3);
  CHECK(f[2] == a[2]);
  CHECK(depot_get(0, &f) == 0);
  CHECK(depot_get(0xfffffff0u, &f) == 0);   // a damaged id reads as no stack
  CHECK(depot_put(a, 0) == 0);
}

TEST_CASE("first_mismatch finds the first changed byte at any alignment") {
  alignas(16) unsigned char buf[200];
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t bad = start; bad < 120; bad += 13) {
      std::memset(buf, 0xab, sizeof buf);
      CHECK(first_mismatch(buf + start, 120 - start, 0xab) == nullptr);
      buf[bad] = 0x41;
      CHECK(first_mismatch(buf + start, 120 - start, 0xab) == buf + bad);
    }
  }
}

TEST_CASE("debug options decode") {
  char e1[] = "LFH_PAGEHEAP=full", e2[] = "LFH_PAGEHEAP_SIZES=64-4K", e3[] = "LFH_DEBUG=tail,free",
       e4[] = "LFH_ON_ERROR=report", e5[] = "LFH_PAGEHEAP_SAMPLE=1000", e6[] = "LFH_BACKTRACE=8";
  char *env[] = {e1, e2, e3, e4, e5, e6, nullptr};
  lfh::options_init(env, true);
  load_config();
  CHECK(g_cfg.pageheap == PageHeap::kFull);
  CHECK(g_cfg.size_min == 64);
  CHECK(g_cfg.size_max == 4096);
  CHECK(g_cfg.tail);
  CHECK(g_cfg.free_fill);
  CHECK_FALSE(g_cfg.validate);
  CHECK(g_cfg.on_error == OnError::kReport);
  CHECK(g_cfg.sample == 1000);
  CHECK(g_cfg.backtrace == 8);
  CHECK(g_cfg.handles_all());
  char f1[] = "LFH_DEBUG=all", f2[] = "LFH_PAGEHEAP_SIZES=-100";
  char *env2[] = {f1, f2, nullptr};
  lfh::options_init(env2, true);
  load_config();
  CHECK(g_cfg.pageheap == PageHeap::kOff);
  CHECK(g_cfg.validate);
  CHECK(g_cfg.params);
  CHECK(g_cfg.size_max == 100);
  char *none[] = {nullptr};
  lfh::options_init(none, true);
  load_config();
  CHECK_FALSE(g_cfg.any());
}
