// fork() while other threads allocate: lfh's fork handlers must leave the child a usable heap
// (no lock held by a thread that does not exist there). Worker threads churn blocks of every tier
// (and free each other's) while the main thread forks repeatedly; each child checks a block the
// parent made before fork, allocates, checks and frees blocks of every tier, validates the heap
// (lfh_validate) and _exit(0)s.
// A child must finish its work within --child-limit-ms (default 1000) of CPU time (user + system,
// from wait4: a child that spins on a lock, or whose heap is in a state that makes every call
// slow, fails); one that is still running after --hang-s seconds (default 20) counts as a
// deadlock and is killed. Wall-clock times from fork to exit are reported (mean and worst) but
// not judged: on a loaded 2-core CI machine a child may wait for a CPU longer than its limit.
// No child is left behind: every one is waited for.
//
// The workers run at the lowest priority (nice 19), so that on a machine with few cores the children
// (which inherit the main thread's priority) are not starved for CPU by them; they still run
// whenever a core is free, so forks land in the middle of their allocations.
//
//   fork_threads [--forks N] [--threads T] [--child-limit-ms M] [--hang-s S] [--require-lfh]
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"
#include "watchdog.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_worker_ops{0}, g_worker_corrupt{0};

// Blocks one worker hands to the next to free (cross-thread frees around the fork too).
struct Exchange {
  std::mutex lock;
  std::vector<std::pair<void *, std::size_t>> blocks;
};
std::vector<Exchange> g_exchange;

bool check_byte(const void *p, std::size_t n, unsigned char v) {
  auto *b = static_cast<const unsigned char *>(p);
  return b[0] == v && b[n - 1] == v && b[n / 2] == v;
}

void churn(int id, int nthreads) {
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  stress::Rng rng(std::uint64_t(id) + 7);
  std::vector<std::pair<void *, std::size_t>> live(256, {nullptr, 0});
  const unsigned char v = static_cast<unsigned char>(id);
  std::uint64_t ops = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    auto &slot = live[rng.below(live.size())];
    if (slot.first) {
      if (!check_byte(slot.first, slot.second, v)) g_worker_corrupt++;
      if (rng.below(8) == 0) {   // hand it to the next worker
        Exchange &x = g_exchange[std::size_t((id + 1) % nthreads)];
        std::lock_guard<std::mutex> g(x.lock);
        x.blocks.push_back(slot);
      } else {
        std::free(slot.first);
      }
      slot.first = nullptr;
    } else {
      std::uint64_t r = rng.below(1000);
      std::size_t n = r < 980 ? rng.between(1, 16384) : r < 998 ? rng.between(16385, 300000) : rng.between(1 << 20, 3 << 20);
      void *p = std::malloc(n);
      if (p) {
        std::memset(p, v, n < 64 ? n : 64);
        static_cast<unsigned char *>(p)[n / 2] = v;
        static_cast<unsigned char *>(p)[n - 1] = v;
        slot = {p, n};
      }
    }
    if ((++ops & 63) == 0) {
      Exchange &mine = g_exchange[std::size_t(id)];
      std::vector<std::pair<void *, std::size_t>> got;
      {
        std::lock_guard<std::mutex> g(mine.lock);
        got.swap(mine.blocks);
      }
      for (auto &b : got) std::free(b.first);
    }
  }
  for (auto &s : live) std::free(s.first);
  g_worker_ops += ops;
}

// What a child does: use every tier, including a block the parent allocated before fork.
int child_work(char *inherited, std::size_t inherited_n, std::uint64_t seed) {
  for (std::size_t i = 0; i < inherited_n; ++i)
    if (inherited[i] != 'P') return 2;
  std::free(inherited);
  stress::Rng rng(seed);
  struct B {
    void *p;
    std::size_t n;
    std::uint64_t s;
  } v[64];
  for (int k = 0; k < 64; ++k) {
    std::size_t n = k < 48 ? rng.between(1, 16384) : k < 62 ? rng.between(16385, 500000) : rng.between(1 << 20, 2 << 20);
    void *p = std::malloc(n);
    if (!p) return 3;
    v[k] = {p, n, stress::seed_for(p, n)};
    stress::fill_block(p, n, v[k].s);
  }
  for (int k = 0; k < 64; k += 2) {   // grow half of them (realloc: moves and in place)
    std::size_t n = v[k].n + v[k].n / 2 + 1;
    void *q = std::realloc(v[k].p, n);
    if (!q) return 3;
    if (!stress::check_block(q, v[k].n, v[k].s, v[k].n)) return 4;
    v[k] = {q, n, stress::seed_for(q, n)};
    stress::fill_block(q, n, v[k].s);
  }
  for (auto &b : v) {
    if (!stress::check_block(b.p, b.n, b.s, b.n)) return 4;
    std::free(b.p);
  }
  return stress::validate_lfh() == 0 ? 5 : 0;   // the heap the child inherited is sound
}

// Wait for pid at most `seconds`; SIGKILL it on timeout. Returns the wait status, -1 on timeout;
// *cpu_ms: the CPU time the child used. A pidfd (Linux 5.3+) lets poll() sleep until the child
// exits; otherwise poll waitpid.
int wait_with_watchdog(pid_t pid, int seconds, double *cpu_ms) {
  int status = 0;
  rusage ru{};
  auto reap = [&](int flags = 0) -> pid_t {
    pid_t r = wait4(pid, &status, flags, &ru);
    *cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    return r;
  };
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd pfd{pidfd, POLLIN, 0};
    int r;
    do r = poll(&pfd, 1, seconds * 1000);
    while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r == 0) {
      kill(pid, SIGKILL);
      reap();
      return -1;
    }
    return reap() == pid ? status : -2;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = reap(WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -2;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kill(pid, SIGKILL);
  reap();
  return -1;
}

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  int forks = 1000, nthreads = 8, limit_ms = 1000, hang_s = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--forks") && i + 1 < argc) forks = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--child-limit-ms") && i + 1 < argc) limit_ms = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--hang-s") && i + 1 < argc) hang_s = std::atoi(argv[++i]);
  }
  // The whole run: every fork may take up to its hang limit only a few times.
  stress::start_watchdog(120 + forks / 2 + 3 * hang_s);
  const auto start = std::chrono::steady_clock::now();
  g_exchange = std::vector<Exchange>(std::size_t(nthreads > 0 ? nthreads : 1));
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) threads.emplace_back(churn, t, nthreads);

  int hung = 0, bad = 0, slow = 0;
  double worst_ms = 0, total_ms = 0, worst_cpu_ms = 0;
  for (int f = 0; f < forks; ++f) {
    const std::size_t n = 1 + std::size_t(f) * 997 % 40000;
    char *inherited = static_cast<char *>(std::malloc(n));
    std::memset(inherited, 'P', n);
    if (f % 7) std::this_thread::sleep_for(std::chrono::microseconds(50 * (f % 7)));   // vary the moment
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      ++bad;
      break;
    }
    if (pid == 0) _exit(child_work(inherited, n, std::uint64_t(f) + 1));
    std::free(inherited);
    double cpu_ms = 0;
    int status = wait_with_watchdog(pid, hang_s, &cpu_ms);
    if (cpu_ms > worst_cpu_ms) worst_cpu_ms = cpu_ms;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    total_ms += ms;
    if (ms > worst_ms) worst_ms = ms;
    if (status == -1) {
      ++hung;
      std::fprintf(stderr, "fork %d: child %d still running after %d s (deadlock?)\n", f, int(pid), hang_s);
    } else if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++bad;
      std::fprintf(stderr, "fork %d: child status 0x%x\n", f, status);
    } else if (limit_ms > 0 && cpu_ms > limit_ms) {
      ++slow;
      std::fprintf(stderr, "fork %d: child used %.0f ms of CPU (limit %d ms), %.0f ms from fork to exit\n", f, cpu_ms,
                   limit_ms, ms);
    }
  }
  g_stop = true;
  for (auto &t : threads) t.join();
  for (Exchange &x : g_exchange)
    for (auto &b : x.blocks) std::free(b.first);
  // No child left behind: nothing is left to wait for.
  int leftover = 0;
  while (waitpid(-1, nullptr, WNOHANG) > 0) ++leftover;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int valid = stress::validate_lfh();
  std::printf("%d forks under %d threads (%llu worker operations) in %.1f s: child fork-to-exit mean %.1f ms, "
              "worst %.1f ms; child CPU time worst %.1f ms\n",
              forks, nthreads, (unsigned long long)g_worker_ops.load(), secs, forks ? total_ms / forks : 0.0, worst_ms,
              worst_cpu_ms);
  std::printf("%d hung, %d failed, %d over %d ms of CPU, %d left unreaped, worker corruption %llu, lfh_validate %s\n",
              hung, bad, slow, limit_ms, leftover, (unsigned long long)g_worker_corrupt.load(), stress::validate_text(valid));
  const bool ok = valid != 0 && hung == 0 && bad == 0 && slow == 0 && leftover == 0 && g_worker_corrupt == 0;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
