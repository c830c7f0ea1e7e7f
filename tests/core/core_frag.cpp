// core_frag — the fragmentation workload for the core heap and direct blocks, run under
// LD_PRELOAD: a long random mix of allocations of 16 KB – 4 MB (log-uniform, so every size
// class is exercised; above the direct threshold they are direct blocks) and frees of random live
// blocks, keeping at most <max_live_MB> live. Every page of every block is touched, so RSS is
// what the allocator really holds.
//
// Checks: peak RSS (above the program's own baseline) ≤ 1.25 × peak live bytes, and after
// everything is freed RSS falls below 10 % of its peak within 2 s (the program keeps running:
// it makes one small core-heap allocation every 20 ms while it waits, as a live program would).
//
// Usage: core_frag <operations> <max live MiB> [<largest block KiB, default 4096>]
// CI size:    core_frag 100000 256          (CTest: core:fragmentation; ~15 s on 2 cores)
// Full size:  LD_PRELOAD=build/liblfh.so build/tests/core/core_frag 1000000 1024
//             (1 M operations, ≤ 1 GB live)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace {

std::size_t rss_bytes() {
  static int fd = open("/proc/self/statm", O_RDONLY);
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long size = 0, resident = 0;
  std::sscanf(buf, "%lu %lu", &size, &resident);
  return resident * 4096ul;
}

double mib(std::size_t b) { return double(b) / (1024.0 * 1024.0); }

}  // namespace

int main(int argc, char **argv) {
  const long ops = argc > 1 ? std::atol(argv[1]) : 150000;
  const std::size_t cap = (argc > 2 ? std::size_t(std::atol(argv[2])) : 256) << 20;
  const double max_kb = argc > 3 ? std::atof(argv[3]) : 4096;   // largest block (KiB)
  std::mt19937_64 rng(20240601);
  const double lo = std::log(16384.0), hi = std::log(max_kb * 1024);
  struct Block { char *p; std::size_t n; };
  std::vector<Block> live;
  live.reserve(cap / 16384 + 1);
  const std::size_t base = rss_bytes();
  std::size_t live_bytes = 0, peak_live = 0, peak_rss = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < ops; ++i) {
    std::size_t n = std::size_t(std::exp(lo + (hi - lo) * double(rng() % 1000000) / 1e6));
    bool do_alloc = live.empty() || (rng() & 1);
    if (do_alloc && live_bytes + n > cap) do_alloc = false;
    if (do_alloc) {
      char *p = static_cast<char *>(std::malloc(n));
      if (!p) {
        std::fprintf(stderr, "core_frag: malloc(%zu) failed\n", n);
        return 1;
      }
      for (std::size_t off = 0; off < n; off += 4096) p[off] = char(i);
      p[n - 1] = char(i);
      live.push_back({p, n});
      live_bytes += n;
      if (live_bytes > peak_live) peak_live = live_bytes;
      if ((i & 15) == 0 || live_bytes + (4u << 20) > cap) {
        std::size_t r = rss_bytes();
        if (r > peak_rss) peak_rss = r;
      }
    } else {
      std::size_t k = rng() % live.size();
      std::free(live[k].p);
      live_bytes -= live[k].n;
      live[k] = live.back();
      live.pop_back();
    }
  }
  std::size_t r = rss_bytes();
  if (r > peak_rss) peak_rss = r;
  for (Block &b : live) std::free(b.p);
  live.clear();
  const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::size_t after_free = rss_bytes();
  // Wait up to 2 s for RSS to fall below 10 % of the peak, staying (mildly) active.
  auto t1 = std::chrono::steady_clock::now();
  std::size_t now_rss = after_free;
  double waited = 0;
  while (now_rss > peak_rss / 10 && waited < 2.0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::free(std::malloc(40000));
    now_rss = rss_bytes();
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  const std::size_t peak_over_base = peak_rss > base ? peak_rss - base : 0;
  const double ratio = double(peak_over_base) / double(peak_live);
  std::printf("core_frag: %ld ops in %.1f s; peak live %.1f MiB, peak RSS %.1f MiB (+%.1f MiB base), "
              "ratio %.3f; RSS after free-all %.1f MiB, after %.2f s %.1f MiB\n",
              ops, run_s, mib(peak_live), mib(peak_rss), mib(base), ratio, mib(after_free), waited, mib(now_rss));
  bool ok = true;
  if (ratio > 1.25) {
    std::printf("core_frag: FAIL peak RSS %.3f x peak live (limit 1.25)\n", ratio);
    ok = false;
  }
  if (now_rss > peak_rss / 10) {
    std::printf("core_frag: FAIL RSS %.1f MiB still above 10%% of peak 2 s after freeing everything\n", mib(now_rss));
    ok = false;
  }
  return ok ? 0 : 1;
}
