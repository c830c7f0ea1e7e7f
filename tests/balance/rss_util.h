// rss_util.h — what the balance test programs measure, without calling the allocator: RSS from
// /proc/self/statm, the thread count from /proc/self/status, lfh's statistics through dlsym
// (the programs run under LD_PRELOAD=liblfh.so), a monotonic clock, a watchdog.
#pragma once
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "lfh/lfh.h"

namespace balance_test {

inline long read_proc(const char *path, char *buf, std::size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - 1 - std::size_t(got));
    if (r <= 0) break;
    got += r;
  }
  close(fd);
  buf[got] = 0;
  return got;
}

// Resident bytes now (statm's second field).
inline std::size_t rss() {
  char buf[256];
  if (read_proc("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  const char *c = buf;
  while (*c && *c != ' ') ++c;
  std::size_t pages = 0;
  for (++c; *c >= '0' && *c <= '9'; ++c) pages = pages * 10 + std::size_t(*c - '0');
  return pages * std::size_t(sysconf(_SC_PAGESIZE));
}

// Threads of this process ("Threads:" in /proc/self/status).
inline int threads() {
  char buf[4096];
  if (read_proc("/proc/self/status", buf, sizeof buf) <= 0) return -1;
  const char *t = strstr(buf, "Threads:");
  return t ? atoi(t + 8) : -1;
}

inline double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

inline void sleep_s(double s) {
  timespec ts{time_t(s), long((s - double(time_t(s))) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// lfh's statistics when lfh serves malloc in this process (else false).
inline bool get_stats(lfh_stats_t *out) {
  using Fn = int (*)(lfh_stats_t *);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "lfh_stats_get"));
  return fn && fn(out);
}

inline std::uint32_t env_ms(const char *name, std::uint32_t def) {
  const char *v = getenv(name);
  return v && *v ? std::uint32_t(strtoul(v, nullptr, 10)) : def;
}

// The tick period the process runs with (LFH_BALANCE_MS, default 1000).
inline std::uint32_t period_ms() { return env_ms("LFH_BALANCE_MS", 1000); }

// Kill the process (SIGALRM's default action) if it runs past `seconds`.
inline void watchdog(unsigned seconds) { alarm(seconds); }

inline double mb(std::size_t b) { return double(b) / 1048576.0; }

// xorshift: the same sequence in every run.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::size_t below(std::size_t n) { return std::size_t(next() % n); }
};

// An array of pointers from mmap, so the test's own bookkeeping never goes through malloc.
#include <sys/mman.h>
inline void **pointer_array(std::size_t n) {
  void *p = mmap(nullptr, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<void **>(p);
}

}  // namespace balance_test
