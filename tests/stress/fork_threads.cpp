// fork() while other threads allocate: lfh's fork handlers must leave the child a usable heap
// (no lock held by a thread that does not exist there). Worker threads churn blocks of every tier
// while the main thread forks repeatedly; each child allocates, checks, frees and _exit(0)s. A
// child that does not finish within the watchdog time counts as a deadlock.
//
//   fork_threads [--forks N] [--threads T] [--require-lfh]
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "stress_common.h"

namespace {

std::atomic<bool> g_stop{false};

void churn(int id) {
  stress::Rng rng(std::uint64_t(id) + 7);
  std::vector<void *> live(256, nullptr);
  while (!g_stop.load(std::memory_order_relaxed)) {
    void *&slot = live[rng.below(live.size())];
    if (slot) {
      std::free(slot);
      slot = nullptr;
    } else {
      std::size_t n = rng.below(100) < 2 ? rng.between(16385, 300000) : rng.between(1, 16384);
      slot = std::malloc(n);
      if (slot) std::memset(slot, id, n < 64 ? n : 64);
    }
  }
  for (void *p : live) std::free(p);
}

// What a child does: use every tier, including a block the parent allocated before fork.
int child_work(char *inherited, std::size_t inherited_n) {
  for (std::size_t i = 0; i < inherited_n; ++i)
    if (inherited[i] != 'P') return 2;
  std::free(inherited);
  std::vector<void *> v;
  for (std::size_t n : {8, 100, 4000, 16384, 50000, 2000000}) {
    for (int k = 0; k < 20; ++k) {
      char *p = static_cast<char *>(std::malloc(n));
      if (!p) return 3;
      std::memset(p, 'C', n);
      v.push_back(p);
    }
  }
  for (void *p : v) std::free(p);
  return 0;
}

// Wait for pid at most `seconds`; SIGKILL it on timeout. Returns the status, or -1 on timeout.
int wait_with_watchdog(pid_t pid, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  int forks = 50, nthreads = 4;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--forks") && i + 1 < argc) forks = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = std::atoi(argv[++i]);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) threads.emplace_back(churn, t + 1);

  int hung = 0, bad = 0;
  for (int f = 0; f < forks; ++f) {
    const std::size_t n = 1 + std::size_t(f) * 997 % 40000;
    char *inherited = static_cast<char *>(std::malloc(n));
    std::memset(inherited, 'P', n);
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (f % 7)));   // vary the moment
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      ++bad;
      break;
    }
    if (pid == 0) _exit(child_work(inherited, n));
    std::free(inherited);
    int status = wait_with_watchdog(pid, 20);
    if (status == -1) {
      ++hung;
      std::fprintf(stderr, "fork %d: child %d hung (deadlock?)\n", f, int(pid));
    } else if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++bad;
      std::fprintf(stderr, "fork %d: child status 0x%x\n", f, status);
    }
  }
  g_stop = true;
  for (auto &t : threads) t.join();
  std::printf("%d forks under %d threads: %d hung, %d failed\n", forks, nthreads, hung, bad);
  return hung == 0 && bad == 0 ? 0 : 1;
}
