// The OS refuses memory: lfh's own requests to the kernel (metadata, per-CPU tables, new
// subsegments, core segments, direct blocks, private heaps, page-heap blocks) fail on a schedule,
// and every failure must be clean. Linked with lfh_internal (the test's own malloc stays glibc's),
// the program turns on os::set_failure_schedule(N) — reserve/commit fail every Nth call — for N
// from 1 upward, and runs a workload through lfh's API on each: malloc/calloc/realloc/aligned
// blocks of 1 B – 4 MB (every tier), private heaps (growable and fixed) created, used and
// destroyed, in one thread and then in several. It checks:
//   - every NULL comes with errno == ENOMEM, a failed realloc leaves the old block intact;
//   - every block's pattern (checked before each free and realloc) and calloc's zeroes;
//   - lfh_validate() after each injected failure (each time the failure count moved);
//   - after the round, with the schedule off: everything frees, lfh_validate() is clean, every
//     tier allocates again, and after lfh_trim() the commit charge is back near where it was
//     (a failure path that leaked what it had already obtained would show here).
// The schedule starts after lfh is initialised: the page map's reservation at start is fatal by
// design (nothing can work without it).
//
//   os_failures [--max-n N] [--ops K] [--threads T] [--seed S] [--max-growth-mb M] [--watchdog S]
//               [--verbose]
#include <errno.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "lfh/lfh.h"
#include "os/os.h"
#include "stress_common.h"
#include "watchdog.h"

namespace {

struct Config {
  unsigned max_n = 40;
  std::uint64_t ops = 6000;   // per round and thread
  int threads = 4;
  std::uint64_t seed = 1;
  bool verbose = false;
  std::uint64_t max_growth_mb = 16;   // committed bytes a round may leave behind (after trim)
  int watchdog_s = 0;                  // 0: scaled with the run's size
};

struct Counters {
  std::atomic<std::uint64_t> allocs{0}, nulls{0}, bad_errno{0}, corrupt{0}, not_zero{0}, misaligned{0};
  std::atomic<std::uint64_t> realloc_fail_intact{0}, validations{0}, validation_failures{0};
  std::atomic<std::uint64_t> heaps_created{0}, heap_create_failures{0}, recovery_failures{0};
};

Counters g_c;
std::mutex g_validate_lock;            // one validation at a time (they print on failure)
std::atomic<std::uint64_t> g_seen{0};  // injected failures already validated after

// After an injected failure (the count moved since the last look): the heaps must be sound.
void validate_if_failed() {
  const std::uint64_t now = lfh::os::injected_failures();
  std::uint64_t seen = g_seen.load(std::memory_order_relaxed);
  if (now == seen || !g_seen.compare_exchange_strong(seen, now)) return;
  std::lock_guard<std::mutex> g(g_validate_lock);
  g_c.validations++;
  if (!lfh_validate()) {
    if (g_c.validation_failures++ < 5) std::fprintf(stderr, "lfh_validate() failed after injected failure %llu\n", (unsigned long long)now);
  }
}

void expect_enomem(int e, const char *what, std::size_t n) {
  g_c.nulls++;
  if (e != ENOMEM && g_c.bad_errno++ < 5) std::fprintf(stderr, "%s(%zu) failed with errno %d, not ENOMEM\n", what, n, e);
}

struct Block {
  void *p = nullptr;
  std::size_t n = 0;
  std::uint64_t seed = 0;
  lfh_heap_t *heap = nullptr;   // null: process heap
};

// 1 B – 4 MB: every tier (LFH ≤ 16 KB, core heap, direct blocks).
std::size_t pick_size(stress::Rng &r) {
  std::uint64_t x = r.below(1000);
  if (x < 700) return r.between(1, 1024);
  if (x < 880) return r.between(1025, 16384);
  if (x < 970) return r.between(16385, 1 << 20);
  return r.between((1 << 20) + 1, 4 << 20);
}

class Worker {
 public:
  Worker(std::uint64_t seed) : rng_(seed), slots_(256) {}

  void run(std::uint64_t ops) {
    for (std::uint64_t i = 0; i < ops; ++i) {
      if (i % 1500 == 0) new_heap();
      Block &b = slots_[rng_.below(slots_.size())];
      if (!b.p) allocate(b);
      else if (rng_.below(100) < 30) reallocate(b);
      else release(b);
      validate_if_failed();
    }
  }

  // Free everything (the schedule may still be on: frees never need new memory).
  void finish() {
    for (Block &b : slots_)
      if (b.p) release(b);
    drop_heap();
  }

 private:
  void note(Block &b, std::size_t n, std::size_t align) {
    g_c.allocs++;
    b.n = n;
    if (align && reinterpret_cast<std::uintptr_t>(b.p) % align) g_c.misaligned++;
    b.seed = stress::seed_for(b.p, n);
    stress::fill_block(b.p, n, b.seed);
  }

  void allocate(Block &b) {
    const std::size_t n = pick_size(rng_);
    const std::uint64_t how = rng_.below(100);
    std::size_t align = 0;
    errno = 0;
    if (how < 15 && heap_) {
      b.p = lfh_heap_alloc(heap_, 0, n);
      b.heap = heap_;
      if (!b.p) return expect_enomem(errno, "lfh_heap_alloc", n);
    } else if (how < 25) {
      b.p = lfh_calloc(1, n);
      b.heap = nullptr;
      if (!b.p) return expect_enomem(errno, "lfh_calloc", n);
      if (!stress::zero_block(b.p, n)) g_c.not_zero++;
    } else if (how < 33) {
      align = std::size_t(1) << rng_.between(4, 16);   // 16 B .. 64 KB
      b.p = lfh_aligned_alloc(align, n);
      b.heap = nullptr;
      if (!b.p) return expect_enomem(errno, "lfh_aligned_alloc", n);
    } else {
      b.p = lfh_malloc(n);
      b.heap = nullptr;
      if (!b.p) return expect_enomem(errno, "lfh_malloc", n);
    }
    note(b, n, align);
  }

  void check(const Block &b) {
    if (!stress::check_block(b.p, b.n, b.seed, b.n)) g_c.corrupt++;
  }

  void release(Block &b) {
    check(b);
    if (b.heap) lfh_heap_free(b.heap, 0, b.p);
    else lfh_free(b.p);
    b.p = nullptr;
  }

  void reallocate(Block &b) {
    check(b);
    const std::size_t n = pick_size(rng_);
    errno = 0;
    void *q = b.heap ? lfh_heap_realloc(b.heap, 0, b.p, n) : lfh_realloc(b.p, n);
    if (!q) {
      expect_enomem(errno, "realloc", n);
      // The old block must be untouched and still usable.
      if (stress::check_block(b.p, b.n, b.seed, b.n)) g_c.realloc_fail_intact++;
      else g_c.corrupt++;
      return;
    }
    if (!stress::check_block(q, b.n, b.seed, std::min(n, b.n))) g_c.corrupt++;
    b.p = q;
    note(b, n, 0);
  }

  // A new private heap (the old one is destroyed with whatever blocks it still has).
  void new_heap() {
    drop_heap();
    const bool fixed = rng_.below(3) == 0;
    errno = 0;
    heap_ = lfh_heap_create(0, 0, fixed ? std::size_t(8) << 20 : 0);
    if (heap_) g_c.heaps_created++;
    else {
      g_c.heap_create_failures++;
      expect_enomem(errno, "lfh_heap_create", 0);
    }
  }

  void drop_heap() {
    if (!heap_) return;
    for (Block &b : slots_)
      if (b.p && b.heap == heap_) {
        check(b);
        b.p = nullptr;
      }
    if (!lfh_heap_destroy(heap_)) g_c.corrupt++;
    heap_ = nullptr;
  }

  stress::Rng rng_;
  std::vector<Block> slots_;
  lfh_heap_t *heap_ = nullptr;
};

// With the schedule off: one block of each tier and a private heap must work again.
void check_recovery() {
  for (std::size_t n : {8, 100, 4000, 16384, 100000, 900000, 3000000}) {
    void *p = lfh_malloc(n);
    if (!p) {
      g_c.recovery_failures++;
      std::fprintf(stderr, "recovery: malloc(%zu) failed with the schedule off\n", n);
      continue;
    }
    std::memset(p, 0x5a, n);
    lfh_free(p);
  }
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  if (!h || !lfh_heap_alloc(h, 0, 1000) || !lfh_heap_destroy(h)) {
    g_c.recovery_failures++;
    std::fprintf(stderr, "recovery: a private heap does not work with the schedule off\n");
  }
}

std::uint64_t committed_now() {
  lfh_stats_t s{};
  lfh_stats_get(&s);
  return s.committed_bytes;
}

}  // namespace

int main(int argc, char **argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--max-n") && i + 1 < argc) cfg.max_n = unsigned(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--ops") && i + 1 < argc) cfg.ops = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) cfg.threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) cfg.seed = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--max-growth-mb") && i + 1 < argc) cfg.max_growth_mb = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--watchdog") && i + 1 < argc) cfg.watchdog_s = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--verbose")) cfg.verbose = true;
  }
  // A hang (a lock left held on a failure path) fails the test: allow ~2.5 ms per operation.
  stress::start_watchdog(cfg.watchdog_s ? cfg.watchdog_s : int(300 + (cfg.max_n + 4) * cfg.ops * 2 / 800));
  const auto start = std::chrono::steady_clock::now();

  lfh_free(lfh_malloc(1));   // initialise lfh before any failure is scheduled
  lfh_trim();
  const std::uint64_t base_committed = committed_now();
  std::uint64_t worst_growth = 0;
  unsigned leaky_rounds = 0;

  // N = 1, 2, …, max_n, then a few larger periods (failures deep into long-running paths).
  std::vector<unsigned> schedule;
  for (unsigned n = 1; n <= cfg.max_n; ++n) schedule.push_back(n);
  for (unsigned n : {64u, 100u, 257u, 1000u})
    if (n > cfg.max_n) schedule.push_back(n);

  for (unsigned n : schedule) {
    const std::uint64_t before = lfh::os::injected_failures(), nulls_before = g_c.nulls;
    g_seen = before;
    lfh::os::set_failure_schedule(n);
    {   // one thread
      Worker w(cfg.seed * 7919 + n);
      w.run(cfg.ops);
      w.finish();
    }
    if (cfg.threads > 1) {   // several at once (new threads' per-thread state under failures too)
      std::vector<std::thread> ts;
      for (int t = 0; t < cfg.threads; ++t)
        ts.emplace_back([&, t] {
          Worker w(cfg.seed * 104729 + n * 131 + std::uint64_t(t));
          w.run(cfg.ops / std::uint64_t(cfg.threads));
          w.finish();
        });
      for (auto &t : ts) t.join();
    }
    lfh::os::set_failure_schedule(0);
    validate_if_failed();
    g_c.validations++;
    if (!lfh_validate()) {
      g_c.validation_failures++;
      std::fprintf(stderr, "N=%u: lfh_validate() failed at the end of the round\n", n);
    }
    check_recovery();
    lfh_trim();
    const std::uint64_t committed = committed_now();
    const std::uint64_t growth = committed > base_committed ? committed - base_committed : 0;
    worst_growth = std::max(worst_growth, growth);
    // A round leaves no live block: what stays committed is metadata and caches (and, with the
    // page heap, its free-delay FIFO): bounded, whatever the number of failures.
    if (growth > (cfg.max_growth_mb << 20)) {
      ++leaky_rounds;
      std::fprintf(stderr, "N=%u: %llu KB more committed than at start after trim\n", n, (unsigned long long)(growth >> 10));
    }
    if (cfg.verbose)
      std::printf("N=%-4u injected %6llu, NULL returns %6llu, committed +%llu KB\n", n,
                  (unsigned long long)(lfh::os::injected_failures() - before),
                  (unsigned long long)(g_c.nulls - nulls_before), (unsigned long long)(growth >> 10));
  }

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu schedules (N = 1..%u and larger), %d threads: %llu allocations, %llu injected OS failures, "
              "%llu NULL returns (%llu heap creations failed), %llu failed reallocs left intact, %llu validations "
              "in %.1f s\n",
              schedule.size(), cfg.max_n, cfg.threads, (unsigned long long)g_c.allocs.load(),
              (unsigned long long)lfh::os::injected_failures(), (unsigned long long)g_c.nulls.load(),
              (unsigned long long)g_c.heap_create_failures.load(), (unsigned long long)g_c.realloc_fail_intact.load(),
              (unsigned long long)g_c.validations.load(), secs);
  std::printf("bad errno %llu, corrupt %llu, calloc not zero %llu, misaligned %llu, validation failures %llu, "
              "recovery failures %llu, rounds leaving > %llu MB committed %u (worst +%llu KB)\n",
              (unsigned long long)g_c.bad_errno.load(), (unsigned long long)g_c.corrupt.load(),
              (unsigned long long)g_c.not_zero.load(), (unsigned long long)g_c.misaligned.load(),
              (unsigned long long)g_c.validation_failures.load(), (unsigned long long)g_c.recovery_failures.load(),
              (unsigned long long)cfg.max_growth_mb, leaky_rounds, (unsigned long long)(worst_growth >> 10));
  const bool ok = g_c.bad_errno == 0 && g_c.corrupt == 0 && g_c.not_zero == 0 && g_c.misaligned == 0 &&
                  g_c.validation_failures == 0 && g_c.recovery_failures == 0 && leaky_rounds == 0 &&
                  lfh::os::injected_failures() > 0 && g_c.nulls > 0 && g_c.allocs > 0;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
