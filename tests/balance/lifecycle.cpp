// balance_lifecycle — the balance thread's life: started lazily, re-created in a fork child, never
// keeping the process alive, harmless at exit; the no-thread mode; off.
//
//   balance_lifecycle fork          the thread runs in the parent; a fork child has none until its
//                                   own first slow path after a period, then its own
//   balance_lifecycle main-exit     main calls pthread_exit: once the last other thread ends, the
//                                   process ends too (the balance thread does not keep it alive)
//   balance_lifecycle exit-mid-tick 30 children exit while ticks run (LFH_BALANCE_MS=20): no crash
//   balance_lifecycle short         a program that lives less than a period starts no thread
//   balance_lifecycle inline        LFH_BALANCE_THREAD=0: no thread; ticks run from allocations
//   balance_lifecycle off           LFH_BALANCE_MS=0: no thread, no tick
//   balance_lifecycle huge          LFH_LARGE_PAGES=1: a hot LFH tier gets transparent huge pages;
//                                   after the free, RSS still comes down (huge pages split and
//                                   returned, their chunks advised no-huge); skipped (77) without THP
//   balance_lifecycle sleeper       a thread frees 64 MB of small blocks in random order, then
//                                   sleeps: the ticks drain its stash (front_drain_stash), so RSS
//                                   still comes down
// Exit status 0 on success; each failure prints a FAIL line.
#include <pthread.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>

#include "rss_util.h"

using namespace balance_test;

namespace {

int g_failures = 0;

void expect(bool ok, const char *what) {
  if (!ok) {
    printf("FAIL: %s\n", what);
    ++g_failures;
  }
}

lfh_stats_t stats() {
  lfh_stats_t s{};
  get_stats(&s);
  return s;
}

// Some allocation slow paths (large blocks always take one).
void slow_paths(int n = 20) {
  for (int i = 0; i < n; ++i) {
    void *p = malloc(100000 + std::size_t(i) * 4096);
    memset(p, 1, 4096);
    free(p);
  }
}

double period_s() { return period_ms() / 1000.0; }

// RSS once it is below `goal`, or after six balance periods. A few ticks bring it down (the one
// that asks the sleeping thread's magazine, the one that drains it, the one that purges spans
// that stayed free a whole tick); a loaded machine may run them late.
std::size_t rss_after_ticks(std::size_t goal) {
  std::size_t now = rss();
  for (double waited = 0; now >= goal && waited < 6 * period_s(); waited += 0.1) {
    sleep_s(0.1);
    now = rss();
  }
  return now;
}

// Wait (up to `max_s`) for the balance thread to run.
bool wait_thread_running(double max_s) {
  const double end = now_s() + max_s;
  while (now_s() < end) {
    slow_paths(4);
    if (stats().balance_thread == 1 && threads() >= 2) return true;
    sleep_s(0.02);
  }
  return false;
}

int run_fork() {
  slow_paths();
  sleep_s(period_s() + 0.1);
  expect(wait_thread_running(2 * period_s() + 1), "the balance thread starts once the first tick is due");
  expect(threads() == 2, "the parent has its balance thread");
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int fails = 0;
    if (threads() != 1) printf("FAIL: a fork child starts without the balance thread\n"), ++fails;
    if (stats().balance_thread != 0) printf("FAIL: the child does not believe a thread runs\n"), ++fails;
    slow_paths();   // not due yet in the child (a period after the fork): still no thread
    if (threads() != 1) printf("FAIL: the child's thread waits a period\n"), ++fails;
    const std::uint64_t ticks0 = stats().balance_ticks;
    sleep_s(period_s() + 0.1);
    if (!wait_thread_running(2 * period_s() + 1)) printf("FAIL: the child re-creates its balance thread\n"), ++fails;
    sleep_s(period_s() + 0.2);
    if (stats().balance_ticks <= ticks0) printf("FAIL: the child's thread ticks\n"), ++fails;
    fflush(stdout);
    _exit(fails ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fork child's checks pass");
  const std::uint64_t t0 = stats().balance_ticks;
  sleep_s(period_s() + 0.3);
  expect(stats().balance_ticks > t0, "the parent's thread keeps ticking after the fork");
  expect(threads() == 2, "the parent still has exactly one balance thread");
  return g_failures;
}

void *worker(void *) {
  sleep_s(0.3);
  slow_paths(4);
  return nullptr;
}

int run_main_exit() {
  // In a child, so this process can time how long it takes to end.
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    slow_paths();
    sleep_s(period_s() + 0.1);
    if (!wait_thread_running(2 * period_s() + 1)) _exit(3);
    pthread_t t;
    pthread_create(&t, nullptr, worker, nullptr);
    pthread_exit(nullptr);   // the process must end when `worker` does
  }
  const double start = now_s();
  int status = 0;
  pid_t done = 0;
  const double limit = 0.3 + period_s() * 3 + 2.0 + 2 * period_s() + 1.5;   // start-up + worker + one check
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - start < limit) sleep_s(0.01);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    expect(false, "the process ended after main's pthread_exit and its last thread");
    return g_failures;
  }
  expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the process exits with status 0 (glibc's exit(0) by the last thread)");
  printf("main-exit: the process ended %.2f s after it started\n", now_s() - start);
  return g_failures;
}

int run_exit_mid_tick() {
  Rng rng(3);
  int bad = 0;
  for (int c = 0; c < 30; ++c) {
    const double wait = double(rng.below(1000)) / 1000.0 * 4 * period_s() + period_s();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      // Children are fork children: their own thread starts a period after the fork.
      void *v[2000];
      const double end = now_s() + wait;
      while (now_s() < end) {
        for (int i = 0; i < 2000; ++i) v[i] = malloc(std::size_t(16 + (i * 37) % 20000));
        for (int i = 0; i < 2000; ++i) free(v[i]);
      }
      exit(0);   // atexit handlers, destructors: while the tick may be running
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      printf("FAIL: child %d ended with status 0x%x\n", c, status);
      ++bad;
    }
  }
  expect(bad == 0, "every child exits cleanly while ticks run");
  return g_failures;
}

int run_short() {
  const double end = now_s() + 0.2 * period_s();
  while (now_s() < end) slow_paths(50);
  expect(threads() == 1, "a program that lives less than a period has no balance thread");
  expect(stats().balance_thread == 0, "… and lfh agrees");
  return g_failures;
}

int run_inline() {
  const double p = period_s();
  slow_paths();
  // 256 MB of small and large blocks, freed; then only occasional allocations.
  const std::size_t n = 8192;
  void **v = pointer_array(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t sz = 16 + (i * 7919) % 65536;
    v[i] = malloc(sz);
    memset(v[i], 1, sz);
  }
  const std::size_t peak = rss();
  for (std::size_t i = 0; i < n; ++i) free(v[i]);
  const double end = now_s() + 3 * p + 0.5;
  while (now_s() < end) {
    slow_paths(2);
    sleep_s(0.05);
  }
  const std::size_t after = rss();
  const lfh_stats_t s = stats();
  expect(threads() == 1, "LFH_BALANCE_THREAD=0 starts no thread");
  expect(s.balance_thread == 0, "… and lfh agrees");
  expect(s.balance_ticks >= 2, "ticks run from the allocation paths");
  expect(after < peak / 10, "RSS comes down with ticks from the allocation paths");
  printf("inline: %llu ticks, RSS peak %.1f MB, after %.1f MB\n", (unsigned long long)s.balance_ticks, mb(peak), mb(after));
  return g_failures;
}

int run_off() {
  slow_paths();
  sleep_s(1.2);
  slow_paths();
  sleep_s(0.1);
  expect(threads() == 1, "LFH_BALANCE_MS=0 starts no thread");
  expect(stats().balance_ticks == 0, "… and runs no tick");
  expect(stats().balance_period_ms == 0, "… and says it is off");
  return g_failures;
}

// Sums of smaps fields over every mapping, and whether some mapping has a VmFlags entry.
struct Smaps {
  std::size_t anon_huge_kb = 0;
  bool hg = false, nh = false;
};
Smaps smaps() {
  Smaps r;
  static char buf[1 << 22];   // (static: no allocator call)
  if (read_proc("/proc/self/smaps", buf, sizeof buf) <= 0) return r;
  for (char *line = buf; *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    if (!strncmp(line, "AnonHugePages:", 14)) r.anon_huge_kb += std::size_t(atol(line + 14));
    if (!strncmp(line, "VmFlags:", 8)) {
      if (strstr(line, " hg")) r.hg = true;
      if (strstr(line, " nh")) r.nh = true;
    }
    if (!end) break;
    line = end + 1;
  }
  return r;
}

// 64 MB of 64 B blocks (far past the first 4 MB region), each written; the pointer array is the
// test's own mapping.
constexpr std::size_t kScatterBlocks = 1'000'000;
void **fill_64_byte_blocks(std::size_t n) {
  void **v = pointer_array(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = malloc(64);
    memset(v[i], 1, 64);
  }
  return v;
}

// Free every block of v in a shuffled order (free stacks that mix subsegments), then unmap v.
void free_in_random_order(void **v, std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  for (std::size_t i = n; i > 1; --i) {
    std::size_t j = rng.below(i);
    void *t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
  for (std::size_t i = 0; i < n; ++i) free(v[i]);
  munmap(v, n * sizeof(void *));   // (the test's own 8 MB of pointers)
}

int run_huge() {
  char mode[128] = {};
  if (read_proc("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof mode) <= 0 || strstr(mode, "[never]")) {
    printf("SKIP: transparent huge pages are off here\n");
    return 77;
  }
  slow_paths();
  sleep_s(period_s() + 0.1);
  const std::size_t n = kScatterBlocks;
  void **v = fill_64_byte_blocks(n);
  const std::size_t peak = rss();
  Smaps at_peak = smaps();
  expect(at_peak.hg, "the hot LFH tier's later regions are advised MADV_HUGEPAGE");
  free_in_random_order(v, n, 9);
  const std::size_t after = rss_after_ticks(peak / 10);
  Smaps later = smaps();
  expect(after < peak / 10, "RSS comes down with huge pages on (split and returned)");
  expect(later.nh, "purged chunks are advised MADV_NOHUGEPAGE (khugepaged must not refill them)");
  expect(later.anon_huge_kb * 1024 < peak / 10, "no huge page keeps freed memory resident");
  printf("huge: RSS peak %.1f MB (%.1f MB in huge pages), after %.1f MB (%.1f MB in huge pages)\n", mb(peak),
         double(at_peak.anon_huge_kb) / 1024.0, mb(after), double(later.anon_huge_kb) / 1024.0);
  return g_failures;
}

}  // namespace

// The thread that freed everything runs no slow path afterwards: the blocks its magazine's stash
// kept back pin their subsegments unless the tick drains it (64 KB of blocks scattered over 64 MB:
// 6 MB more resident without the drain).
int run_sleeper() {
  slow_paths();
  sleep_s(period_s() + 0.1);
  const std::size_t n = kScatterBlocks;
  void **v = fill_64_byte_blocks(n);
  const std::size_t peak = rss();
  free_in_random_order(v, n, 11);
  const std::size_t after = rss_after_ticks(peak / 10);
  expect(after < peak / 10, "RSS comes down while the thread that freed sleeps");
  printf("sleeper: RSS peak %.1f MB, after %.1f MB\n", mb(peak), mb(after));
  return g_failures;
}

int main(int argc, char **argv) {
  watchdog(60);
  lfh_stats_t s;
  if (!get_stats(&s)) {
    printf("FAIL: lfh is not serving malloc (run under LD_PRELOAD=liblfh.so)\n");
    return 1;
  }
  const char *mode = argc > 1 ? argv[1] : "";
  int fails = 0;
  if (!strcmp(mode, "fork")) fails = run_fork();
  else if (!strcmp(mode, "main-exit")) fails = run_main_exit();
  else if (!strcmp(mode, "exit-mid-tick")) fails = run_exit_mid_tick();
  else if (!strcmp(mode, "short")) fails = run_short();
  else if (!strcmp(mode, "inline")) fails = run_inline();
  else if (!strcmp(mode, "off")) fails = run_off();
  else if (!strcmp(mode, "sleeper")) fails = run_sleeper();
  else if (!strcmp(mode, "huge")) {
    fails = run_huge();
    if (fails == 77) return 77;
  }
  else {
    printf("usage: balance_lifecycle fork|main-exit|exit-mid-tick|short|inline|off|huge|sleeper\n");
    return 2;
  }
  if (!fails) printf("ok: %s\n", mode);
  return fails ? 1 : 0;
}
