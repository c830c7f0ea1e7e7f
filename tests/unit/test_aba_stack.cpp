// lookaside/aba_stack.h: the lock-free LIFO behind the look-aside lists, alone and under contention.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "lfh/free_link.h"
#include "lookaside/aba_stack.h"

using lfh::AbaStack;

namespace {

// A stand-in for a free block: the stack keeps its link in the first word; `holder` records which
// thread popped it, so two threads holding the same block at once is caught when it happens.
struct alignas(16) Block {
  std::uintptr_t link;
  std::atomic<int> holder;
  char pad[48];
};

constexpr std::uint32_t kNoLimit = ~std::uint32_t(0);

std::vector<void *> drain(AbaStack &s) {
  std::vector<void *> out;
  while (void *p = s.pop()) out.push_back(p);
  return out;
}

// Walk an encoded chain of n blocks; returns the blocks (stops early at a null link).
std::vector<void *> walk(void *head, std::uint32_t n) {
  std::vector<void *> out;
  for (void *b = head; b && out.size() < n; b = lfh::load_link(b)) out.push_back(b);
  return out;
}

}  // namespace

TEST_CASE("pop returns blocks in LIFO order and tracks the count") {
  std::vector<Block> blocks(10);
  AbaStack s;
  CHECK(s.pop() == nullptr);
  CHECK(s.count() == 0);
  for (auto &b : blocks) REQUIRE(s.push(&b, kNoLimit));
  CHECK(s.count() == 10);
  std::vector<void *> got = drain(s);
  REQUIRE(got.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) CHECK(got[i] == &blocks[9 - i]);
  CHECK(s.count() == 0);
  CHECK(s.pop() == nullptr);
}

TEST_CASE("push respects the limit") {
  std::vector<Block> blocks(5);
  AbaStack s;
  CHECK(s.push(&blocks[0], 3));
  CHECK(s.push(&blocks[1], 3));
  CHECK(s.push(&blocks[2], 3));
  CHECK_FALSE(s.push(&blocks[3], 3));
  CHECK(s.count() == 3);
  CHECK_FALSE(s.push(&blocks[3], 0));
  CHECK(s.pop() == &blocks[2]);
  CHECK(s.push(&blocks[4], 3));
  CHECK(s.count() == 3);
  CHECK(s.pop() == &blocks[4]);
}

TEST_CASE("pop_all detaches a counted chain and push_chain puts one back") {
  std::vector<Block> blocks(8);
  AbaStack s;
  std::uint32_t n = 99;
  CHECK(s.pop_all(&n) == nullptr);
  CHECK(n == 0);
  for (int i = 0; i < 5; ++i) REQUIRE(s.push(&blocks[i], kNoLimit));
  void *chain = s.pop_all(&n);
  CHECK(n == 5);
  CHECK(s.count() == 0);
  CHECK(s.pop() == nullptr);
  std::vector<void *> got = walk(chain, 10);
  REQUIRE(got.size() == 5);
  CHECK(got.front() == &blocks[4]);
  CHECK(got.back() == &blocks[0]);
  CHECK(lfh::load_link(got.back()) == nullptr);

  // A chain of three on top of one block already there: order chain..., then the old top.
  REQUIRE(s.push(&blocks[7], kNoLimit));
  lfh::store_link(&blocks[4], &blocks[5]);
  lfh::store_link(&blocks[5], &blocks[6]);
  s.push_chain(&blocks[4], &blocks[6], 3);
  CHECK(s.count() == 4);
  std::vector<void *> order = drain(s);
  REQUIRE(order.size() == 4);
  CHECK(order[0] == &blocks[4]);
  CHECK(order[1] == &blocks[5]);
  CHECK(order[2] == &blocks[6]);
  CHECK(order[3] == &blocks[7]);
}

TEST_CASE("every update changes the tag so A-B-A is visible") {
  std::vector<Block> blocks(3);
  AbaStack s;
  REQUIRE(s.push(&blocks[0], kNoLimit));
  REQUIRE(s.push(&blocks[1], kNoLimit));
  REQUIRE(s.push(&blocks[2], kNoLimit));   // top: 2, 1, 0
  const AbaStack::Head stale = s.load();
  void *a = s.pop();
  void *b = s.pop();
  REQUIRE(a == &blocks[2]);
  REQUIRE(b == &blocks[1]);
  REQUIRE(s.push(a, kNoLimit));   // A is back on top, B is gone
  const AbaStack::Head now = s.load();
  CHECK(now.top == stale.top);
  CHECK(now.tag != stale.tag);   // a CAS from the stale head must fail
  CHECK(now.count == 2);
  CHECK(now.tag == stale.tag + 3);
}

namespace {

struct Shared {
  AbaStack stack;
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> chain_errors{0};
};

bool claim(Shared &sh, void *p, int me) {
  int expected = 0;
  if (static_cast<Block *>(p)->holder.compare_exchange_strong(expected, me)) return true;
  sh.duplicates.fetch_add(1);
  return false;
}

void unclaim_and_scribble(void *p, int me) {
  // What a program does with a block it got: overwrite the link word (stale poppers may read it).
  __atomic_store_n(&static_cast<Block *>(p)->link, std::uintptr_t(0xdead0000) + unsigned(me), __ATOMIC_RELAXED);
  static_cast<Block *>(p)->holder.store(0);
}

void worker(Shared &sh, int me, int iterations) {
  for (int i = 0; i < iterations; ++i) {
    switch (i % 8) {
      case 0: {   // detach everything, check the chain, put it back as one chain
        std::uint32_t n;
        void *chain = sh.stack.pop_all(&n);
        if (!chain) break;
        std::vector<void *> got = walk(chain, n);
        if (got.size() != n || lfh::load_link(got.back()) != nullptr) sh.chain_errors.fetch_add(1);
        for (void *b : got) claim(sh, b, me);
        for (void *b : got) static_cast<Block *>(b)->holder.store(0);
        for (std::size_t k = 0; k + 1 < got.size(); ++k) lfh::store_link(got[k], got[k + 1]);
        sh.stack.push_chain(got.front(), got.back(), std::uint32_t(got.size()));
        break;
      }
      case 1: case 3: case 5: {   // ABA pattern: pop A, pop B, push A straight back, then B
        void *a = sh.stack.pop();
        if (!a) break;
        void *b = sh.stack.pop();
        claim(sh, a, me);
        if (b) claim(sh, b, me);
        unclaim_and_scribble(a, me);
        sh.stack.push(a, kNoLimit);
        if (b) {
          // Let stale heads pile up while B is out: a short spin, not sched_yield(), which on a
          // loaded machine hands the CPU to other processes for a whole time slice each time
          // (100 000 of them made this test take minutes under ctest -j2 with a UBSan build).
          for (int k = 0; k < 256; ++k) __builtin_ia32_pause();
          unclaim_and_scribble(b, me);
          sh.stack.push(b, kNoLimit);
        }
        break;
      }
      default: {   // plain pop / use / push
        void *a = sh.stack.pop();
        if (!a) break;
        claim(sh, a, me);
        unclaim_and_scribble(a, me);
        sh.stack.push(a, kNoLimit);
      }
    }
  }
}

}  // namespace

TEST_CASE("concurrent pop/push cycles lose and duplicate nothing") {
  const int threads = GENERATE(2, 4, 8);
  constexpr std::size_t kBlocks = 64;
  std::vector<Block> blocks(kBlocks);
  Shared sh;
  for (auto &b : blocks) REQUIRE(sh.stack.push(&b, kNoLimit));

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, std::ref(sh), t + 1, 200000 / threads * 2);
  for (auto &t : pool) t.join();

  INFO(threads << " threads");
  CHECK(sh.duplicates.load() == 0);
  CHECK(sh.chain_errors.load() == 0);
  CHECK(sh.stack.count() == kBlocks);
  std::uint32_t n;
  void *chain = sh.stack.pop_all(&n);
  std::vector<void *> got = walk(chain, n + 1);
  CHECK(n == kBlocks);
  CHECK(got.size() == kBlocks);
  std::set<void *> unique(got.begin(), got.end()), expect;
  for (auto &b : blocks) expect.insert(&b);
  CHECK(unique == expect);
}

TEST_CASE("concurrent pushes never pass the limit") {
  constexpr std::uint32_t kLimit = 16;
  constexpr int kThreads = 4, kPerThread = 32;
  std::vector<Block> blocks(kThreads * kPerThread);
  AbaStack s;
  std::atomic<int> accepted{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        void *b = &blocks[std::size_t(t * kPerThread + i % kPerThread)];
        if (i % 2 == 0) {
          if (s.push(b, kLimit)) accepted.fetch_add(1);
        } else if (s.count() > kLimit) {
          accepted.store(-1000000);   // observed an overfull stack
        }
      }
    });
  for (auto &t : pool) t.join();
  CHECK(s.count() == kLimit);
  CHECK(accepted.load() == int(kLimit));
  CHECK(drain(s).size() == kLimit);
}
