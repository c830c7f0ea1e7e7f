// Multi-threaded allocation stress (mimalloc's stress test, in spirit): T threads × N operations,
// each thread keeping a window of live blocks of heavy-tailed sizes (1 B – 4 MB).
// Every block carries a pattern derived from its address and size, checked before it is freed or
// reallocated; about a fifth of the blocks are handed to another thread, which checks and frees
// them. Exits non-zero on the first kind of corruption found (after counting all of them).
//
//   stress_threads [--threads T] [--ops N] [--long] [--seed S] [--watchdog SECONDS] [--require-lfh]
//   --long: a soak run: 32 threads × 50 M operations unless --threads / --ops say otherwise.
#include <malloc.h>
#include <stdlib.h>

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

struct Block {
  void *p = nullptr;
  std::size_t n = 0;
  std::uint64_t seed = 0;
};

// A thread's inbox: blocks other threads hand it to free.
struct alignas(64) Inbox {
  std::mutex lock;
  std::vector<Block> blocks;
};

struct Counters {
  std::atomic<std::uint64_t> ops{0}, allocs{0}, handed{0}, received{0}, reallocs{0};
  std::atomic<std::uint64_t> corrupt{0}, misaligned{0}, too_small{0}, not_lfh{0}, failed{0};
};

struct Config {
  int threads = 8;
  std::uint64_t ops = 1000000;   // per thread
  std::uint64_t seed = 1;
};

constexpr std::size_t kSlots = 2048;
constexpr std::size_t kBatch = 32;   // blocks handed over per inbox lock

class Worker {
 public:
  Worker(int id, const Config &cfg, std::vector<Inbox> &inboxes, Counters &c, stress::OwnsFn owns)
      : id_(id), cfg_(cfg), inboxes_(inboxes), c_(c), owns_(owns), rng_(cfg.seed * 1000 + std::uint64_t(id)),
        slots_(kSlots), outgoing_(std::size_t(cfg.threads)) {}

  void run() {
    for (std::uint64_t i = 0; i < cfg_.ops; ++i) {
      Block &b = slots_[rng_.below(kSlots)];
      if (!b.p) {
        allocate(b);
      } else {
        std::uint64_t what = rng_.below(100);
        if (what < 20 && cfg_.threads > 1) hand_over(b);
        else if (what < 25) reallocate(b);
        else release(b);
      }
      if ((i & 127) == 0) drain_inbox();
    }
    for (Block &b : slots_)
      if (b.p) release(b);
    for (std::size_t t = 0; t < outgoing_.size(); ++t) flush(t);
    c_.ops += cfg_.ops;
  }

  // Check and free one block (also used by main for what is left in the inboxes).
  static void check_and_free(Block &b, Counters &c) {
    if (!stress::check_block(b.p, b.n, b.seed, b.n)) c.corrupt++;
    std::free(b.p);
    b.p = nullptr;
  }

 private:
  // `align`: what the caller asked for (0: plain malloc). lfh's rule for plain blocks: 16-aligned
  // when the request or the block size is a multiple of 16, else 8 (bucket_table.h).
  void note_new(Block &b, std::size_t align) {
    const std::size_t usable = malloc_usable_size(b.p);
    if (!align) align = b.n % 16 == 0 || usable % 16 == 0 ? 16 : 8;
    if (reinterpret_cast<std::uintptr_t>(b.p) % align) {
      if (c_.misaligned++ < 10)
        std::fprintf(stderr, "misaligned: %p size %zu usable %zu wanted alignment %zu\n", b.p, b.n, usable, align);
    }
    if (usable < b.n) c_.too_small++;
    if (owns_ && (c_.allocs.load(std::memory_order_relaxed) & 255) == 0 && !owns_(b.p)) c_.not_lfh++;
    c_.allocs.fetch_add(1, std::memory_order_relaxed);
  }

  void allocate(Block &b) {
    const std::size_t n = stress::heavy_tailed_size(rng_);
    std::size_t align = 0;
    std::uint64_t how = rng_.below(100);
    bool zeroed = false;
    if (how < 3) {
      b.p = std::calloc(1, n);
      zeroed = true;
    } else if (how < 5) {
      align = std::size_t(1) << rng_.between(4, 13);   // 16 .. 8192
      if (posix_memalign(&b.p, align, n) != 0) b.p = nullptr;
    } else {
      b.p = std::malloc(n);
    }
    if (!b.p) {
      c_.failed++;
      return;
    }
    b.n = n;
    if (zeroed && !stress::zero_block(b.p, n)) c_.corrupt++;
    note_new(b, align);
    b.seed = stress::seed_for(b.p, n);
    stress::fill_block(b.p, n, b.seed);
  }

  void release(Block &b) { check_and_free(b, c_); }

  void reallocate(Block &b) {
    const std::size_t n = stress::heavy_tailed_size(rng_);
    const std::size_t keep = n < b.n ? n : b.n;
    if (!stress::check_block(b.p, b.n, b.seed, b.n)) c_.corrupt++;
    void *q = std::realloc(b.p, n);
    if (!q) {
      c_.failed++;
      return;
    }
    // The old pattern survives in the first min(old, new) bytes.
    if (!stress::check_block(q, b.n, b.seed, keep)) c_.corrupt++;
    b.p = q;
    b.n = n;
    note_new(b, 0);
    b.seed = stress::seed_for(q, n);
    stress::fill_block(q, n, b.seed);
    c_.reallocs.fetch_add(1, std::memory_order_relaxed);
  }

  void hand_over(Block &b) {
    std::size_t to = std::size_t(rng_.below(std::uint64_t(cfg_.threads - 1)));
    if (to >= std::size_t(id_)) ++to;
    outgoing_[to].push_back(b);
    b.p = nullptr;
    if (outgoing_[to].size() >= kBatch) flush(to);
  }

  void flush(std::size_t to) {
    if (outgoing_[to].empty()) return;
    c_.handed.fetch_add(outgoing_[to].size(), std::memory_order_relaxed);
    std::lock_guard<std::mutex> g(inboxes_[to].lock);
    auto &dst = inboxes_[to].blocks;
    dst.insert(dst.end(), outgoing_[to].begin(), outgoing_[to].end());
    outgoing_[to].clear();
  }

  void drain_inbox() {
    {
      std::lock_guard<std::mutex> g(inboxes_[std::size_t(id_)].lock);
      incoming_.swap(inboxes_[std::size_t(id_)].blocks);
    }
    c_.received.fetch_add(incoming_.size(), std::memory_order_relaxed);
    for (Block &b : incoming_) check_and_free(b, c_);
    incoming_.clear();
  }

  int id_;
  const Config &cfg_;
  std::vector<Inbox> &inboxes_;
  Counters &c_;
  stress::OwnsFn owns_;
  stress::Rng rng_;
  std::vector<Block> slots_;
  std::vector<std::vector<Block>> outgoing_;
  std::vector<Block> incoming_;
};

}  // namespace

int main(int argc, char **argv) {
  if (!stress::require_lfh(argc, argv)) return 1;
  Config cfg;
  bool ops_given = false, threads_given = false, soak = false;
  int watchdog_s = 300;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) cfg.threads = std::atoi(argv[++i]), threads_given = true;
    else if (!std::strcmp(argv[i], "--watchdog") && i + 1 < argc) watchdog_s = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--ops") && i + 1 < argc) cfg.ops = std::strtoull(argv[++i], nullptr, 0), ops_given = true;
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) cfg.seed = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--long")) soak = true;
  }
  if (soak && !ops_given) cfg.ops = 50000000;
  if (soak && !threads_given) cfg.threads = 32;
  stress::start_watchdog(soak ? 0 : watchdog_s);
  if (cfg.threads < 1) cfg.threads = 1;

  const auto start = std::chrono::steady_clock::now();
  std::vector<Inbox> inboxes(std::size_t(cfg.threads));
  Counters c;
  stress::OwnsFn owns = stress::lfh_owns_fn();
  std::vector<std::thread> threads;
  for (int t = 0; t < cfg.threads; ++t)
    threads.emplace_back([&, t] { Worker(t, cfg, inboxes, c, owns).run(); });
  for (auto &t : threads) t.join();
  for (Inbox &in : inboxes) {   // blocks handed over after their receiver finished
    c.received += in.blocks.size();
    for (Block &b : in.blocks) Worker::check_and_free(b, c);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int valid = stress::validate_lfh();

  std::printf("%d threads, %llu ops (%llu allocs, %llu reallocs, %llu handed over, %llu received) in %.2f s%s\n",
              cfg.threads, (unsigned long long)c.ops.load(), (unsigned long long)c.allocs.load(),
              (unsigned long long)c.reallocs.load(), (unsigned long long)c.handed.load(),
              (unsigned long long)c.received.load(), secs, owns ? " on lfh" : "");
  std::printf("corrupt %llu, misaligned %llu, usable size too small %llu, not lfh's %llu, failed %llu, lfh_validate %s\n",
              (unsigned long long)c.corrupt.load(), (unsigned long long)c.misaligned.load(),
              (unsigned long long)c.too_small.load(), (unsigned long long)c.not_lfh.load(),
              (unsigned long long)c.failed.load(), stress::validate_text(valid));
  const bool ok = valid != 0 && c.corrupt == 0 && c.misaligned == 0 && c.too_small == 0 && c.not_lfh == 0 && c.failed == 0 &&
                  c.handed == c.received && c.allocs > 0;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
