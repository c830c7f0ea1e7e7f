// lfh_validate() while other threads allocate: a validation takes every lock of a heap, so it must
// never see a heap half-way through an operation — a direct block resized in place (its size and
// the heap's commit accounting), moved to a bigger reservation with mremap (its page-map entries
// and its base), blocks of every tier and private heaps created and destroyed. Workers run the
// mixed workload; the main thread validates in a loop; any failure fails the test. Linked with
// lfh_internal (the test's own malloc stays glibc's).
//
//   validate_concurrent [--threads T] [--validations N] [--min-ops M] [--seed S]
// Runs until N validations are done and the workers have made at least M operations.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "lfh/lfh.h"
#include "stress_common.h"
#include "watchdog.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_ops{0}, g_corrupt{0};

struct Block {
  void *p = nullptr;
  std::size_t n = 0;
  std::uint64_t seed = 0;
};

void worker(int id, std::uint64_t seed) {
  stress::Rng rng(seed * 7777 + std::uint64_t(id));
  std::vector<Block> slots(64);
  lfh_heap_t *heap = lfh_heap_create(0, 0, 0);
  std::uint64_t ops = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    Block &b = slots[rng.below(slots.size())];
    const std::uint64_t r = rng.below(100);
    if (b.p && !stress::check_block(b.p, b.n, b.seed, b.n)) g_corrupt++;
    if (!b.p) {
      // A third direct blocks (1–3 MB), which the reallocations below grow in place and move.
      b.n = r < 35 ? rng.between(1 << 20, 3 << 20) : r < 60 ? rng.between(16385, 1 << 20) : rng.between(1, 16384);
      b.p = (r & 1) ? lfh_heap_alloc(heap, 0, b.n) : lfh_malloc(b.n);
      if (b.p) stress::fill_block(b.p, b.n, b.seed = stress::seed_for(b.p, b.n));
    } else if (r < 50) {
      // Grow by up to 2x (in place within the headroom, else a move), or shrink.
      const std::size_t n = r < 40 ? b.n + rng.below(b.n + 1) : 1 + rng.below(b.n);
      void *q = lfh_realloc(b.p, n);
      if (q) {
        if (!stress::check_block(q, b.n, b.seed, n < b.n ? n : b.n)) g_corrupt++;
        b.p = q;
        b.n = n;
        stress::fill_block(q, n, b.seed = stress::seed_for(q, n));
      }
    } else {
      lfh_free(b.p);
      b.p = nullptr;
    }
    if (++ops % 256 == 0) g_ops.fetch_add(256, std::memory_order_relaxed);
    if (ops % 4096 == 0) {   // a new private heap now and then (its blocks go with the old one)
      for (Block &s : slots)
        if (s.p && lfh_heap_of(s.p) == heap) s.p = nullptr;
      lfh_heap_destroy(heap);
      heap = lfh_heap_create(0, 0, 0);
    }
  }
  for (Block &s : slots)
    if (s.p) lfh_free(s.p);
  lfh_heap_destroy(heap);
  g_ops.fetch_add(ops % 256, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 3, validations = 3000;
  std::uint64_t min_ops = 300000;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--validations") && i + 1 < argc) validations = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--min-ops") && i + 1 < argc) min_ops = std::strtoull(argv[++i], nullptr, 0);
  }
  stress::start_watchdog(300 + validations / 10);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t, seed);
  int failures = 0, done = 0;
  for (; (done < validations || g_ops.load(std::memory_order_relaxed) < min_ops) && failures < 5; ++done)
    if (!lfh_validate()) ++failures;
  g_stop = true;
  for (auto &t : ts) t.join();
  if (!lfh_validate()) ++failures;
  std::printf("%d validations while %d threads ran %llu operations: %d failed; corrupt blocks %llu\n", done, threads,
              (unsigned long long)g_ops.load(), failures, (unsigned long long)g_corrupt.load());
  const bool ok = failures == 0 && g_corrupt == 0 && g_ops > 0;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
