// os/thread.cpp — helper thread, sleep and the thread census for the balance manager.
#include "os/thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "os/os.h"
#include "os/signals.h"

namespace lfh::os {
namespace {

struct Start {
  void (*fn)(void *);
  void *arg;
};

// The start record lives in a small static ring: the thread is started at most a few times per
// process (once, and again in fork children), and the record must not come from malloc.
constinit Start g_starts[4] = {};
constinit unsigned g_next_start = 0;

void *trampoline(void *p) {
  auto *s = static_cast<Start *>(p);
  LibcCallScope lfh_thread;   // everything this thread allocates is lfh's own (os.h)
  s->fn(s->arg);
  return nullptr;
}

}  // namespace

bool start_thread(void (*fn)(void *), void *arg, const char *name) {
  LibcCallScope lfh_call;   // pthread_create allocates the new thread's TLS block through malloc
  Start *s = &g_starts[__atomic_fetch_add(&g_next_start, 1, __ATOMIC_RELAXED) % 4];
  s->fn = fn;
  s->arg = arg;
  // Block every signal around pthread_create: the new thread inherits the mask, so no signal can
  // reach it even before its first instruction.
  sigset_t all, old;
  sigfillset(&all);
  if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) return false;
  pthread_attr_t attr;
  bool ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // Small stack: the tick needs a few KB. glibc carves the static TLS out of the same size, so
    // ask for room; fall back to the default size if the program's TLS does not fit.
    pthread_attr_setstacksize(&attr, 256 * 1024);
  }
  pthread_t t;
  int rc = ok ? pthread_create(&t, &attr, trampoline, s) : -1;
  if (rc == EINVAL) {
    pthread_attr_setstacksize(&attr, 8 * 1024 * 1024);
    rc = pthread_create(&t, &attr, trampoline, s);
  }
  if (ok) pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return false;
  if (name) pthread_setname_np(t, name);
  return true;
}

std::uint64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

void sleep_ns(std::uint64_t ns) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::uint64_t until = std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec) + ns;
  ts.tv_sec = time_t(until / 1000000000ull);
  ts.tv_nsec = long(until % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

bool thread_census(std::uint32_t *threads, bool *main_exited) {
  char buf[2048];
  // /proc/self/stat: "pid (comm) S ..." — the state of the thread-group leader after the last ')'.
  if (read_small_file("/proc/self/stat", buf, sizeof buf) <= 0) return false;
  const char *close_paren = nullptr;
  for (const char *c = buf; *c; ++c)
    if (*c == ')') close_paren = c;
  if (!close_paren || close_paren[1] != ' ') return false;
  char state = close_paren[2];
  *main_exited = state == 'Z' || state == 'X';
  *threads = 0;
  if (!*main_exited) return true;   // the count is only needed once main has gone
  // /proc/self/status: "Threads:\tN".
  if (read_small_file("/proc/self/status", buf, sizeof buf) <= 0) return false;
  for (const char *c = buf; *c; ++c) {
    if ((c == buf || c[-1] == '\n') && c[0] == 'T' && c[1] == 'h' && c[2] == 'r' && c[3] == 'e' && c[4] == 'a' &&
        c[5] == 'd' && c[6] == 's' && c[7] == ':') {
      c += 8;
      while (*c == ' ' || *c == '\t') ++c;
      std::uint32_t v = 0;
      while (*c >= '0' && *c <= '9') v = v * 10 + std::uint32_t(*c++ - '0');
      *threads = v;
      return true;
    }
  }
  return false;
}

}  // namespace lfh::os
