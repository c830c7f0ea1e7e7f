// Allocation interrupted by signals: worker threads allocate, reallocate and free (patterns
// checked) while a signaller thread hits them with SIGUSR1 (pthread_kill, SA_RESTART) and an
// interval timer sends the process SIGALRM (no SA_RESTART: a futex wait inside lfh sees EINTR).
// The handlers do not allocate — they only do work on their own stack and clobber errno (then
// put it back, as a handler must). Nothing may be corrupted, no allocation may fail, and
// lfh_validate() is clean at the end.
//
//   signal_alloc [--threads T] [--ops N] [--interval-us U] [--require-lfh]
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "stress_common.h"
#include "watchdog.h"

namespace {

std::atomic<std::uint64_t> g_usr1{0}, g_alrm{0}, g_corrupt{0}, g_failed{0}, g_ops{0};
std::atomic<bool> g_stop{false};

// Work a handler may do: touch its own stack, clobber errno, compute. No allocation.
void handler(int sig) {
  const int saved = errno;
  volatile unsigned char scratch[1024];
  for (unsigned i = 0; i < sizeof scratch; i += 7) scratch[i] = static_cast<unsigned char>(i ^ unsigned(sig));
  unsigned sum = 0;
  for (unsigned i = 0; i < sizeof scratch; i += 7) sum += scratch[i];
  errno = EINTR + static_cast<int>(sum & 1);   // a handler's system calls change errno…
  (sig == SIGUSR1 ? g_usr1 : g_alrm).fetch_add(1, std::memory_order_relaxed);
  errno = saved;                               // …and a correct handler puts it back
}

struct Block {
  void *p = nullptr;
  std::size_t n = 0;
  std::uint64_t seed = 0;
};

void worker(int id, std::uint64_t ops) {
  stress::Rng rng(std::uint64_t(id) * 977 + 3);
  std::vector<Block> slots(512);
  for (std::uint64_t i = 0; i < ops; ++i) {
    Block &b = slots[rng.below(slots.size())];
    if (b.p && !stress::check_block(b.p, b.n, b.seed, b.n)) g_corrupt++;
    if (b.p && rng.below(4) == 0) {
      std::size_t n = stress::heavy_tailed_size(rng);
      void *q = std::realloc(b.p, n);
      if (!q) {
        g_failed++;
        continue;
      }
      if (!stress::check_block(q, b.n, b.seed, n < b.n ? n : b.n)) g_corrupt++;
      b = {q, n, stress::seed_for(q, n)};
      stress::fill_block(q, n, b.seed);
    } else if (b.p) {
      std::free(b.p);
      b.p = nullptr;
    } else {
      std::size_t n = stress::heavy_tailed_size(rng);
      void *p = rng.below(8) == 0 ? std::calloc(1, n) : std::malloc(n);
      if (!p) {
        g_failed++;
        continue;
      }
      b = {p, n, stress::seed_for(p, n)};
      stress::fill_block(p, n, b.seed);
    }
  }
  for (Block &b : slots)
    if (b.p) {
      if (!stress::check_block(b.p, b.n, b.seed, b.n)) g_corrupt++;
      std::free(b.p);
    }
  g_ops += ops;
}

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  int nthreads = 4, interval_us = 50;
  std::uint64_t ops = 1000000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--ops") && i + 1 < argc) ops = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--interval-us") && i + 1 < argc) interval_us = std::atoi(argv[++i]);
  }
  stress::start_watchdog(600);
  struct sigaction sa{};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_flags = 0;   // SIGALRM interrupts system calls (futex, nanosleep) with EINTR
  sigaction(SIGALRM, &sa, nullptr);

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::vector<pthread_t> handles;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back(worker, t, ops);
    handles.push_back(threads.back().native_handle());
  }
  // SIGUSR1 at each worker in turn; SIGALRM to the process every interval.
  std::thread signaller([&] {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);   // SIGALRM goes to the workers (or main)
    std::size_t k = 0;
    while (!g_stop.load(std::memory_order_acquire)) {
      pthread_kill(handles[k++ % handles.size()], SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(interval_us));
    }
  });
  itimerval it{};
  it.it_interval.tv_usec = interval_us;
  it.it_value.tv_usec = interval_us;
  setitimer(ITIMER_REAL, &it, nullptr);
  for (auto &t : threads) t.join();
  it = itimerval{};
  setitimer(ITIMER_REAL, &it, nullptr);
  g_stop.store(true, std::memory_order_release);
  signaller.join();

  const int valid = stress::validate_lfh();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d threads, %llu operations in %.1f s, interrupted by %llu SIGUSR1 and %llu SIGALRM\n", nthreads,
              (unsigned long long)g_ops.load(), secs, (unsigned long long)g_usr1.load(),
              (unsigned long long)g_alrm.load());
  std::printf("corrupt %llu, failed %llu, lfh_validate %s\n", (unsigned long long)g_corrupt.load(),
              (unsigned long long)g_failed.load(), stress::validate_text(valid));
  const bool ok = g_corrupt == 0 && g_failed == 0 && valid != 0 && g_usr1 > 100 && g_alrm > 100;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
