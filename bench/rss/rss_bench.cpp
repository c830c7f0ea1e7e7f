// lfh_bench_rss — how much memory an allocator holds at its peak and how much it still holds two
// seconds after the peak, once the program has freed (most of) what it allocated. Plain
// malloc/free: the allocator under test is chosen with LD_PRELOAD (bench/rss/run_rss.py runs it
// under glibc, lfh with and without its balance manager, mimalloc and jemalloc).
//
//   lfh_bench_rss WORKLOAD [--scale F] [--quick]
//
// Workloads (each allocation-heavy, every byte written):
//   burst    512 MB of random 16 B - 64 KB blocks, freed in random order
//   small    2 M blocks of 16 - 256 B (a pointer-heavy structure), freed in random order
//   shrink   a 256 MB working set of 16 B - 16 KB blocks with 1 M replace operations, then 90 %
//            of it freed: what stays should follow the 10 % that lives
//   threads  2 threads each allocate 128 MB of 16 B - 32 KB blocks; each frees the other's half
//            (cross-thread frees); both exit
//   phase    1 M live 64 B blocks, freed; then 100 MB of 4 KB blocks, freed
// The program is C++ (std::thread: libstdc++ is mapped under every allocator, as in most programs
// that allocate a lot). After the work the program calls nothing in the allocator: it reads /proc/self/statm every
// 10 ms until 2 s after the peak. It prints one line:
//   RSS {"workload":…,"peak":B,"after_2s":B,"live":B,"work_s":S,"cpu_s":S}
// peak: highest RSS sampled during the work; after_2s: RSS 2 s after that peak; live: bytes the
// program still holds then; work_s / cpu_s: wall and process CPU time (all threads) of the work.
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

double g_scale = 1.0;
std::size_t g_peak = 0;
double g_peak_t = 0;

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double cpu() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

std::size_t rss() {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *c = strchr(buf, ' ');
  return c ? std::size_t(strtoull(c + 1, nullptr, 10)) * std::size_t(sysconf(_SC_PAGESIZE)) : 0;
}

// Sample RSS (cheap enough every few thousand operations).
void sample() {
  std::size_t r = rss();
  if (r > g_peak) {
    g_peak = r;
    g_peak_t = now();
  }
}

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
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
};

// Bookkeeping outside the allocator under test.
void **pointers(std::size_t n) {
  void *p = mmap(nullptr, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) abort();
  return static_cast<void **>(p);
}
void drop(void **p, std::size_t n) { munmap(p, n * sizeof(void *)); }

void *alloc(std::size_t n) {
  void *p = malloc(n);
  if (!p) abort();
  memset(p, int(n & 0x7f) + 1, n);
  return p;
}

void shuffle(void **v, std::size_t n, Rng &rng) {
  for (std::size_t i = n; i > 1; --i) {
    std::size_t j = rng.below(i);
    void *t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

std::size_t scaled(std::size_t n) { return std::size_t(double(n) * g_scale); }

std::size_t burst() {
  Rng rng(1);
  const std::size_t total = scaled(512u << 20);
  const std::size_t cap = total / 16;
  void **v = pointers(cap);
  std::size_t n = 0, bytes = 0;
  while (bytes < total) {
    std::size_t sz = rng.between(16, 65536);
    v[n++] = alloc(sz);
    bytes += sz;
    if (n % 2048 == 0) sample();
  }
  sample();
  shuffle(v, n, rng);
  for (std::size_t i = 0; i < n; ++i) free(v[i]);
  drop(v, cap);
  return 0;
}

std::size_t small() {
  Rng rng(2);
  const std::size_t n = scaled(2'000'000);
  void **v = pointers(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = alloc(rng.between(16, 256));
    if (i % 16384 == 0) sample();
  }
  sample();
  shuffle(v, n, rng);
  for (std::size_t i = 0; i < n; ++i) free(v[i]);
  drop(v, n);
  return 0;
}

std::size_t shrink() {
  Rng rng(3);
  const std::size_t target = scaled(256u << 20);
  const std::size_t cap = target / 16;
  void **v = pointers(cap);
  auto *sizes = reinterpret_cast<std::size_t *>(pointers(cap));
  std::size_t n = 0, bytes = 0;
  auto size = [&rng] { return rng.below(8) ? rng.between(16, 1024) : rng.between(1024, 16384); };
  while (bytes < target) {
    std::size_t sz = size();
    v[n] = alloc(sz);
    sizes[n++] = sz;
    bytes += sz;
    if (n % 4096 == 0) sample();
  }
  for (std::size_t op = 0; op < scaled(1'000'000); ++op) {
    std::size_t i = rng.below(n);
    free(v[i]);
    std::size_t sz = size();
    v[i] = alloc(sz);
    sizes[i] = sz;
    if (op % 8192 == 0) sample();
  }
  sample();
  // Free 90 % at random; the rest stays allocated until exit.
  std::size_t live = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng.below(10) == 0) live += sizes[i];
    else free(v[i]);
  }
  drop(v, cap);
  drop(reinterpret_cast<void **>(sizes), cap);
  return live;
}

struct ThreadArg {
  void **mine;
  void **theirs;
  std::size_t n;
  pthread_barrier_t *barrier;
  std::uint64_t seed;
};

void *thread_work(void *p) {
  auto *a = static_cast<ThreadArg *>(p);
  Rng rng(a->seed);
  for (std::size_t i = 0; i < a->n; ++i) {
    a->mine[i] = alloc(rng.between(16, 32768));
    if (i % 4096 == 0) sample();
  }
  pthread_barrier_wait(a->barrier);
  // Free the other thread's odd blocks and our own even ones.
  for (std::size_t i = 1; i < a->n; i += 2) free(a->theirs[i]);
  for (std::size_t i = 0; i < a->n; i += 2) free(a->mine[i]);
  return nullptr;
}

std::size_t threads() {
  const std::size_t n = scaled(128u << 20) / 16400;   // ≈ 128 MB each at the mean size
  void **a = pointers(n), **b = pointers(n);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, nullptr, 2);
  ThreadArg ta{a, b, n, &bar, 11}, tb{b, a, n, &bar, 12};
  // std::thread: like most allocation-heavy programs this one is C++ and loads libstdc++ (which
  // lfh and jemalloc load anyway), so every allocator starts from the same mapped libraries.
  std::thread x(thread_work, &ta), y(thread_work, &tb);
  x.join();
  y.join();
  sample();
  pthread_barrier_destroy(&bar);
  drop(a, n);
  drop(b, n);
  return 0;
}

std::size_t phase() {
  Rng rng(5);
  const std::size_t n1 = scaled(1'000'000);
  void **v = pointers(n1);
  for (std::size_t i = 0; i < n1; ++i) {
    v[i] = alloc(64);
    if (i % 16384 == 0) sample();
  }
  sample();
  shuffle(v, n1, rng);
  for (std::size_t i = 0; i < n1; ++i) free(v[i]);
  const std::size_t n2 = scaled(100u << 20) / 4096;
  for (std::size_t i = 0; i < n2; ++i) {
    v[i] = alloc(4096);
    if (i % 1024 == 0) sample();
  }
  sample();
  for (std::size_t i = 0; i < n2; ++i) free(v[i]);
  drop(v, n1);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: lfh_bench_rss burst|small|shrink|threads|phase [--scale F]\n");
    return 2;
  }
  bool quick = false;   // smoke runs: no start-up second, no 2 s wait
  for (int i = 2; i < argc; ++i) {
    if (!strcmp(argv[i], "--scale") && i + 1 < argc) g_scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = true;
  }
  const char *w = argv[1];
  std::size_t (*fn)() = nullptr;
  if (!strcmp(w, "burst")) fn = burst;
  else if (!strcmp(w, "small")) fn = small;
  else if (!strcmp(w, "shrink")) fn = shrink;
  else if (!strcmp(w, "threads")) fn = threads;
  else if (!strcmp(w, "phase")) fn = phase;
  if (!fn) {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }
  // A program runs a while before its heavy work (and lfh starts its balance thread one tick
  // after initialisation): a second of ordinary start-up first.
  void *warm[256];
  for (int i = 0; i < 256; ++i) warm[i] = alloc(std::size_t(16 + i * 24));
  const double warm_until = now() + (quick ? 0.0 : 1.1);
  while (now() < warm_until) {
    for (int i = 0; i < 256; ++i) {
      free(warm[i]);
      warm[i] = alloc(std::size_t(16 + ((i * 7) % 256) * 24));
    }
    usleep(10000);
  }
  g_peak = rss();
  g_peak_t = now();
  const double c0 = cpu(), t0 = now();
  const std::size_t live = fn();
  const double work = now() - t0, work_cpu = cpu() - c0;
  sample();
  // Nothing but statm reads and sleeps from here until 2 s after the peak.
  const double until = quick ? now() : g_peak_t + 2.0;
  while (now() < until) usleep(10000);
  const std::size_t after = rss();
  if (const char *dump = getenv("LFH_BENCH_RSS_SMAPS")) {   // (diagnosis: where the RSS is)
    int in = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC), out = open(dump, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[65536];
    for (ssize_t n; in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0;)
      if (write(out, buf, std::size_t(n)) != n) break;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
  }
  printf("RSS {\"workload\":\"%s\",\"peak\":%zu,\"after_2s\":%zu,\"live\":%zu,\"work_s\":%.4f,\"cpu_s\":%.4f}\n", w,
         g_peak, after, live, work, work_cpu);
  return 0;
}
