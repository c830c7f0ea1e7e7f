// Shared helpers for the workload benchmarks (bench/workloads/*.cpp).
//
// Every workload is a small stand-alone program that calls the plain malloc/free/new family (it is
// NOT linked with lfh): the allocator under test is chosen at run time with LD_PRELOAD. Each one
// does a fixed, seeded amount of work, checks its own result, and prints one machine-readable line
//
//   RESULT name=larson threads=2 seconds=0.512 peak_rss_kb=12345 check=ok malloc_from=/path/lib.so ...
//
// then exits 0 (check=ok) or 1 (check=FAIL, with the reason on stderr). `seconds` is the wall
// clock of the measured phase only; `peak_rss_kb` is the peak resident set size of the whole
// process (VmHWM, the high-water mark of its resident set), read at the end.
//
// Common options: --threads N (default 1), --quick (about 1/20 of the work, for smoke tests),
// --scale F (multiply the amount of work by F), --seed S.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <sys/resource.h>

namespace wl {

struct Options {
  int threads = 1;
  bool quick = false;
  double scale = 1.0;
  std::uint64_t seed = 0x5eed;

  // Work count n at default size, scaled by --scale, divided by 20 under --quick; at least 1.
  std::uint64_t work(std::uint64_t n) const {
    double v = static_cast<double>(n) * scale * (quick ? 0.05 : 1.0);
    return v < 1.0 ? 1 : static_cast<std::uint64_t>(v);
  }
};

// A workload's own option `--name N` (an unsigned number): *value keeps its default when absent.
struct ExtraOption {
  const char *name;
  std::uint64_t *value;
};

inline Options parse_options(int argc, char **argv, const char *usage_extra = "",
                             std::initializer_list<ExtraOption> extra = {}) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    auto value = [&](const char *name) -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", argv[0], name);
        std::exit(2);
      }
      return argv[++i];
    };
    const ExtraOption *own = nullptr;
    for (const ExtraOption &e : extra)
      if (!std::strcmp(a, e.name)) own = &e;
    if (own) {
      *own->value = std::strtoull(value(a), nullptr, 0);
    } else if (!std::strcmp(a, "--threads") || !std::strcmp(a, "-t")) {
      o.threads = std::atoi(value(a));
    } else if (!std::strcmp(a, "--quick")) {
      o.quick = true;
    } else if (!std::strcmp(a, "--scale")) {
      o.scale = std::atof(value(a));
    } else if (!std::strcmp(a, "--seed")) {
      o.seed = std::strtoull(value(a), nullptr, 0);
    } else if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) {
      std::printf("usage: %s [--threads N] [--quick] [--scale F] [--seed S]\n%s", argv[0], usage_extra);
      std::exit(0);
    } else {
      std::fprintf(stderr, "%s: unknown option %s (try --help)\n", argv[0], a);
      std::exit(2);
    }
  }
  if (o.threads < 1 || o.threads > 1024 || !(o.scale > 0)) {
    std::fprintf(stderr, "%s: bad --threads or --scale\n", argv[0]);
    std::exit(2);
  }
  return o;
}

// splitmix64: small, fast, identical everywhere (no dependence on libstdc++'s distributions).
struct Rng {
  std::uint64_t x;
  explicit Rng(std::uint64_t seed) : x(seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL) {}
  std::uint64_t next() {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // uniform in [0, n)
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // uniform in [lo, hi]
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // Sizes skewed towards the small end, as real programs' are: lo * (hi/lo)^u, u uniform in [0,1)
  // (log-uniform) — as many requests between 16 and 32 bytes as between 512 and 1024.
  std::uint64_t log_range(std::uint64_t lo, std::uint64_t hi) {
    double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    double v = static_cast<double>(lo) * std::pow(static_cast<double>(hi) / static_cast<double>(lo), u);
    std::uint64_t r = static_cast<std::uint64_t>(v);
    return r < lo ? lo : (r > hi ? hi : r);
  }
};

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x7f4a7c15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fill / check a block with a pattern derived from a tag: the first and last 8 bytes (or fewer)
// and one word in the middle — cheap, but catches blocks handed out twice or overwritten.
inline void stamp(void *p, std::size_t n, std::uint64_t tag) {
  unsigned char *c = static_cast<unsigned char *>(p);
  if (n >= 16) {
    std::memcpy(c, &tag, 8);
    std::uint64_t t2 = ~tag;
    std::memcpy(c + n - 8, &t2, 8);
    if (n >= 32) std::memcpy(c + (n / 2 & ~std::size_t{7}), &tag, 8);
  } else {
    for (std::size_t i = 0; i < n; ++i) c[i] = static_cast<unsigned char>(tag >> (8 * (i & 7)));
  }
}
inline bool stamp_ok(const void *p, std::size_t n, std::uint64_t tag) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  if (n >= 16) {
    std::uint64_t a, b, m = tag;
    std::memcpy(&a, c, 8);
    std::memcpy(&b, c + n - 8, 8);
    if (n >= 32) std::memcpy(&m, c + (n / 2 & ~std::size_t{7}), 8);
    return a == tag && b == ~tag && m == tag;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (c[i] != static_cast<unsigned char>(tag >> (8 * (i & 7)))) return false;
  return true;
}

class Timer {
 public:
  Timer() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// Peak RSS of this process image: VmHWM from /proc/self/status. Not getrusage's ru_maxrss, which
// also counts the RSS of the process this one was forked from (carried over through exec): run
// from a big driver process, every workload would "peak" at the driver's size.
inline long peak_rss_kb() {
  if (FILE *f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    std::fclose(f);
    if (kb >= 0) return kb;
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_maxrss;
}

// Which shared object serves malloc in this process (the executable for glibc-less static
// builds): lets the driver check that an LD_PRELOAD really took effect.
inline std::string malloc_from() {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (sym && dladdr(sym, &info) && info.dli_fname) return info.dli_fname;
  return "?";
}

// Records the first failure (thread-safe); the result line then says check=FAIL.
class Check {
 public:
  void fail(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (failed_.exchange(true)) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::fprintf(stderr, "CHECK FAILED: %s\n", buf);
  }
  bool ok() const { return !failed_.load(); }

 private:
  std::atomic<bool> failed_{false};
};

// Prints the RESULT line (plus `extra`, already formatted as " key=value ...") and returns the
// process exit status.
inline int report(const char *name, const Options &o, double seconds, const Check &check,
                  const std::string &extra = "") {
  std::printf("RESULT name=%s threads=%d seconds=%.4f peak_rss_kb=%ld check=%s%s%s malloc_from=%s\n",
              name, o.threads, seconds, peak_rss_kb(), check.ok() ? "ok" : "FAIL",
              o.quick ? " quick=1" : "", extra.c_str(), malloc_from().c_str());
  std::fflush(stdout);
  return check.ok() ? 0 : 1;
}

inline std::string kv(const char *key, double v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %s=%.6g", key, v);
  return buf;
}
inline std::string kv(const char *key, std::uint64_t v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %s=%" PRIu64, key, v);
  return buf;
}

// Runs f(0) .. f(n-1) in n threads and waits for them.
template <class F>
void run_threads(int n, F f) {
  std::vector<std::thread> ts;
  ts.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ts.emplace_back(f, i);
  for (auto &t : ts) t.join();
}

// Share of `total` for worker i of n (the first total % n workers get one more).
inline std::uint64_t share(std::uint64_t total, int n, int i) {
  std::uint64_t q = total / static_cast<std::uint64_t>(n), r = total % static_cast<std::uint64_t>(n);
  return q + (static_cast<std::uint64_t>(i) < r ? 1 : 0);
}

}  // namespace wl
