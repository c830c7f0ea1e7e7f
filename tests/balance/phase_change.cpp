// balance_phase_change — a program whose working set changes shape does not carry the old shape's
// memory into the new phase.
//
// Phase 1 holds 1 M live blocks, mostly 64 B (9 in 10; the rest 16-256 B), then frees them all
// (in random order). Phase 2 then builds up, over a few ticks as a real phase does (40 steps of
// 0.1 s), a working set of about 100 MB of mostly 4 KB blocks (9 in 10; the rest 1-8 KB) with some
// churn. The peak RSS during phase 2 must stay within 1.1 × the peak of phase 2 alone in a fresh
// process (the same program run with --phase2-only, started by this one; same allocator).
//
// What lfh must do: phase 1's blocks that wait in look-aside lists and thread magazines keep their
// (otherwise empty) subsegments, tens of MB of them; no 4 KB block can use those pages. The
// balance tick gives them back once the lists and magazine slots stayed idle for a tick, i.e.
// within two ticks of the phase change.
//
//   balance_phase_change [--phase2-only] [--require-lfh]
#include <sys/wait.h>

#include <cstdio>
#include <cstring>

#include "rss_util.h"

using namespace balance_test;

namespace {

double g_t0 = now_s();
constexpr std::size_t kPhase1Blocks = 1'000'000;
constexpr std::size_t kPhase2Blocks = 24'000;        // ≈ 100 MB of mostly 4 KB blocks
constexpr int kPhase2Steps = 40;                      // built up over ~4 s: a few ticks

std::size_t phase2(Rng &rng) {
  void **live = pointer_array(kPhase2Blocks);
  std::size_t peak = rss();
  std::size_t n = 0;
  for (int step = 0; step < kPhase2Steps; ++step) {
    for (std::size_t i = 0; i < kPhase2Blocks / kPhase2Steps; ++i) {
      std::size_t sz = rng.below(10) ? 4096 : 1024 + rng.below(7 * 1024);
      void *p = malloc(sz);
      memset(p, 1, sz);
      live[n++] = p;
      // Churn: now and then replace an older block.
      if (n > 16 && rng.below(8) == 0) {
        std::size_t j = rng.below(n - 1);
        free(live[j]);
        std::size_t sz2 = rng.below(10) ? 4096 : 1024 + rng.below(7 * 1024);
        live[j] = malloc(sz2);
        memset(live[j], 2, sz2);
      }
      if (i % 256 == 0) {
        std::size_t r = rss();
        if (r > peak) peak = r;
      }
    }
    std::size_t r = rss();
    if (r > peak) peak = r;
    if (getenv("PHASE_TRACE")) {
      lfh_stats_t t;
      get_stats(&t);
      fprintf(stderr, "%.2f step %d rss %.1f MB subsegs %llu committed %.1f MB out %llu ticks %llu\n", now_s() - g_t0, step,
              mb(r), (unsigned long long)t.lfh_subsegments, mb(t.committed_bytes), (unsigned long long)t.lfh_blocks_out,
              (unsigned long long)t.balance_ticks);
    }
    sleep_s(0.1);
  }
  for (std::size_t i = 0; i < n; ++i) free(live[i]);
  return peak;
}

}  // namespace

int main(int argc, char **argv) {
  bool only2 = false, require_lfh = false;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--phase2-only")) only2 = true;
    else if (!strcmp(argv[i], "--require-lfh")) require_lfh = true;
  }
  watchdog(120);
  lfh_stats_t st;
  if (require_lfh && !get_stats(&st)) {
    printf("FAIL: lfh is not serving malloc (run under LD_PRELOAD=liblfh.so)\n");
    return 1;
  }
  Rng rng(7);
  if (only2) {
    std::size_t peak = phase2(rng);
    printf("%zu\n", peak);
    return 0;
  }

  // Phase 1.
  void **blocks = pointer_array(kPhase1Blocks);
  const std::size_t base = rss();
  for (std::size_t i = 0; i < kPhase1Blocks; ++i) {
    std::size_t sz = rng.below(10) ? 64 : 16 + rng.below(241);
    blocks[i] = malloc(sz);
    memset(blocks[i], 3, sz);
  }
  const std::size_t peak1 = rss();
  for (std::size_t i = kPhase1Blocks; i > 1; --i) {
    std::size_t j = rng.below(i);
    void *t = blocks[i - 1];
    blocks[i - 1] = blocks[j];
    blocks[j] = t;
  }
  for (std::size_t i = 0; i < kPhase1Blocks; ++i) free(blocks[i]);
  munmap(blocks, kPhase1Blocks * sizeof(void *));   // (the test's own bookkeeping)
  const std::size_t after1 = rss();
  if (getenv("PHASE_TRACE")) fprintf(stderr, "%.2f phase 1 done\n", now_s() - g_t0);
  Rng rng2(7);
  const std::size_t peak2 = phase2(rng2);

  // The same phase 2 in a fresh process.
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execl("/proc/self/exe", argv[0], "--phase2-only", static_cast<char *>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[64] = {};
  long got = 0;
  for (long r; (r = read(fds[0], buf + got, sizeof buf - 1 - std::size_t(got))) > 0;) got += r;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::size_t fresh = std::size_t(strtoull(buf, nullptr, 10));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || fresh == 0) {
    printf("FAIL: the fresh phase-2 run failed\n");
    return 1;
  }
  const bool ok = double(peak2) <= 1.1 * double(fresh);
  printf("%s: phase 1 peak %.1f MB (base %.1f MB), after its free %.1f MB; phase 2 peak %.1f MB vs %.1f MB in a "
         "fresh process (ratio %.3f, limit 1.1)\n",
         ok ? "ok" : "FAIL", mb(peak1), mb(base), mb(after1), mb(peak2), mb(fresh), double(peak2) / double(fresh));
  return ok ? 0 : 1;
}
