// tests/fault/fault_program.cpp — fault injection (LFH_FAULT_*, src/debug/fault.h) seen from a
// program: run under LD_PRELOAD=liblfh.so by fault_check.sh with the LFH_FAULT_* settings each
// mode expects. Every mode checks that a failure looks like a real one (NULL and errno ENOMEM,
// bad_alloc, the old block kept), that what must not fail does not, that lfh_stats_get counts the
// failures, and that lfh_validate() is clean at the end; it prints one result line and exits 0,
// or prints "FAILED: …" and exits 1.
//
//   fault_program rate N        N allocations (malloc/calloc/realloc/aligned): the failure rate,
//                               and "digest" — a hash of the failing indices, for comparing runs
//   fault_program threads T N   T threads × N: each thread's digest (threads take their first
//                               allocation in creation order, so ordinals are the same every run)
//   fault_program sizes         LFH_FAULT_SIZES=1000-2000: only requests in range fail
//   fault_program tags          LFH_FAULT_TAGS=Fail: only allocations tagged Fail fail
//   fault_program callers-lib   LFH_FAULT_CALLERS=libfault_callee: only its allocations fail
//   fault_program callers-exe   LFH_FAULT_CALLERS=fault_program: only the program's own fail
//   fault_program delay MS      LFH_FAULT_DELAY_MS=MS: nothing fails in the first MS·2/3 ms,
//                               then failures come
//   fault_program api           every entry point fails the way its contract says
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <new>

#include "lfh/lfh.h"

extern "C" void *callee_alloc(size_t n);   // libfault_callee.so

namespace {

int g_failed = 0;
#define CHECK(cond, ...)                      \
  do {                                        \
    if (!(cond)) {                            \
      printf("FAILED: %s: ", #cond);          \
      printf(__VA_ARGS__);                    \
      printf("\n");                           \
      ++g_failed;                             \
    }                                         \
  } while (0)

template <class F>
F sym(const char *name) {
  void *p = dlsym(RTLD_DEFAULT, name);
  if (!p) {
    printf("FAILED: %s not found: is liblfh.so preloaded?\n", name);
    exit(1);
  }
  return reinterpret_cast<F>(p);
}

uint64_t injected() {
  lfh_stats_t s;
  memset(&s, 0, sizeof s);
  sym<int (*)(lfh_stats_t *)>("lfh_stats_get")(&s);
  return s.faults_injected;
}

void finish(const char *what) {
  const int ok = sym<int (*)(void)>("lfh_validate")();
  CHECK(ok, "lfh_validate() found a problem");
  if (g_failed) {
    printf("FAILED (%d checks) %s\n", g_failed, what);
    exit(1);
  }
  printf("PASSED %s\n", what);
  exit(0);
}

double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// FNV-1a over the failing indices.
struct Digest {
  uint64_t h = 1469598103934665603ull;
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  }
};

// A size from 1 B to ~1 MB, mostly small (what programs ask for).
size_t size_of(uint64_t i) {
  uint64_t x = (i * 0x9e3779b97f4a7c15ull) >> 40;
  if (x % 1000 == 0) return 100000 + x % 900000;   // 0.1 %: core and direct blocks
  if (x % 50 == 0) return 16384 + x % 50000;
  return 1 + x % 700;
}

// One allocation of kind i % 8 through malloc, calloc, realloc, aligned_alloc or posix_memalign;
// NULL when it failed (errno checked by the caller).
void *allocate(uint64_t i, void **keep) {
  const size_t n = size_of(i);
  switch (i % 8) {
    case 1: return calloc(1, n);
    case 2: {   // realloc of a kept block: on failure the old block stays
      void *q = realloc(*keep, n);
      if (q) {
        *keep = nullptr;
        return q;
      }
      return nullptr;
    }
    case 3: return aligned_alloc(64, (n + 63) & ~size_t(63));
    case 4: {
      void *p = reinterpret_cast<void *>(1);
      int rc = posix_memalign(&p, 32, n);
      if (rc == 0) return p;
      CHECK(rc == ENOMEM, "posix_memalign returned %d", rc);
      CHECK(p == reinterpret_cast<void *>(1), "posix_memalign changed *out on failure");
      errno = ENOMEM;
      return nullptr;
    }
    default: return malloc(n);
  }
}

void mode_rate(uint64_t count) {
  Digest d;
  uint64_t failures = 0, keep_failures = 0;   // the N allocations; the small kept block's
  const uint64_t before = injected();
  void *keep = nullptr;
  for (uint64_t i = 0; i < count; ++i) {
    if (!keep && !(keep = malloc(8))) ++keep_failures;
    errno = 0;
    void *p = allocate(i, &keep);
    if (!p) {
      CHECK(errno == ENOMEM, "allocation %llu failed with errno %d", (unsigned long long)i, errno);
      ++failures;
      d.add(i);
      continue;
    }
    memset(p, 0x5a, size_of(i) < 64 ? size_of(i) : 64);
    free(p);
  }
  free(keep);
  const uint64_t counted = injected() - before;
  CHECK(counted == failures + keep_failures, "lfh_stats_t::faults_injected grew by %llu, %llu failures seen",
        (unsigned long long)counted, (unsigned long long)(failures + keep_failures));
  char what[160];
  snprintf(what, sizeof what, "rate: %llu of %llu allocations failed = %.3f%%, digest %016llx",
           (unsigned long long)failures, (unsigned long long)count, 100.0 * double(failures) / double(count),
           (unsigned long long)d.h);
  finish(what);
}

struct ThreadArg {
  uint64_t count;
  Digest d;
  uint64_t failures = 0;
  pthread_mutex_t *m;
  pthread_cond_t *c;
  bool *started;
};

void *thread_main(void *p) {
  auto *a = static_cast<ThreadArg *>(p);
  void *first = malloc(32);   // this thread's ordinal is taken now, before the next thread exists
  pthread_mutex_lock(a->m);
  *a->started = true;
  pthread_cond_signal(a->c);
  pthread_mutex_unlock(a->m);
  if (!first) a->d.add(~uint64_t(0));
  free(first);
  void *keep = malloc(8);
  for (uint64_t i = 0; i < a->count; ++i) {
    if (!keep) keep = malloc(8);
    errno = 0;
    void *q = allocate(i, &keep);
    if (!q) {
      if (errno != ENOMEM) a->d.add(0xbad);
      ++a->failures;
      a->d.add(i);
      continue;
    }
    free(q);
  }
  free(keep);
  return nullptr;
}

void mode_threads(int threads, uint64_t count) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  static ThreadArg args[64];
  pthread_t t[64];
  if (threads > 64) threads = 64;
  char what[64 * 24 + 64];
  int at = snprintf(what, 64, "threads: digests");
  for (int k = 0; k < threads; ++k) {
    bool started = false;
    args[k].count = count;
    args[k].m = &m;
    args[k].c = &c;
    args[k].started = &started;
    int rc;
    while ((rc = pthread_create(&t[k], nullptr, thread_main, &args[k])) == EAGAIN) {
    }
    CHECK(rc == 0, "pthread_create: %d", rc);
    pthread_mutex_lock(&m);
    while (!started) pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
  }
  uint64_t total = 0;
  for (int k = 0; k < threads; ++k) {
    pthread_join(t[k], nullptr);
    total += args[k].failures;
    at += snprintf(what + at, sizeof what - size_t(at), " %016llx", (unsigned long long)args[k].d.h);
  }
  CHECK(total > 0, "no failure at all in %d threads", threads);
  finish(what);
}

// LFH_FAULT_SIZES=1000-2000 with rate 0.5.
void mode_sizes() {
  uint64_t in = 0, in_failed = 0, out_failed = 0;
  for (int round = 0; round < 20; ++round) {
    for (size_t n = 1; n <= 5000; n += 7) {
      errno = 0;
      void *p = malloc(n);
      const bool ranged = n >= 1000 && n <= 2000;
      in += ranged;
      if (!p) {
        CHECK(errno == ENOMEM, "errno %d", errno);
        if (ranged) ++in_failed;
        else ++out_failed;
      }
      free(p);
    }
  }
  CHECK(out_failed == 0, "%llu requests outside 1000-2000 failed", (unsigned long long)out_failed);
  CHECK(in_failed > in * 4 / 10 && in_failed < in * 6 / 10, "%llu of %llu in range failed (rate 0.5)",
        (unsigned long long)in_failed, (unsigned long long)in);
  char what[128];
  snprintf(what, sizeof what, "sizes: %llu of %llu in range failed, none outside", (unsigned long long)in_failed,
           (unsigned long long)in);
  finish(what);
}

// LFH_FAULT_TAGS=Fail with rate 0.5.
void mode_tags() {
  auto set_tag = sym<uint32_t (*)(uint32_t)>("lfh_set_thread_tag");
  const uint32_t tags[3] = {0, LFH_TAG('F', 'a', 'i', 'l'), LFH_TAG('O', 'k', 'a', 'y')};
  uint64_t tried[3] = {}, failed[3] = {};
  for (int i = 0; i < 30000; ++i) {
    const int k = i % 3;
    set_tag(tags[k]);
    errno = 0;
    void *p = malloc(size_t(16 + i % 300));
    set_tag(0);
    ++tried[k];
    if (!p) {
      CHECK(errno == ENOMEM, "errno %d", errno);
      ++failed[k];
    }
    free(p);
  }
  CHECK(failed[0] == 0, "%llu untagged allocations failed", (unsigned long long)failed[0]);
  CHECK(failed[2] == 0, "%llu allocations tagged Okay failed", (unsigned long long)failed[2]);
  CHECK(failed[1] > tried[1] * 4 / 10 && failed[1] < tried[1] * 6 / 10, "%llu of %llu tagged Fail failed (rate 0.5)",
        (unsigned long long)failed[1], (unsigned long long)tried[1]);
  char what[128];
  snprintf(what, sizeof what, "tags: %llu of %llu tagged Fail failed; untagged and Okay: none",
           (unsigned long long)failed[1], (unsigned long long)tried[1]);
  finish(what);
}

// LFH_FAULT_CALLERS names either libfault_callee (lib_targeted) or this program, rate 0.5.
void mode_callers(bool lib_targeted) {
  uint64_t tried = 0, own_failed = 0, lib_failed = 0;
  for (int i = 0; i < 20000; ++i) {
    ++tried;
    errno = 0;
    void *p = malloc(size_t(24 + i % 500));
    if (!p) {
      CHECK(errno == ENOMEM, "errno %d", errno);
      ++own_failed;
    }
    free(p);
    errno = 0;
    void *q = callee_alloc(size_t(24 + i % 500));
    if (!q) {
      CHECK(errno == ENOMEM, "errno %d", errno);
      ++lib_failed;
    }
    free(q);
  }
  const uint64_t targeted = lib_targeted ? lib_failed : own_failed, other = lib_targeted ? own_failed : lib_failed;
  CHECK(other == 0, "%llu allocations from the module not targeted failed", (unsigned long long)other);
  CHECK(targeted > tried * 4 / 10 && targeted < tried * 6 / 10, "%llu of %llu from the targeted module failed (rate 0.5)",
        (unsigned long long)targeted, (unsigned long long)tried);
  char what[160];
  snprintf(what, sizeof what, "callers: %llu of %llu from %s failed, none from %s", (unsigned long long)targeted,
           (unsigned long long)tried, lib_targeted ? "libfault_callee.so" : "the program",
           lib_targeted ? "the program" : "libfault_callee.so");
  finish(what);
}

// LFH_FAULT_DELAY_MS=delay with rate 0.5: lfh started before main, so the first 2/3 of the delay
// measured from here is inside it.
void mode_delay(double delay) {
  const double t0 = now_ms();
  uint64_t early = 0, early_failed = 0, late = 0, late_failed = 0;
  while (now_ms() - t0 < delay * 2 / 3) {
    void *p = malloc(64);
    ++early;
    if (!p) ++early_failed;
    free(p);
  }
  while (now_ms() - t0 < delay * 1.2) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, nullptr);
  }
  for (int i = 0; i < 10000; ++i) {
    errno = 0;
    void *p = malloc(64);
    ++late;
    if (!p) {
      CHECK(errno == ENOMEM, "errno %d", errno);
      ++late_failed;
    }
    free(p);
  }
  CHECK(early_failed == 0, "%llu of %llu allocations failed during the delay", (unsigned long long)early_failed,
        (unsigned long long)early);
  CHECK(late_failed > late * 4 / 10 && late_failed < late * 6 / 10, "%llu of %llu failed after the delay (rate 0.5)",
        (unsigned long long)late_failed, (unsigned long long)late);
  char what[160];
  snprintf(what, sizeof what, "delay: 0 of %llu failed in the delay, %llu of %llu after", (unsigned long long)early,
           (unsigned long long)late_failed, (unsigned long long)late);
  finish(what);
}

int g_handler_calls = 0;
void handler_gives_up() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);   // the next failure throws
}

// Rate 0.5: every entry point, one contract at a time.
void mode_api() {
  const uint64_t before = injected();
  uint64_t seen = 0;
  // operator new: bad_alloc; nothrow new: NULL; the new_handler runs first.
  int thrown = 0, nothrow_null = 0;
  for (int i = 0; i < 2000; ++i) {
    try {
      char *p = new char[size_t(100 + i)];
      p[0] = 1;
      delete[] p;
    } catch (const std::bad_alloc &) {
      ++thrown;
    }
    char *q = new (std::nothrow) char[size_t(100 + i)];
    if (!q) ++nothrow_null;
    delete[] q;
  }
  CHECK(thrown > 600 && thrown < 1400, "operator new threw bad_alloc %d times in 2000 (rate 0.5)", thrown);
  CHECK(nothrow_null > 600 && nothrow_null < 1400, "nothrow new returned NULL %d times in 2000", nothrow_null);
  int handled_throws = 0;
  for (int i = 0; i < 200 && g_handler_calls == 0; ++i) {
    std::set_new_handler(handler_gives_up);
    try {
      int *x = new int[8];
      delete[] x;
    } catch (const std::bad_alloc &) {
      ++handled_throws;
    }
  }
  std::set_new_handler(nullptr);
  CHECK(g_handler_calls > 0, "the new_handler was never called");
  // (Each failure counts; the retry after the handler may fail again, or succeed.)
  // realloc: NULL, ENOMEM, the old block intact and still usable.
  int realloc_failed = 0;
  for (int i = 0; i < 400; ++i) {
    size_t n = size_t(32 + i * 97 % 5000);
    unsigned char *p = nullptr;
    while (!(p = static_cast<unsigned char *>(malloc(n)))) {
    }
    memset(p, i & 0xff, n);
    errno = 0;
    void *q = realloc(p, n * 3 + 100000 * (i % 3 == 0));
    if (!q) {
      ++realloc_failed;
      CHECK(errno == ENOMEM, "realloc failed with errno %d", errno);
      bool same = true;
      for (size_t k = 0; k < n; ++k) same &= p[k] == (i & 0xff);
      CHECK(same, "realloc failed but changed the old block");
      p[n - 1] = 0;   // still writable
      free(p);
    } else {
      free(q);
    }
  }
  CHECK(realloc_failed > 100 && realloc_failed < 300, "realloc failed %d times in 400", realloc_failed);
  // calloc, aligned_alloc, memalign-like posix_memalign, reallocarray.
  int calloc_null = 0, aligned_null = 0, pm_fail = 0;
  for (int i = 0; i < 400; ++i) {
    errno = 0;
    void *p = calloc(10, size_t(10 + i));
    if (!p) {
      ++calloc_null;
      CHECK(errno == ENOMEM, "calloc errno %d", errno);
    }
    free(p);
    errno = 0;
    p = aligned_alloc(256, 256);
    if (!p) {
      ++aligned_null;
      CHECK(errno == ENOMEM, "aligned_alloc errno %d", errno);
    }
    free(p);
    void *out = &calloc_null;
    int rc = posix_memalign(&out, 4096, size_t(100 + i));
    if (rc) {
      ++pm_fail;
      CHECK(rc == ENOMEM && out == &calloc_null, "posix_memalign: %d", rc);
    } else {
      free(out);
    }
  }
  CHECK(calloc_null > 100 && aligned_null > 100 && pm_fail > 100, "calloc %d, aligned_alloc %d, posix_memalign %d failures in 400",
        calloc_null, aligned_null, pm_fail);
  // Private heaps: lfh_heap_alloc and lfh_heap_realloc fail too; lfh_heap_free never does.
  auto create = sym<lfh_heap_t *(*)(unsigned, size_t, size_t)>("lfh_heap_create");
  auto halloc = sym<void *(*)(lfh_heap_t *, unsigned, size_t)>("lfh_heap_alloc");
  auto hrealloc = sym<void *(*)(lfh_heap_t *, unsigned, void *, size_t)>("lfh_heap_realloc");
  auto hfree = sym<int (*)(lfh_heap_t *, unsigned, void *)>("lfh_heap_free");
  auto destroy = sym<int (*)(lfh_heap_t *)>("lfh_heap_destroy");
  lfh_heap_t *h = nullptr;
  while (!(h = create(0, 0, 0))) {
  }
  int heap_alloc_null = 0, heap_realloc_null = 0;
  for (int i = 0; i < 400; ++i) {
    errno = 0;
    auto *p = static_cast<unsigned char *>(halloc(h, 0, size_t(40 + i)));
    if (!p) {
      ++heap_alloc_null;
      CHECK(errno == ENOMEM, "lfh_heap_alloc errno %d", errno);
      continue;
    }
    memset(p, 0x33, size_t(40 + i));
    errno = 0;
    const size_t grown = size_t(4000 + i);
    void *q = hrealloc(h, i % 2 ? LFH_HEAP_ZERO_MEMORY : 0, p, grown);
    if (!q) {
      ++heap_realloc_null;
      CHECK(errno == ENOMEM, "lfh_heap_realloc errno %d", errno);
      CHECK(p[39] == 0x33 && p[0] == 0x33, "lfh_heap_realloc failed but changed the block");
      q = p;
    } else {
      auto *b = static_cast<unsigned char *>(q);
      CHECK(b[0] == 0x33 && b[39 + i] == 0x33, "lfh_heap_realloc lost the contents");
      if (i % 2) CHECK(b[40 + i] == 0 && b[grown - 1] == 0, "lfh_heap_realloc(LFH_HEAP_ZERO_MEMORY): new bytes not zero");
    }
    CHECK(hfree(h, 0, q) == 1, "lfh_heap_free failed");
  }
  CHECK(heap_alloc_null > 100 && heap_realloc_null > 50, "lfh_heap_alloc %d, lfh_heap_realloc %d failures",
        heap_alloc_null, heap_realloc_null);
  destroy(h);
  seen = uint64_t(thrown + nothrow_null + realloc_failed + calloc_null + aligned_null + pm_fail + heap_alloc_null +
                  heap_realloc_null);
  const uint64_t counted = injected() - before;
  // At least every failure seen here (the new_handler retries and the loops that retry a failed
  // malloc fail more often than they are counted above).
  CHECK(counted >= seen, "faults_injected grew by %llu, %llu failures seen", (unsigned long long)counted,
        (unsigned long long)seen);
  char what[256];
  snprintf(what, sizeof what,
           "api: new threw %d, nothrow NULL %d, new_handler called %d, realloc %d (old block intact), calloc %d, "
           "aligned_alloc %d, posix_memalign %d, heap alloc %d / realloc %d; %llu counted",
           thrown, nothrow_null, g_handler_calls, realloc_failed, calloc_null, aligned_null, pm_fail, heap_alloc_null,
           heap_realloc_null, (unsigned long long)counted);
  (void)handled_throws;
  finish(what);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fault_program rate N | threads T N | sizes | tags | callers-lib | callers-exe | delay MS | api\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IONBF, 0);   // no stdio buffer to allocate (or fail to)
  const char *m = argv[1];
  if (!strcmp(m, "rate") && argc > 2) mode_rate(strtoull(argv[2], nullptr, 10));
  if (!strcmp(m, "threads") && argc > 3) mode_threads(atoi(argv[2]), strtoull(argv[3], nullptr, 10));
  if (!strcmp(m, "sizes")) mode_sizes();
  if (!strcmp(m, "tags")) mode_tags();
  if (!strcmp(m, "callers-lib")) mode_callers(true);
  if (!strcmp(m, "callers-exe")) mode_callers(false);
  if (!strcmp(m, "delay") && argc > 2) mode_delay(atof(argv[2]));
  if (!strcmp(m, "api")) mode_api();
  fprintf(stderr, "unknown mode %s\n", m);
  return 2;
}
