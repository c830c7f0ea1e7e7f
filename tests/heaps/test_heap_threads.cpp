// Private heaps under threads: a serialized heap hammered by 8 threads; lfh_heap_lock excludes
// other threads while the owner keeps working.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "lfh/lfh.h"

TEST_CASE("a serialized heap hammered by 8 threads, with cross-thread frees") {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  constexpr int kThreads = 8, kOps = 40000;
  std::vector<std::atomic<void *>> mailbox(kThreads * 64);
  for (auto &m : mailbox) m.store(nullptr);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      unsigned x = 977u * unsigned(t + 1);
      std::vector<std::pair<unsigned char *, std::size_t>> mine;
      for (int i = 0; i < kOps; ++i) {
        x = x * 1664525 + 1013904223;
        std::size_t n = (x >> 12) % 100 == 0 ? 20000 + (x >> 8) % 80000 : 1 + (x >> 8) % 1500;
        auto *p = static_cast<unsigned char *>(lfh_heap_alloc(h, 0, n));
        if (!p) {
          bad++;
          continue;
        }
        std::memset(p, t + 1, n < 32 ? n : 32);
        mine.emplace_back(p, n);
        if (mine.size() > 200 || (x & 7) == 0) {
          auto [q, m] = mine.front();
          mine.erase(mine.begin());
          for (std::size_t k = 0; k < (m < 32 ? m : 32); ++k)
            if (q[k] != t + 1) bad++;
          // Hand every fourth block to another thread's mailbox; free what we find in ours.
          if ((x & 3) == 0) {
            std::memset(q, 0, m < 32 ? m : 32);
            void *prev = mailbox[std::size_t((t + 1) % kThreads) * 64 + (x >> 20) % 64].exchange(q);
            if (prev) lfh_heap_free(h, 0, prev);
          } else {
            lfh_heap_free(h, 0, q);
          }
        }
      }
      for (auto &[q, m] : mine) lfh_heap_free(h, 0, q);
    });
  }
  for (auto &t : ts) t.join();
  for (auto &m : mailbox)
    if (void *p = m.load()) lfh_heap_free(h, 0, p);
  CHECK(bad.load() == 0);
  CHECK(lfh_heap_validate(h, 0, nullptr));
  std::size_t in_use = 0;
  lfh_heap_walk(h, [](const lfh_heap_entry_t *e, void *a) { *static_cast<std::size_t *>(a) += e->in_use; return 1; }, &in_use);
  CHECK(in_use == 0);
  lfh_heap_destroy(h);
}

TEST_CASE("lfh_heap_lock makes other threads wait while the owner keeps using the heap") {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  void *warm = lfh_heap_alloc(h, 0, 64);   // the other thread's bucket has a subsegment already
  lfh_heap_free(h, 0, warm);
  lfh_heap_lock(h);
  lfh_heap_lock(h);   // recursive for the owner
  std::atomic<bool> done{false};
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) lfh_heap_free(h, 0, lfh_heap_alloc(h, 0, 64));
    done = true;
  });
  // The owner allocates, walks and validates while holding the lock.
  void *mine = lfh_heap_alloc(h, 0, 5000);
  void *big = lfh_heap_alloc(h, 0, 200000);
  CHECK((mine && big));
  CHECK(lfh_heap_validate(h, 0, nullptr));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK_FALSE(done.load());
  lfh_heap_unlock(h);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(done.load());   // still held once
  lfh_heap_unlock(h);
  other.join();
  CHECK(done.load());
  lfh_heap_free(h, 0, mine);
  lfh_heap_free(h, 0, big);
  CHECK(lfh_heap_validate(h, 0, nullptr));
  lfh_heap_destroy(h);
}
