// thread_bursts — many threads, each allocating and freeing in bursts (thread-local peaks).
//
// T lanes run in parallel (T = --threads); each lane is worked by a succession of short-lived
// threads (64 in all, split over the lanes). Each thread makes 3 bursts: it allocates 20000 blocks
// of 16..4096 bytes (log-uniform; about 15 MB), stamps them, then frees them all — half in the
// order they were made, half newest first — and after its last burst it exits. So at any time about
// T threads are at their peak while the memory of many finished threads is free: a good allocator
// reuses it (peak RSS near T × 15 MB) instead of keeping each dead thread's memory to itself.
// Check: every block's stamp before it is freed.
#include "common.h"

namespace {
constexpr std::size_t kBurst = 20'000;
constexpr int kBurstsPerThread = 3;

struct Block {
  void *p;
  std::uint32_t size;
};

void one_thread(std::uint64_t seed, wl::Check &check, std::uint64_t &blocks) {
  wl::Rng rng(seed);
  std::vector<Block> v(kBurst);
  for (int b = 0; b < kBurstsPerThread; ++b) {
    for (auto &blk : v) {
      blk.size = static_cast<std::uint32_t>(rng.log_range(16, 4096));
      blk.p = std::malloc(blk.size);
      if (!blk.p) std::abort();
      wl::stamp(blk.p, blk.size, reinterpret_cast<std::uintptr_t>(blk.p) ^ seed);
    }
    auto release = [&](Block &blk) {
      if (!wl::stamp_ok(blk.p, blk.size, reinterpret_cast<std::uintptr_t>(blk.p) ^ seed))
        check.fail("block %p (%u bytes) overwritten", blk.p, blk.size);
      std::free(blk.p);
    };
    for (std::size_t i = 0; i < kBurst / 2; ++i) release(v[i]);
    for (std::size_t i = kBurst; i-- > kBurst / 2;) release(v[i]);
    blocks += kBurst;
  }
}

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t generations = o.work(64);
  wl::Check check;
  std::atomic<std::uint64_t> total_blocks{0};

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int lane) {
    std::uint64_t blocks = 0;
    std::uint64_t n = wl::share(generations, o.threads, lane);
    for (std::uint64_t g = 0; g < n; ++g) {
      std::thread t(one_thread, wl::mix(o.seed + static_cast<std::uint64_t>(lane), g), std::ref(check), std::ref(blocks));
      t.join();
    }
    total_blocks += blocks;
  });
  double secs = timer.seconds();
  if (total_blocks != generations * kBurstsPerThread * kBurst)
    check.fail("%" PRIu64 " blocks, expected %" PRIu64, total_blocks.load(), generations * kBurstsPerThread * kBurst);
  return wl::report("thread-bursts", o, secs, check,
                    wl::kv("threads_created", generations) + wl::kv("blocks", total_blocks.load()));
}
