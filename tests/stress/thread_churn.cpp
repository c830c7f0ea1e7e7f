// Thousands of short-lived threads: each allocates, leaves part of its blocks in a shared pool
// for later threads to check and free, frees the rest, and exits. Blocks outlive the threads (and
// the per-thread magazines and per-CPU look-aside lists they went through); nothing may be lost
// or corrupted, and what an exiting thread had cached must come back: the resident set stays flat
// once the first --warmup threads have run (a thread's cache leaked at exit would add up).
//
//   thread_churn [--threads N] [--concurrent C] [--warmup W] [--rss-slack-kb K] [--require-lfh]
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"
#include "watchdog.h"

namespace {

struct Block {
  void *p;
  std::size_t n;
  std::uint64_t seed;
};

std::mutex g_pool_lock;
std::vector<Block> g_pool;
std::atomic<std::uint64_t> g_corrupt{0}, g_failed{0}, g_freed_by_others{0};

void check_and_free(const Block &b) {
  if (!stress::check_block(b.p, b.n, b.seed, b.n)) g_corrupt++;
  std::free(b.p);
}

void short_life(int id) {
  stress::Rng rng(std::uint64_t(id) * 31 + 5);
  Block mine[48];
  int count = 0;
  for (Block &b : mine) {
    b.n = rng.below(50) == 0 ? rng.between(16385, 200000) : rng.between(1, 4096);
    b.p = std::malloc(b.n);
    if (!b.p) {
      g_failed++;
      continue;
    }
    b.seed = stress::seed_for(b.p, b.n);
    stress::fill_block(b.p, b.n, b.seed);
    ++count;
  }
  // Take some blocks other (mostly finished) threads left behind, leave some of ours.
  std::vector<Block> taken;
  taken.reserve(16);
  {
    std::lock_guard<std::mutex> g(g_pool_lock);
    for (int k = 0; k < 16 && !g_pool.empty(); ++k) {
      taken.push_back(g_pool.back());
      g_pool.pop_back();
    }
    for (int k = 0; k < count; k += 3)
      if (mine[k].p) {
        g_pool.push_back(mine[k]);
        mine[k].p = nullptr;
      }
  }
  for (const Block &b : taken) check_and_free(b);
  g_freed_by_others += taken.size();
  for (const Block &b : mine)
    if (b.p) check_and_free(b);
}

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  int total = 10000, concurrent = 8, warmup = 1000;
  std::uint64_t slack_kb = 4096;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) total = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--concurrent") && i + 1 < argc) concurrent = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--rss-slack-kb") && i + 1 < argc) slack_kb = std::strtoull(argv[++i], nullptr, 0);
  }
  stress::start_watchdog(300 + total / 100);
  g_pool.reserve(4096);   // the pool's own growth is not the allocator's
  std::uint64_t rss_warm = 0, rss_max = 0, rss_last = 0;
  int started = 0;
  while (started < total) {
    std::vector<std::thread> wave;
    for (int k = 0; k < concurrent && started < total; ++k) wave.emplace_back(short_life, started++);
    for (auto &t : wave) t.join();
    if (started >= warmup && (started % 250 < concurrent || started == total)) {
      rss_last = stress::rss_bytes();
      if (!rss_warm) rss_warm = rss_last;
      if (rss_last > rss_max) rss_max = rss_last;
    }
  }
  const std::size_t left = g_pool.size();
  for (const Block &b : g_pool) check_and_free(b);
  const int valid = stress::validate_lfh();
  const bool flat = rss_warm && rss_max <= rss_warm + (slack_kb << 10);
  std::printf("%d threads (%d at a time): %llu blocks freed by a later thread, %zu by main; corrupt %llu, failed %llu, "
              "lfh_validate %s\n",
              total, concurrent, (unsigned long long)g_freed_by_others.load(), left,
              (unsigned long long)g_corrupt.load(), (unsigned long long)g_failed.load(), stress::validate_text(valid));
  std::printf("RSS after %d threads %llu KB, highest after that %llu KB, at the end %llu KB (allowed +%llu KB): %s\n",
              warmup, (unsigned long long)(rss_warm >> 10), (unsigned long long)(rss_max >> 10),
              (unsigned long long)(rss_last >> 10), (unsigned long long)slack_kb, flat ? "flat" : "GROWING");
  const bool ok = valid != 0 && g_corrupt == 0 && g_failed == 0 && g_freed_by_others > 0 && flat;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
