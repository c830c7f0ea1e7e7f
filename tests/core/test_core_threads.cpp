// Arenas by CPU, and many threads allocating, resizing and freeing (also each other's blocks).
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core_test_util.h"
#include "test_util.h"

using namespace core_test;

namespace {

bool pin_to(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace

TEST_CASE("threads on different CPUs allocate from different arenas") {
  if (std::thread::hardware_concurrency() < 2) {
    WARN("one CPU: skipped");
    return;
  }
  CoreConfig c = quiet();
  c.arenas = 2;
  TestCore t(c);
  unsigned arena[2] = {99, 99};
  void *blocks[2] = {};
  for (unsigned cpu = 0; cpu < 2; ++cpu) {
    std::thread th([&, cpu] {
      if (!pin_to(cpu)) return;
      blocks[cpu] = t.alloc(100000);
      arena[cpu] = t.info(blocks[cpu]).arena;
    });
    th.join();
  }
  if (!blocks[0] || !blocks[1]) {
    WARN("could not pin threads: skipped");
    return;
  }
  CHECK(arena[0] != arena[1]);
  CHECK(t.core.arena(0) != nullptr);
  CHECK(t.core.arena(1) != nullptr);
  // A block is freed into its own arena, whichever thread frees it.
  t.free(blocks[0]);
  t.free(blocks[1]);
  CHECK(t.core.validate());
}

TEST_CASE("concurrent alloc/resize/free with cross-thread frees keeps every block intact") {
  CoreConfig c = quiet();
  c.arenas = 4;
  c.purge_delay_ms = 5;   // purges run concurrently too
  c.total_free = 2 << 20;
  TestCore t(c);
  constexpr int kThreads = 4, kOps = 6000, kSlots = 64;
  std::atomic<void *> shared[kSlots] = {};
  std::atomic<int> failures{0};
  auto worker = [&](int id) {
    std::mt19937_64 rng(std::uint64_t(id) * 977 + 1);
    std::vector<std::pair<char *, std::size_t>> mine;
    for (int i = 0; i < kOps; ++i) {
      unsigned op = unsigned(rng() % 10);
      if (op < 5 || mine.empty()) {
        std::size_t n = 16384 + rng() % (700 * 1024);
        char *p = static_cast<char *>(t.alloc(n, (rng() & 3) == 0 ? std::size_t(1) << (5 + rng() % 12) : 16));
        if (!p) {
          ++failures;
          continue;
        }
        lfh_test::fill(p, n < 4096 ? n : 4096, lfh_test::seed_for(p, n));
        mine.push_back({p, n});
      } else if (op < 7) {
        std::size_t k = rng() % mine.size();
        auto [p, n] = mine[k];
        std::size_t m = 16384 + rng() % (700 * 1024);
        if (t.resize(p, m)) {
          std::size_t keep = std::min<std::size_t>(std::min(n, m), 4096);
          if (!lfh_test::check(p, keep, lfh_test::seed_for(p, n))) ++failures;
          lfh_test::fill(p, m < 4096 ? m : 4096, lfh_test::seed_for(p, m));
          mine[k].second = m;
        }
      } else if (op < 9) {
        std::size_t k = rng() % mine.size();
        auto [p, n] = mine[k];
        if (!lfh_test::check(p, n < 4096 ? n : 4096, lfh_test::seed_for(p, n))) ++failures;
        t.free(p);
        mine[k] = mine.back();
        mine.pop_back();
      } else {
        // Hand a block to whoever comes next; free what was there.
        std::size_t k = rng() % mine.size();
        auto [p, n] = mine[k];
        mine[k] = mine.back();
        mine.pop_back();
        (void)n;
        unsigned slot = unsigned(rng() % kSlots);
        if (void *old = shared[slot].exchange(p)) t.free(old);   // freed by another thread than its own
      }
    }
    for (auto [p, n] : mine) {
      if (!lfh_test::check(p, n < 4096 ? n : 4096, lfh_test::seed_for(p, n))) ++failures;
      t.free(p);
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) ts.emplace_back(worker, i);
  for (auto &th : ts) th.join();
  for (auto &s : shared)
    if (void *p = s.exchange(nullptr)) t.free(p);
  CHECK(failures.load() == 0);
  CHECK(t.core.validate());
  CoreStats st = t.stats();
  CHECK(st.blocks == 0);
  t.core.purge(true);
  CHECK(t.stats().committed == 0);
  CHECK(t.stats().segments == 0);
}
