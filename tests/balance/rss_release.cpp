// balance_rss_release — RSS follows live memory back down without the program's help.
//
// Allocates TOTAL bytes (default 1 GiB) in blocks of random sizes 16 B - 64 KB, writes every byte,
// frees all of it in random order (with --cross-thread, half of it from another thread that then
// exits), and from then on makes no call into the allocator at all: it only reads
// /proc/self/statm every 20 ms. Within two ticks (2 × LFH_BALANCE_MS, plus 0.5 s of slack for a
// loaded machine) RSS must be below 5 % of its peak: lfh's balance thread gave the memory back.
//
// The balance thread starts at the first allocation slow path once the first tick is due (one
// period after lfh's initialisation; balance/balance.h). Like any program that runs for a while
// first, this one spends a period "starting up" (small allocations) before its big phase.
//
//   balance_rss_release [--cross-thread] [--total MB] [--require-lfh]
#include <pthread.h>

#include <cstdio>
#include <cstring>

#include "rss_util.h"

using namespace balance_test;

namespace {

struct Half {
  void **blocks;
  std::size_t n;
};

void *free_odd(void *arg) {
  auto *h = static_cast<Half *>(arg);
  for (std::size_t i = 1; i < h->n; i += 2) free(h->blocks[i]);
  return nullptr;   // the thread exits: its magazine goes back to the buckets
}

}  // namespace

int main(int argc, char **argv) {
  bool cross = false, require_lfh = false;
  std::size_t total_mb = 1024;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--cross-thread")) cross = true;
    else if (!strcmp(argv[i], "--require-lfh")) require_lfh = true;
    else if (!strcmp(argv[i], "--total") && i + 1 < argc) total_mb = std::size_t(atol(argv[++i]));
  }
  watchdog(120);
  lfh_stats_t st;
  const bool on_lfh = get_stats(&st);
  if (require_lfh && !on_lfh) {
    printf("FAIL: lfh is not serving malloc (run under LD_PRELOAD=liblfh.so)\n");
    return 1;
  }
  const std::uint32_t period = period_ms();
  const double period_s = period ? period / 1000.0 : 1.0;

  // "Start-up": a period of ordinary small allocations.
  void *keep[64];
  for (int i = 0; i < 64; ++i) keep[i] = malloc(std::size_t(16 + i * 8));
  sleep_s(period_s + 0.1);

  const std::size_t total = total_mb << 20;
  const std::size_t max_blocks = total / 16 + 1;   // upper bound; about total / 32 KB are used
  void **blocks = pointer_array(max_blocks);
  Rng rng(42);
  std::size_t n = 0, bytes = 0;
  const std::size_t base = rss();
  const double t0 = now_s();
  while (bytes < total && n < max_blocks) {
    std::size_t sz = 16 + rng.below(65536 - 16 + 1);
    void *p = malloc(sz);
    if (!p) {
      printf("FAIL: malloc(%zu) failed after %zu MB\n", sz, bytes >> 20);
      return 1;
    }
    memset(p, int(n & 0xff), sz);
    blocks[n++] = p;
    bytes += sz;
  }
  const std::size_t peak = rss();
  const double t1 = now_s();
  // Free in random order.
  for (std::size_t i = n; i > 1; --i) {
    std::size_t j = rng.below(i);
    void *t = blocks[i - 1];
    blocks[i - 1] = blocks[j];
    blocks[j] = t;
  }
  if (cross) {
    Half h{blocks, n};
    pthread_t th;
    pthread_create(&th, nullptr, free_odd, &h);
    for (std::size_t i = 0; i < n; i += 2) free(blocks[i]);
    pthread_join(th, nullptr);
  } else {
    for (std::size_t i = 0; i < n; ++i) free(blocks[i]);
  }
  const double t_freed = now_s();
  const std::size_t after_free = rss();
  // ---- from here on: no allocator call until the verdict ----
  const std::size_t target = peak / 20;
  const double deadline = t_freed + 2 * period_s + 0.5;
  double reached_at = -1;
  std::size_t at_1tick = 0, at_2ticks = 0, last = after_free;
  while (now_s() < deadline + 0.05) {
    sleep_s(0.02);
    last = rss();
    const double t = now_s() - t_freed;
    if (!at_1tick && t >= period_s) at_1tick = last;
    if (!at_2ticks && t >= 2 * period_s) at_2ticks = last;
    if (reached_at < 0 && last < target) reached_at = t;
    if (reached_at >= 0 && at_2ticks) break;
  }
  // ---- verdict (printing may allocate) ----
  bool ok = reached_at >= 0;
  get_stats(&st);
  // On lfh, the drop after the free must be the balance thread's doing: it runs, it ticked, and RSS
  // went down while this thread made no allocator call.
  const bool thread_did_it = !on_lfh || (st.balance_thread == 1 && st.balance_ticks > 0 && last < after_free);
  if (!thread_did_it) printf("FAIL: the balance thread did not give memory back after the free\n");
  ok = ok && thread_did_it;
  printf("%s: %zu blocks, %.0f MB in %.2f s (%s); RSS base %.1f MB, peak %.1f MB, after free %.1f MB,\n"
         "  after 1 tick %.1f MB, after 2 ticks %.1f MB, last %.1f MB; below 5%% of peak (%.1f MB) %s%.2f s after the "
         "free (deadline %.2f s)\n",
         ok ? "ok" : "FAIL", n, double(bytes) / 1048576.0, t1 - t0, cross ? "half freed by another thread" : "one thread",
         mb(base), mb(peak), mb(after_free), mb(at_1tick), mb(at_2ticks), mb(last), mb(target), ok ? "" : "NOT within ",
         ok ? reached_at : deadline - t_freed, deadline - t_freed);
  if (on_lfh)
    printf("  lfh: balance thread %u, %llu ticks, %.1f MB given back by the tick, period %u ms\n", st.balance_thread,
           (unsigned long long)st.balance_ticks, double(st.balance_trimmed_bytes) / 1048576.0, st.balance_period_ms);
  for (int i = 0; i < 64; ++i) free(keep[i]);
  return ok ? 0 : 1;
}
