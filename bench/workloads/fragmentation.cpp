// fragmentation — a phase that leaves a sparse survivor set, then phases of other sizes; peak RSS
// is the number that matters here.
//
// Each thread (the volume is split over the threads):
//   A. allocates 64 MB of small blocks (16..256 bytes), then frees 90 % of them at random: the
//      survivors (10 %) are spread thinly over all the memory phase A used;
//   B. allocates 48 MB of medium blocks (512 bytes..8 KB), then frees 90 % of them at random;
//   C. allocates 48 MB of large blocks (16 KB..256 KB), then frees them all;
//   D. allocates 32 MB of small blocks again (16..256 bytes), then frees them all;
// and then the same again (the survivors of the first pass stay), and frees everything.
// An allocator that can reuse the free space phase A left behind for phases B–D (or return it to
// the system) peaks near 64 MB plus the survivors (about 22 MB after both passes); one that
// cannot peaks near the sum of the phases. Check: every block's stamp when it is freed.
#include <algorithm>

#include "common.h"

namespace {

struct Block {
  void *p;
  std::uint32_t size;
};

struct Worker {
  wl::Rng rng;
  wl::Check &check;
  std::vector<Block> survivors;

  void release(Block &b) {
    if (!wl::stamp_ok(b.p, b.size, reinterpret_cast<std::uintptr_t>(b.p))) check.fail("block %p (%u bytes) overwritten", b.p, b.size);
    std::free(b.p);
  }
  // Allocates `volume` bytes in blocks of lo..hi; keeps `keep_per_mille` of them (chosen at
  // random) and frees the rest in random order.
  void phase(std::uint64_t volume, std::uint64_t lo, std::uint64_t hi, unsigned keep_per_mille) {
    std::vector<Block> v;
    for (std::uint64_t got = 0; got < volume;) {
      auto size = static_cast<std::uint32_t>(rng.log_range(lo, hi));
      void *p = std::malloc(size);
      if (!p) std::abort();
      wl::stamp(p, size, reinterpret_cast<std::uintptr_t>(p));
      v.push_back({p, size});
      got += size;
    }
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);  // shuffle
    for (auto &b : v) {
      if (rng.below(1000) < keep_per_mille)
        survivors.push_back(b);
      else
        release(b);
    }
  }
};

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t mb = o.work(1 << 20);  // "1 MB" scaled
  wl::Check check;

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    Worker w{wl::Rng(o.seed + static_cast<std::uint64_t>(t)), check, {}};
    const std::uint64_t n = static_cast<std::uint64_t>(o.threads);
    for (int cycle = 0; cycle < 2; ++cycle) {
      w.phase(64 * mb / n, 16, 256, 100);
      w.phase(48 * mb / n, 512, 8192, 100);
      w.phase(48 * mb / n, 16384, 262144, 0);
      w.phase(32 * mb / n, 16, 256, 0);
    }
    for (auto &b : w.survivors) w.release(b);
  });
  double secs = timer.seconds();
  return wl::report("fragmentation", o, secs, check);
}
