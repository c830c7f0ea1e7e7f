// Producer/consumer: one thread allocates every block, another frees it — the worst case for
// per-thread and per-CPU caches (every block is freed into a cache its allocating thread never
// reads). The blocks travel through a bounded queue; the consumer pauses now and then, so the
// queue (the live set) swings between empty and full. Memory must stay bounded by what is live:
// the growth of the peak resident set over the start must stay within 2× the peak live bytes.
// Every block's pattern is checked before it is freed.
//
//   producer_consumer [--blocks N] [--queue Q] [--ratio R] [--seed S] [--require-lfh]
//   --long: a soak run (200 M blocks unless --blocks says otherwise).
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "stress_common.h"
#include "watchdog.h"

namespace {

struct Item {
  void *p;
  std::size_t n;
  std::uint64_t seed;
};

struct Config {
  std::uint64_t blocks = 10000000;
  std::size_t queue = 65536;
  double ratio = 2.0;
  std::uint64_t seed = 1;
};

// Single producer, single consumer ring.
class Ring {
 public:
  explicit Ring(std::size_t cap) : items_(cap) {}
  bool push(const Item &it) {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_.load(std::memory_order_acquire) == items_.size()) return false;
    items_[t % items_.size()] = it;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  bool pop(Item *it) {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) return false;
    *it = items_[h % items_.size()];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  std::vector<Item> items_;
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
};

// Mostly small blocks (the cached tiers), a few large ones.
std::size_t pick_size(stress::Rng &r) {
  std::uint64_t x = r.below(1000);
  if (x < 600) return r.between(1, 256);
  if (x < 900) return r.between(257, 2048);
  if (x < 995) return r.between(2049, 16384);
  return r.between(16385, 1 << 20);
}

std::atomic<std::uint64_t> g_live{0}, g_corrupt{0}, g_failed{0};
std::atomic<bool> g_done{false};

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  Config cfg;
  bool given = false, soak = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--blocks") && i + 1 < argc) cfg.blocks = std::strtoull(argv[++i], nullptr, 0), given = true;
    else if (!std::strcmp(argv[i], "--queue") && i + 1 < argc) cfg.queue = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--ratio") && i + 1 < argc) cfg.ratio = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) cfg.seed = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--long")) soak = true;
  }
  if (soak && !given) cfg.blocks = 200000000;
  stress::start_watchdog(soak ? 0 : 600);

  Ring ring(cfg.queue);
  const std::uint64_t rss_start = stress::rss_bytes();
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t peak_live = 0;

  std::thread consumer([&] {
    stress::Rng rng(cfg.seed + 99);
    std::uint64_t freed = 0;
    for (;;) {
      Item it;
      if (!ring.pop(&it)) {
        if (!g_done.load(std::memory_order_acquire)) {
          std::this_thread::yield();
          continue;
        }
        if (!ring.pop(&it)) break;   // done, and the queue is empty
      }
      if (!stress::check_block(it.p, it.n, it.seed, it.n)) g_corrupt++;
      std::free(it.p);
      g_live.fetch_sub(it.n, std::memory_order_relaxed);
      // Now and then stop for a moment: the queue fills up (the live set peaks).
      if (++freed % 200000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng.between(1, 30)));
    }
  });

  stress::Rng rng(cfg.seed);
  for (std::uint64_t i = 0; i < cfg.blocks; ++i) {
    Item it;
    it.n = pick_size(rng);
    it.p = std::malloc(it.n);
    if (!it.p) {
      g_failed++;
      continue;
    }
    it.seed = stress::seed_for(it.p, it.n);
    stress::fill_block(it.p, it.n, it.seed);
    const std::uint64_t live = g_live.fetch_add(it.n, std::memory_order_relaxed) + it.n;
    if (live > peak_live) peak_live = live;
    while (!ring.push(it)) std::this_thread::yield();
  }
  g_done.store(true, std::memory_order_release);
  consumer.join();

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t rss_peak = stress::peak_rss_bytes(), rss_end = stress::rss_bytes();
  const std::uint64_t growth = rss_peak > rss_start ? rss_peak - rss_start : 0;
  const double ratio = peak_live ? double(growth) / double(peak_live) : 0;
  const bool bounded = ratio <= cfg.ratio;
  std::printf("%llu blocks from one thread freed by another in %.1f s (queue of %zu)\n",
              (unsigned long long)cfg.blocks, secs, cfg.queue);
  std::printf("peak live %llu KB; RSS at start %llu KB, peak %llu KB, end %llu KB: peak growth = %.2f x peak live "
              "(allowed %.2f): %s\n",
              (unsigned long long)(peak_live >> 10), (unsigned long long)(rss_start >> 10),
              (unsigned long long)(rss_peak >> 10), (unsigned long long)(rss_end >> 10), ratio, cfg.ratio,
              bounded ? "bounded" : "UNBOUNDED");
  const int valid = stress::validate_lfh();
  std::printf("corrupt %llu, failed %llu, live at end %llu, lfh_validate %s\n", (unsigned long long)g_corrupt.load(),
              (unsigned long long)g_failed.load(), (unsigned long long)g_live.load(), stress::validate_text(valid));
  const bool ok = valid != 0 && g_corrupt == 0 && g_failed == 0 && g_live == 0 && bounded && peak_live > 0;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
