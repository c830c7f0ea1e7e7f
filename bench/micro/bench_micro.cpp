// lfh_bench_micro — allocator micro-benchmarks on Google Benchmark.
//
// This binary is deliberately NOT linked with lfh: it calls the plain malloc/free/new family, so
// the allocator under test is whatever the dynamic linker binds those names to — glibc without a
// preload, or lfh / mimalloc / jemalloc / tcmalloc with LD_PRELOAD. bench/run_compare.sh runs it
// once per allocator, interleaved, and compares the JSON results.
//
// Every benchmark uses a fixed working set decided before the timed loop (size tables are
// generated from a fixed seed, so each allocator sees exactly the same request sequence).
// See bench/README.md for what each benchmark measures.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// ---- helpers -----------------------------------------------------------------------------------

constexpr std::size_t kPage = 4096;

// A table of pseudo-random sizes in [lo, hi], fixed seed, power-of-two length for cheap indexing.
// The table is built once, outside any timed region, with its own storage reserved up front.
struct SizeTable {
  static constexpr std::size_t kLen = 4096;  // power of two
  std::vector<std::uint32_t> sizes;

  SizeTable(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed) : sizes(kLen) {
    std::uint64_t x = seed;
    for (auto &s : sizes) {
      // splitmix64: deterministic across platforms and libstdc++ versions.
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      s = lo + static_cast<std::uint32_t>(z % (static_cast<std::uint64_t>(hi) - lo + 1));
    }
  }
  std::size_t operator[](std::size_t i) const { return sizes[i & (kLen - 1)]; }
};

const SizeTable &small_sizes() {  // 16 .. 1024 bytes
  static const SizeTable t(16, 1024, 0x5eed0001);
  return t;
}
const SizeTable &large_sizes() {  // 16 KB .. 1 MB
  static const SizeTable t(16u << 10, 1u << 20, 0x5eed0002);
  return t;
}

inline void touch(void *p, std::size_t n) {
  // One write at each end: forces the first and the last page of the block to be present.
  auto *c = static_cast<volatile char *>(p);
  c[0] = 1;
  c[n - 1] = 1;
}

// Pin the calling thread to the nth CPU it may run on (modulo their number) for the life of the
// object, then restore its affinity. Two-thread benchmarks put their threads on two different
// CPUs, so that they really run at the same time whenever they run: otherwise, on a small busy
// machine, whether they overlap (and contend) or take turns on one CPU changes from run to run.
// Does nothing when only one CPU is available.
class PinToCpu {
 public:
  explicit PinToCpu(int nth) {
    if (nth < 0 || sched_getaffinity(0, sizeof old_, &old_) != 0) return;
    const int n = CPU_COUNT(&old_);
    if (n < 2) return;
    int want = nth % n;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &old_)) continue;
      if (want-- == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
        break;
      }
    }
  }
  ~PinToCpu() {
    if (pinned_) sched_setaffinity(0, sizeof old_, &old_);
  }
  PinToCpu(const PinToCpu &) = delete;
  PinToCpu &operator=(const PinToCpu &) = delete;

 private:
  cpu_set_t old_{};
  bool pinned_ = false;
};

// ---- malloc/free pairs -------------------------------------------------------------------------

// malloc(n) immediately followed by free(): the allocator's fast path for one size.
// Arg: the size. The set covers the first size of each LFH bucket group plus the 8 B minimum.
void BM_Pair(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void *p = std::malloc(n);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pair)->Arg(8)->Arg(64)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Arg(8192)->Arg(16384);

// malloc/free pairs with sizes 16..1024 drawn from a pre-generated table: defeats a
// one-size-cache and exercises the size-to-bucket computation and several look-aside lists.
void BM_PairRandom(benchmark::State &state) {
  PinToCpu pin(state.threads() > 1 ? state.thread_index() : -1);
  const SizeTable &t = small_sizes();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    void *p = std::malloc(t[i++]);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PairRandom);
// Same, two threads at once on two CPUs (each its own pairs): per-CPU / per-thread structures, no
// sharing. Time: CPU time per op summed over the threads — equal to the single-thread row when
// nothing is shared, higher when the threads slow each other down (contention, false sharing).
BENCHMARK(BM_PairRandom)->Threads(2);

// A live working set of 4096 blocks of 16..1024 bytes; each step frees one pseudo-random slot
// and allocates a new block of the next table size into it, then writes its first byte.
// Blocks are freed in a different order than allocated, so free lists get mixed.
void BM_WorkingSet(benchmark::State &state) {
  const SizeTable &t = small_sizes();
  constexpr std::size_t kSlots = 4096;
  std::vector<void *> slots(kSlots);
  std::size_t k = 0;
  for (auto &s : slots) s = std::malloc(t[k++]);
  std::uint32_t r = 0x12345678;
  for (auto _ : state) {
    r ^= r << 13; r ^= r >> 17; r ^= r << 5;  // xorshift32
    void *&slot = slots[r & (kSlots - 1)];
    std::free(slot);
    const std::size_t n = t[k++];
    slot = std::malloc(n);
    static_cast<volatile char *>(slot)[0] = 1;
  }
  for (void *s : slots) std::free(s);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WorkingSet);

// ---- batches -----------------------------------------------------------------------------------

constexpr std::size_t kBatch = 1000;

// Allocate 1000 blocks of 64 B, then free them newest first (stack order).
void BM_BatchLIFO(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  void *ptrs[kBatch];
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) ptrs[i] = std::malloc(n);
    benchmark::DoNotOptimize(ptrs);
    for (std::size_t i = kBatch; i-- > 0;) std::free(ptrs[i]);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_BatchLIFO)->Arg(64);

// Allocate 1000 blocks of 64 B, then free them oldest first (queue order).
void BM_BatchFIFO(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  void *ptrs[kBatch];
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) ptrs[i] = std::malloc(n);
    benchmark::DoNotOptimize(ptrs);
    for (std::size_t i = 0; i < kBatch; ++i) std::free(ptrs[i]);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_BatchFIFO)->Arg(64);

// Batch of 1000 random sizes 16..1024, freed in allocation order.
void BM_BatchFIFORandom(benchmark::State &state) {
  const SizeTable &t = small_sizes();
  void *ptrs[kBatch];
  std::size_t k = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) ptrs[i] = std::malloc(t[k++]);
    benchmark::DoNotOptimize(ptrs);
    for (std::size_t i = 0; i < kBatch; ++i) std::free(ptrs[i]);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_BatchFIFORandom);

// ---- the rest of the API -----------------------------------------------------------------------

// calloc(1, 256) + free: includes clearing 256 bytes (a recycled block is never demand-zero).
void BM_Calloc(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void *p = std::calloc(1, n);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Calloc)->Arg(256);

// malloc(16), then realloc doubling up to 64 KB (13 reallocs, writing the last byte each time),
// then free. Crosses every bucket group and the LFH / large-block boundary.
void BM_ReallocGrow(benchmark::State &state) {
  constexpr std::size_t kMax = 64u << 10;
  for (auto _ : state) {
    std::size_t n = 16;
    auto *p = static_cast<char *>(std::malloc(n));
    p[n - 1] = 1;
    while (n < kMax) {
      n *= 2;
      p = static_cast<char *>(std::realloc(p, n));
      p[n - 1] = 1;
    }
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations() * 13);
}
BENCHMARK(BM_ReallocGrow);

// posix_memalign(64, 64) + free.
void BM_PosixMemalign(benchmark::State &state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto a = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    void *p = nullptr;
    if (posix_memalign(&p, a, n) != 0) {
      state.SkipWithError("posix_memalign failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PosixMemalign)->Args({64, 64});

// new / delete of a 32-byte object (operator new(size_t), sized operator delete).
struct Obj32 {
  std::uint64_t v[4];
};
static_assert(sizeof(Obj32) == 32);

void BM_NewDelete(benchmark::State &state) {
  for (auto _ : state) {
    auto *o = new Obj32;
    benchmark::DoNotOptimize(o);
    delete o;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewDelete);

// ---- cross-thread free -------------------------------------------------------------------------

// Wait / wake on a 32-bit counter: spin a little, then sleep in the kernel (futex), so a waiting
// thread burns no CPU. That matters because the cross-thread benchmark reports process CPU time.
class Waitable {
 public:
  std::uint32_t load() const { return v_.load(std::memory_order_acquire); }
  void store(std::uint32_t x) {
    v_.store(x, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0)
      syscall(SYS_futex, &v_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  template <class Done>
  void wait_until(Done done) {
    for (int i = 0; i < 200; ++i) {
      if (done()) return;
      cpu_relax();
    }
    for (;;) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t seen = v_.load(std::memory_order_seq_cst);
      if (done()) {
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      syscall(SYS_futex, &v_, FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

 private:
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  std::atomic<std::uint32_t> v_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

// A producer (the benchmark thread) allocates batches of 256 blocks and hands each batch to a
// consumer thread through a bounded single-producer/single-consumer ring of 16 batches; the
// consumer frees them. Every block is freed on another thread than the one that allocated it,
// while the producer keeps allocating. The two threads are pinned to two different CPUs.
// One iteration = one batch; items = blocks.
class Handoff {
 public:
  static constexpr std::uint32_t kBatchLen = 256;
  static constexpr std::uint32_t kRing = 16;  // batches in flight at most (power of two)

  struct Batch {
    void *p[kBatchLen];
  };

  Handoff() : consumer_([this] { consume(); }) {}
  ~Handoff() {
    stop_.store(true, std::memory_order_seq_cst);
    head_.store(head_.load() + 1);  // wake the consumer; it sees stop_ before any batch
    consumer_.join();
  }

  // Producer side: wait for a free slot and return it to be filled; publish() hands it over.
  Batch &acquire() {
    const std::uint32_t h = head_.load();
    tail_.wait_until([&] { return h - tail_.load() < kRing; });
    return ring_[h & (kRing - 1)];
  }
  void publish() { head_.store(head_.load() + 1); }
  // Wait until the consumer has freed everything published.
  void drain() {
    const std::uint32_t h = head_.load();
    tail_.wait_until([&] { return tail_.load() == h; });
  }

 private:
  void consume() {
    PinToCpu pin(1);
    for (;;) {
      const std::uint32_t t = tail_.load();
      head_.wait_until([&] { return head_.load() != t || stop_.load(std::memory_order_acquire); });
      if (stop_.load(std::memory_order_acquire)) return;
      for (void *p : ring_[t & (kRing - 1)].p) std::free(p);
      tail_.store(t + 1);
    }
  }

  alignas(64) Waitable head_;  // batches published (producer writes)
  alignas(64) Waitable tail_;  // batches freed (consumer writes)
  alignas(64) std::atomic<bool> stop_{false};
  Batch ring_[kRing];
  std::thread consumer_;
};

// Reported time: CPU time of the whole process (both threads) per block, so time a thread spends
// descheduled on a busy machine does not count, and waiting sleeps instead of spinning.
// Arg: the block size (0 = random 16..1024 from the table).
void BM_CrossThreadFree(benchmark::State &state) {
  const auto fixed = static_cast<std::size_t>(state.range(0));
  const SizeTable &t = small_sizes();
  std::size_t k = 0;
  PinToCpu pin(0);        // producer on one CPU, consumer on another
  auto *h = new Handoff;  // heap: the ring is 32 KB
  for (auto _ : state) {
    Handoff::Batch &b = h->acquire();
    for (auto &p : b.p) {
      p = std::malloc(fixed ? fixed : t[k++]);
      static_cast<volatile char *>(p)[0] = 1;
    }
    h->publish();
  }
  h->drain();
  delete h;
  state.SetItemsProcessed(state.iterations() * Handoff::kBatchLen);
}
BENCHMARK(BM_CrossThreadFree)->Arg(64)->Arg(0)->MeasureProcessCPUTime();

// ---- larger blocks (core heap / direct blocks) -------------------------------------------------

// A live set of 32 blocks of 16 KB .. 1 MB; each step frees one slot (round robin) and allocates
// the next table size into it, writing its first and last byte (so fresh pages are faulted in:
// an allocator that caches and reuses large blocks pays less than one that maps each anew).
// Run single-threaded (wall clock) and with 2 threads on two CPUs, each with its own live set
// (CPU time per op summed over the threads, as for BM_PairRandom/threads:2).
void BM_LargeRandom(benchmark::State &state) {
  PinToCpu pin(state.threads() > 1 ? state.thread_index() : -1);
  const SizeTable &t = large_sizes();
  constexpr std::size_t kSlots = 32;
  void *slots[kSlots] = {};
  std::size_t k = static_cast<std::size_t>(state.thread_index()) * 1231;
  std::size_t i = 0;
  for (auto _ : state) {
    void *&slot = slots[i++ & (kSlots - 1)];
    std::free(slot);
    const std::size_t n = t[k++];
    slot = std::malloc(n);
    touch(slot, n);
  }
  for (void *s : slots) std::free(s);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LargeRandom)->UseRealTime();
BENCHMARK(BM_LargeRandom)->Threads(2);

// Grow one buffer from 1 KB to 256 MB by x1.5 with realloc (about 30 reallocs), writing one byte
// in every newly added page, then free it. Measures whether realloc grows in place / remaps
// instead of copying, and how much the allocator's pages cost to fault in.
void BM_ReallocGrowLarge(benchmark::State &state) {
  constexpr std::size_t kMax = 256u << 20;
  std::int64_t reallocs = 0;
  for (auto _ : state) {
    std::size_t n = 1024;
    auto *p = static_cast<char *>(std::malloc(n));
    std::memset(p, 1, n);
    while (n < kMax) {
      const std::size_t old = n;
      n = std::min(kMax, n + n / 2);
      p = static_cast<char *>(std::realloc(p, n));
      if (p == nullptr) {
        state.SkipWithError("realloc failed");
        return;
      }
      ++reallocs;
      // one write per new page (and the last byte)
      for (std::size_t off = (old + kPage - 1) & ~(kPage - 1); off < n; off += kPage) p[off] = 1;
      p[n - 1] = 1;
    }
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(reallocs);
}
BENCHMARK(BM_ReallocGrowLarge)->Unit(benchmark::kMillisecond)->UseRealTime();

// Which shared object actually serves malloc in this process (the preload took effect or not).
// Recorded in the JSON context as "malloc_from" so the comparison can check it.
const char *malloc_provider() {
  Dl_info info{};
  void *(*m)(std::size_t) = &std::malloc;
  if (dladdr(reinterpret_cast<void *>(m), &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return "unknown";
}

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("malloc_from", malloc_provider());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
