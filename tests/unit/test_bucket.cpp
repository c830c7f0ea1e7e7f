// lfh::Bucket's batch paths and the thread magazine in front of them (lfh_internal, glibc keeps
// malloc in this process): take_batch hands out whole chains (a fresh run in address order, a
// subsegment's whole free list, the pending chain) and give_back_whole parks a chain whole; the
// pending chain goes home on trim and on the balance tick's idle test; the magazine serves LIFO.
#include <catch2/catch.hpp>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <thread>
#include <cstdint>
#include <vector>

#include "heap/front.h"
#include "heap/heap.h"
#include "heap/runtime.h"
#include "lfh/bucket.h"
#include "lfh/free_link.h"
#include "os/cpu.h"

using namespace lfh;
using namespace lfh::lfh_buckets;

namespace {

struct PrivateHeap {
  Heap heap;
  PrivateHeap() {
    process_heap();   // initialises the runtime: page map, link key
    REQUIRE(heap.init(0, 0, 0, 4, 256, true));
  }
  ~PrivateHeap() { heap.release_all(); }
};

// The blocks of a chain of n (following the encoded links), in chain order; also its tail.
std::vector<void *> chain_blocks(void *head, std::uint32_t n, void **tail = nullptr) {
  std::vector<void *> v;
  for (void *b = head; b && v.size() < n; b = load_link(b)) v.push_back(b);
  if (tail) *tail = v.empty() ? nullptr : v.back();
  return v;
}

// A fresh run of 32 blocks from b: *head, *tail, and its blocks in chain order.
std::vector<void *> take_run(Bucket &b, void **head, void **tail) {
  REQUIRE(b.take_batch(32, head) == 32);
  return chain_blocks(*head, 32, tail);
}

constexpr unsigned kBucket = 31;   // 256-byte blocks: a fresh run of 32 is more than a page

}  // namespace

TEST_CASE("take_batch carves a fresh run in address order, null-terminated") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  void *head = nullptr;
  const std::uint32_t n = b.take_batch(32, &head);
  REQUIRE(n == 32);
  std::vector<void *> v = chain_blocks(head, 64);
  REQUIRE(v.size() == 32);   // the 32nd block's link is null
  for (std::size_t i = 1; i < v.size(); ++i)
    CHECK(reinterpret_cast<std::uintptr_t>(v[i]) == reinterpret_cast<std::uintptr_t>(v[i - 1]) + block_size(kBucket));
  CHECK(b.stats().blocks_out == 32);
  b.give_back_chain(head, n);
  CHECK(b.stats().blocks_out == 0);
}

TEST_CASE("take_batch takes a subsegment's whole free list in one batch") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  void *first = nullptr, *second = nullptr;
  REQUIRE(b.take_batch(32, &first) == 32);
  REQUIRE(b.take_batch(32, &second) == 32);   // keeps the subsegment in use
  b.give_back_chain(first, 32);               // 32 blocks on the subsegment's free list
  void *again = nullptr;
  CHECK(b.take_batch(4, &again) == 32);       // the whole list, not `want` of it
  std::vector<void *> v = chain_blocks(again, 64);
  CHECK(v.size() == 32);
  b.give_back_chain(again, 32);
  b.give_back_chain(second, 32);
  CHECK(b.stats().blocks_out == 0);
}

TEST_CASE("give_back_whole parks a chain that take_batch hands out again whole, and trim sends it home") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  void *head = nullptr, *tail = nullptr;
  const std::vector<void *> v = take_run(b, &head, &tail);
  b.give_back_whole(head, tail, 32);
  BucketStats st = b.stats();
  CHECK(st.blocks_pending == 32);
  CHECK(st.blocks_out == 32);                 // pending blocks stay counted out of their subsegment
  void *again = nullptr;
  REQUIRE(b.take_batch(32, &again) == 32);
  CHECK(again == head);
  CHECK(chain_blocks(again, 64) == v);        // the same blocks, in the same order
  CHECK(b.stats().blocks_pending == 0);
  b.give_back_whole(head, tail, 32);
  ph.heap.trim();
  st = b.stats();
  CHECK(st.blocks_pending == 0);
  CHECK(st.blocks_out == 0);
  CHECK(st.subsegments == 0);                 // home, the subsegment emptied and was retired
}

TEST_CASE("give_back_whole past the pending budget returns the blocks to their subsegments") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  // The budget: kPendingBytes, or a quarter of the blocks out when that is more.
  const std::uint32_t budget_blocks = std::uint32_t(Bucket::kPendingBytes / block_size(kBucket));
  std::vector<std::pair<void *, std::uint32_t>> batches;
  std::uint32_t taken = 0;
  while (taken < 3 * budget_blocks) {   // out: 3 budgets, so a quarter of it is below the budget
    void *h = nullptr;
    const std::uint32_t n = b.take_batch(32, &h);   // (fewer at a subsegment's end)
    REQUIRE(n > 0);
    batches.push_back({h, n});
    taken += n;
  }
  for (auto [h, n] : batches) {
    void *t = nullptr;
    chain_blocks(h, n, &t);
    b.give_back_whole(h, t, n);
  }
  BucketStats st = b.stats();
  CHECK(st.blocks_pending <= budget_blocks);
  CHECK(st.blocks_pending + 32 > budget_blocks);
  CHECK(st.blocks_out == st.blocks_pending);  // the rest went home at once
}

TEST_CASE("give_back_home splices a run of one subsegment onto its free list whole") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  void *head = nullptr, *keep = nullptr, *tail = nullptr;
  const std::vector<void *> v = take_run(b, &head, &tail);
  REQUIRE(b.take_batch(32, &keep) == 32);     // keeps the subsegment in use
  auto *s = reinterpret_cast<Subsegment *>(vm::pagemap_lookup(head));
  REQUIRE(s != nullptr);
  b.give_back_home(head, tail, 32, s);
  CHECK(b.stats().blocks_out == 32);
  CHECK(s->free_count == 32);
  void *again = nullptr;
  REQUIRE(b.take_batch(32, &again) == 32);    // the subsegment's free list: the same run, in order
  CHECK(chain_blocks(again, 64) == v);
  b.give_back_chain(again, 32);
  b.give_back_chain(keep, 32);
  CHECK(b.stats().blocks_out == 0);
}

TEST_CASE("the balance tick sends home a pending chain nobody took for a tick") {
  PrivateHeap ph;
  Bucket &b = ph.heap.bucket(kBucket);
  void *head = nullptr, *tail = nullptr;
  take_run(b, &head, &tail);
  b.give_back_whole(head, tail, 32);
  REQUIRE(b.take_batch(32, &head) == 32);     // taken: the chain is in use
  b.give_back_whole(head, tail, 32);
  {
    os::LockGuard g(b.mutex());
    b.retire_idle_locked();                   // taken since the last tick: stays
  }
  CHECK(b.stats().blocks_pending == 32);
  {
    os::LockGuard g(b.mutex());
    b.retire_idle_locked();                   // not taken for a whole tick: home
  }
  CHECK(b.stats().blocks_pending == 0);
  CHECK(b.stats().blocks_out == 0);
}

TEST_CASE("the thread magazine hands the blocks freed last out first") {
  process_heap();
  constexpr unsigned kB = 9;   // 80-byte blocks
  constexpr int kN = 200;      // several full free stacks: they move whole to the list and back
  std::vector<void *> v;
  for (int i = 0; i < kN; ++i) {
    void *p = front_alloc(kB);
    REQUIRE(p != nullptr);
    v.push_back(p);
  }
  for (void *p : v) front_free(p);
  // Then a few more frees, fewer than fit on the free stack: LIFO, the one freed last comes first.
  constexpr int kRecent = 8;
  std::vector<void *> recent;
  for (int i = 0; i < kRecent; ++i) recent.push_back(front_alloc(kB));
  for (void *p : recent) front_free(p);
  for (int i = 0; i < kRecent; ++i) CHECK(front_alloc(kB) == recent[std::size_t(kRecent - 1 - i)]);
  // And no block is handed out twice while the full stacks come back through the list.
  std::vector<void *> again = recent;
  for (int i = 0; i < kN; ++i) again.push_back(front_alloc(kB));
  std::vector<void *> a = again;
  std::sort(a.begin(), a.end());
  CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());
  for (void *p : again) front_free(p);
}

// A full free stack that has to go home goes as one run when all its blocks belong to one
// subsegment (MagazineSlot::free_sub), else block by block. Freeing blocks of two subsegments
// alternately must make every stack a mixed one: a stack taken for one run would put blocks on
// the wrong subsegment's free list (heap validation, the use counts and the re-allocation below
// would see it).
TEST_CASE("free stacks that mix subsegments go home block by block, others as one run") {
  Heap &h = process_heap();
  constexpr unsigned kB = 20;    // 168-byte blocks
  const std::uint32_t per_span = blocks_per_span(kB);
  std::vector<void *> v;
  for (std::uint32_t i = 0; i < 3 * per_span; ++i) v.push_back(front_alloc(kB));   // 3 subsegments or more
  std::sort(v.begin(), v.end());
  // Two subsegments' blocks, alternating: every free stack mixes them.
  std::vector<void *> a, b2, rest;
  const vm::OwnerHeader *sa = vm::pagemap_lookup(v.front()), *sb = nullptr;
  for (void *p : v) {
    const vm::OwnerHeader *o = vm::pagemap_lookup(p);
    if (o == sa) a.push_back(p);
    else if (!sb || o == sb) sb = o, b2.push_back(p);
    else rest.push_back(p);
  }
  REQUIRE(!a.empty());
  REQUIRE(!b2.empty());
  for (std::size_t i = 0; i < a.size() || i < b2.size(); ++i) {
    if (i < a.size()) front_free(a[i]);
    if (i < b2.size()) front_free(b2[i]);
  }
  // The rest in address order: stacks of one subsegment each, mostly.
  for (void *p : rest) front_free(p);
  front_flush_current_thread();
  CHECK(h.validate());
  // Every block once more, none twice.
  std::vector<void *> again;
  for (std::size_t i = 0; i < v.size(); ++i) again.push_back(front_alloc(kB));
  std::vector<void *> sorted = again;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  for (void *p : again) front_free(p);
  front_flush_current_thread();
  CHECK(h.validate());
}

// The stash (lookaside/magazine.h): full free stacks that find this CPU's list full wait in the
// thread and reach the bucket kStashChains at a time, under one lock; a refill takes a stashed
// chain back before it asks the bucket.
TEST_CASE("full free stacks wait in the thread's stash: the bucket sees them in rounds, refills take them back") {
  Heap &h = process_heap();
  constexpr unsigned kB = 12;   // 104-byte blocks; no other test here uses this bucket
  const std::uint32_t n = kMagazineCap[kB] * (2 * kStashChains + 8);
  std::thread([&] {
    Bucket &bk = h.bucket(kB);
    std::vector<void *> v;
    for (std::uint32_t i = 0; i < n; ++i) v.push_back(front_alloc(kB));
    MagazineBucketStats mag[kBuckets];
    front_bucket_stats(mag);
    const std::uint64_t unused = mag[kB].cached;   // the last refill's blocks not handed out yet
    // Every rise of the bucket's give-back count is a whole stash: kStashChains chains at once
    // (given back one by one, as without the stash, each rise would be 1).
    std::uint64_t returns = bk.stats().batch_returns;
    unsigned rounds = 0;
    for (void *p : v) {
      front_free(p);
      const std::uint64_t now = bk.stats().batch_returns;
      if (now != returns) {
        CHECK(now - returns == kStashChains);
        ++rounds;
      }
      returns = now;
    }
    CHECK(rounds >= 1);
    // The blocks the magazine holds (its free stack and the stash) come back without the bucket.
    front_bucket_stats(mag);
    REQUIRE(mag[kB].cached > kMagazineCap[kB]);
    const std::uint64_t takes = bk.stats().batch_takes;
    std::vector<void *> again;
    for (std::uint64_t i = 0; i < mag[kB].cached; ++i) again.push_back(front_alloc(kB));
    CHECK(bk.stats().batch_takes == takes);
    std::vector<void *> freed = v, got = again;
    std::sort(freed.begin(), freed.end());
    std::sort(got.begin(), got.end());
    CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
    std::vector<void *> other;   // handed out again but not among the freed: at most `unused`
    std::set_difference(got.begin(), got.end(), freed.begin(), freed.end(), std::back_inserter(other));
    CHECK(other.size() <= unused);
    for (void *p : again) front_free(p);
  }).join();   // (the thread's exit flushes its stash: validation sees every block home or cached)
  CHECK(h.validate());
}

// carve_want (heap/front.cpp): a slot's first refills carve only a page's worth of fresh blocks,
// later ones 8 KB's worth, a whole magazine's (here 33 blocks of 248 bytes against 16 on a page).
TEST_CASE("a thread's first refills of a bucket carve one page's worth, later ones more") {
  Heap &h = process_heap();
  constexpr unsigned kB = 30;   // 248-byte blocks; no other test here uses this bucket
  const std::uint32_t page = std::uint32_t(4096 / block_size(kB));
  REQUIRE(kMagazineCap[kB] > page);
  std::thread([&] {
    // Every carve shows as a rise of the bucket's blocks out (the blocks are only allocated, so
    // the magazine never hands any back and nothing else refills from elsewhere).
    std::vector<std::uint64_t> carves;
    std::vector<void *> v;
    std::uint64_t out = h.bucket(kB).stats().blocks_out;
    while (carves.size() < kQuietRefills + 3u) {
      void *p = front_alloc(kB);
      REQUIRE(p != nullptr);
      v.push_back(p);
      const std::uint64_t now = h.bucket(kB).stats().blocks_out;
      if (now != out) carves.push_back(now - out);
      out = now;
    }
    for (std::size_t i = 0; i < kQuietRefills; ++i) CHECK(carves[i] == page);
    // (A carve also stops at its subsegment's end: the largest of the next ones is a full batch.)
    CHECK(*std::max_element(carves.begin() + kQuietRefills, carves.end()) == kMagazineCap[kB]);
    for (void *q : v) front_free(q);
    front_flush_current_thread();
  }).join();
}

TEST_CASE("a refill takes blocks waiting on another CPU's idle list before carving fresh ones, never a list in use") {
  process_heap();
  cpu_set_t all;
  REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
  int cpus[2], found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &all)) cpus[found++] = c;
  if (found < 2) {
    WARN("needs two CPUs");
    return;
  }
  auto pin = [&](int c) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    REQUIRE(os::current_cpu_fast() == std::uint32_t(c));
  };
  constexpr unsigned kB = 20;   // 168-byte blocks
  constexpr int kN = 2000;
  Heap &h = process_heap();
  pin(cpus[0]);
  std::vector<void *> v;
  for (int i = 0; i < kN; ++i) v.push_back(front_alloc(kB));   // (misses raise the list's depth)
  for (void *p : v) front_free(p);                             // full free stacks onto the list
  front_flush_current_thread();
  LookasideList &first = h.lookaside().list(std::uint32_t(cpus[0]), kB);
  const std::uint32_t waiting = first.stack.count();
  REQUIRE(waiting > 0);
  pin(cpus[1]);
  v.clear();
  // While a thread refills from the first list (its stamp kept fresh here) and the list is less
  // than half full (its depth raised here), it stays that thread's: these refills carve fresh
  // blocks instead.
  const std::uint16_t depth = first.depth;
  __atomic_store_n(&first.depth, std::uint16_t(4 * waiting), __ATOMIC_RELAXED);
  for (int i = 0; i < kN; ++i) {
    __atomic_store_n(&first.last_refill, os::coarse_ticks(), __ATOMIC_RELAXED);
    v.push_back(front_alloc(kB));
  }
  CHECK(first.stack.count() == waiting);
  __atomic_store_n(&first.depth, depth, __ATOMIC_RELAXED);
  // Idle for longer than kListInUseTicks (a millisecond or so): the blocks left there are taken
  // (those above stay allocated, so these refills find no other free blocks).
  const std::uint32_t t0 = os::coarse_ticks();
  while (os::coarse_ticks() - t0 < 2 * kListInUseTicks) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<void *> w;
  for (int i = 0; i < kN; ++i) w.push_back(front_alloc(kB));
  CHECK(first.stack.count() < waiting);                       // taken from the first CPU's list
  for (void *p : w) front_free(p);
  for (void *p : v) front_free(p);
  front_flush_current_thread();
  sched_setaffinity(0, sizeof all, &all);
}

// An empty look-aside list takes a full free stack whatever its depth (front_overflow_impl): with
// a depth below the stack's length, the list could otherwise never take one.
TEST_CASE("an empty look-aside list takes one full free stack even when its depth is smaller") {
  Heap &h = process_heap();
  constexpr unsigned kB = 14;   // 120-byte blocks; no other test here uses this bucket
  cpu_set_t all;
  REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &all)) ++cpu;
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    std::vector<void *> v;
    for (std::uint32_t i = 0; i < 4 * kMagazineCap[kB]; ++i) v.push_back(front_alloc(kB));
    LookasideList &l = h.lookaside().list(std::uint32_t(cpu), kB);
    REQUIRE(l.stack.count() == 0);
    __atomic_store_n(&l.depth, 4u, __ATOMIC_RELAXED);
    std::size_t i = 0;
    while (i < v.size() && l.stack.count() == 0) front_free(v[i++]);
    CHECK(l.stack.count() == kMagazineCap[kB]);   // one whole free stack, past the depth of 4
    while (i < v.size()) front_free(v[i++]);
    CHECK(l.stack.count() == kMagazineCap[kB]);   // the next ones did not fit
    front_flush_current_thread();
  }).join();
  CHECK(h.validate());
}

TEST_CASE("threads hand blocks to each other through magazines, lists and buckets: none lost or given twice") {
  process_heap();
  constexpr int kThreads = 4, kRounds = 300, kPerRound = 96;
  constexpr unsigned kBuckets[] = {1, 7, 20, 40};   // 16, 64, 168 and 656-byte blocks
  struct Item {
    void *p;
    std::uint64_t token;
  };
  std::mutex mu;
  std::vector<Item> exchange;   // blocks allocated by one thread, freed by another
  std::atomic<std::uint64_t> next_token{1}, mismatches{0};
  auto worker = [&](int id) {
    std::vector<Item> mine, theirs;
    for (int r = 0; r < kRounds; ++r) {
      for (int i = 0; i < kPerRound; ++i) {
        void *p = front_alloc(kBuckets[(r + i + id) % 4]);
        if (!p) std::abort();   // (Catch2's assertions are not for other threads)
        const std::uint64_t t = next_token.fetch_add(1, std::memory_order_relaxed);
        std::memcpy(p, &t, sizeof t);   // a block handed out twice at once gets two writers
        std::memcpy(static_cast<char *>(p) + 8, &t, sizeof t);
        mine.push_back({p, t});
      }
      {
        std::lock_guard<std::mutex> g(mu);
        theirs.swap(exchange);
        exchange.insert(exchange.end(), mine.begin(), mine.begin() + kPerRound / 2);
      }
      mine.erase(mine.begin(), mine.begin() + kPerRound / 2);
      for (auto *list : {&theirs, &mine}) {
        for (const Item &it : *list) {
          std::uint64_t a, b;
          std::memcpy(&a, it.p, sizeof a);
          std::memcpy(&b, static_cast<char *>(it.p) + 8, sizeof b);
          if (a != it.token || b != it.token) mismatches.fetch_add(1, std::memory_order_relaxed);
          front_free(it.p);
        }
        list->clear();
      }
      if (id == 0 && r % 50 == 0) process_heap().trim();   // drains pending chains under the others
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) ts.emplace_back(worker, i);
  for (auto &t : ts) t.join();
  for (const Item &it : exchange) front_free(it.p);
  CHECK(mismatches.load() == 0);
}

// The orphaned magazines (heap/front.cpp): a thread that exits leaves its magazine's blocks in its
// affinity slot's orphan, for the next thread that takes that slot: a thread that starts while
// orphans wait takes the slot of the one whose blocks lie nearest the block it first frees, else
// of the one that waited longest (otherwise the emptiest slot). So two threads that exit together
// each hand their magazine to their own successor. The balance tick sends an orphan nobody adopted
// for a whole tick to the buckets, trim at once.
TEST_CASE("an exiting thread's magazine goes to the thread that takes its place") {
  Heap &h = process_heap();
  constexpr unsigned kB = 45;   // 824-byte blocks; no other test here uses this bucket
  auto cached = [] {
    MagazineBucketStats mag[kBuckets];
    front_bucket_stats(mag);
    return mag[kB].cached;
  };
  // A thread that allocates 6 blocks of kB, frees them (onto its free stack) and exits.
  auto leave_blocks = [](std::vector<void *> *freed) {
    std::thread([freed] {
      std::vector<void *> v;
      for (int i = 0; i < 6; ++i) v.push_back(front_alloc(kB));
      for (void *p : v) front_free(p);
      if (freed) *freed = v;
    }).join();
  };
  front_tend_orphans(true);   // whatever an earlier test's threads left
  REQUIRE(cached() == 0);

  std::vector<void *> freed;
  leave_blocks(&freed);
  CHECK(cached() >= freed.size());   // not in the buckets: waiting for the next thread
  void *first = nullptr;
  std::uint64_t in_thread = 0;
  std::thread([&] {
    first = front_alloc(kB);    // registers, adopts, and takes the block freed last (LIFO)
    in_thread = cached();
    front_free(first);
  }).join();
  CHECK(first == freed.back());
  CHECK(in_thread + 1 >= freed.size());   // the adopted blocks, minus the one handed out

  // Two threads alive together take two slots; they exit one after the other, and the next two
  // threads to start get one magazine each, the first one's first. (With one slot — one CPU — the
  // second to exit finds the first's orphan waiting, and both go to the buckets.)
  front_tend_orphans(true);
  std::atomic<int> stage{0};
  void *last1 = nullptr, *last2 = nullptr;
  auto work = [&](void **last, int exit_at) {
    void *p = front_alloc(kB), *q = front_alloc(kB);
    front_free(p);
    front_free(q);
    *last = q;
    stage.fetch_add(1);
    while (stage.load() < exit_at) std::this_thread::yield();
  };
  std::thread t1(work, &last1, 2), t2(work, &last2, 3);
  while (stage.load() < 2) std::this_thread::yield();   // both registered and done
  t1.join();
  stage.fetch_add(1);
  t2.join();
  if (front_affinity_slots() >= 2) {
    // The successors start one after the other and both live on until both have their block (as
    // the first to end would otherwise leave its own magazine for the second, in the slot it held).
    void *got1 = nullptr, *got2 = nullptr;
    std::atomic<int> taken{0};
    auto successor = [&](void **got) {
      *got = front_alloc(kB);
      taken.fetch_add(1);
      while (taken.load() < 2) std::this_thread::yield();
      front_free(*got);
    };
    std::thread s1(successor, &got1);
    while (taken.load() < 1) std::this_thread::yield();
    std::thread s2(successor, &got2);
    s1.join();
    s2.join();
    CHECK(got1 == last1);
    CHECK(got2 == last2);
  } else {
    CHECK(cached() == 0);
  }
  front_tend_orphans(true);

  // A thread whose first call frees a block takes, of several waiting orphans, the one whose blocks
  // lie nearest that block (its predecessor's objects lie among its predecessor's free blocks) —
  // here not the one that waited longest.
  if (front_affinity_slots() >= 2) {
    constexpr unsigned kN = 47;   // 512-byte blocks; no other test here uses this bucket
    std::atomic<int> step{0};
    void *keep2 = nullptr, *last2_freed = nullptr, *kept[2] = {};
    // Each keeps two blocks: its free stack (its recorded bottom, a block of its first batch, and
    // 14 frees) then has room for the one its successor frees.
    auto owner = [&](int start_at, void **keep, void **last_freed, int exit_at) {
      while (step.load() < start_at) std::this_thread::yield();
      std::vector<void *> v;
      for (int i = 0; i < 16; ++i) v.push_back(front_alloc(kN));   // after the other's: apart
      for (int i = 0; i < 16; ++i)
        if (i != 12 && i != 13) front_free(v[std::size_t(i)]);
      kept[start_at] = v[13];
      if (keep) *keep = v[12];   // amid this thread's free blocks
      if (last_freed) *last_freed = v[15];
      step.fetch_add(1);
      while (step.load() < exit_at) std::this_thread::yield();
    };
    std::thread o1(owner, 0, nullptr, nullptr, 2), o2(owner, 1, &keep2, &last2_freed, 3);
    while (step.load() < 2) std::this_thread::yield();
    o1.join();   // o1's orphan is the older
    step.fetch_add(1);
    o2.join();
    void *again = nullptr, *next = nullptr;
    std::thread([&] {
      front_free(keep2);   // registers here: adopts o2's magazine, then pushes keep2 on its F
      again = front_alloc(kN);
      next = front_alloc(kN);
      front_free(next);
      front_free(again);
      front_free(kept[0]);
      front_free(kept[1]);
    }).join();
    CHECK(again == keep2);
    CHECK(next == last2_freed);
    front_tend_orphans(true);
  }

  // Nobody adopts: the first tick lets it wait, the second sends it to the buckets.
  leave_blocks(nullptr);
  front_tend_orphans(false);
  CHECK(cached() != 0);
  front_tend_orphans(false);
  CHECK(cached() == 0);
  // Trim (or pressure): at once.
  leave_blocks(nullptr);
  CHECK(cached() != 0);
  front_tend_orphans(true);
  CHECK(cached() == 0);
  // The tick's call takes no lock it would wait for: a busy bucket's blocks wait for the next one.
  leave_blocks(nullptr);
  h.bucket(kB).mutex().lock();
  front_tend_orphans(true, /*may_wait=*/false);
  h.bucket(kB).mutex().unlock();
  CHECK(cached() != 0);
  front_tend_orphans(true, /*may_wait=*/false);
  CHECK(cached() == 0);
  CHECK(h.validate());
}
