// cpu_scaling — not an allocator workload: how much parallelism the machine gives us right now.
//
// Runs the same fixed amount of pure arithmetic (no memory, no allocation) on 1 thread and then
// split over N threads (default 2) and prints the speed-up. On an idle machine with N free cores
// it is close to N; on a shared machine where other jobs take CPU time it is lower, and so is any
// allocator's multi-thread scaling measured at the same time. run_bench.py runs it once per round
// and puts the median in the report next to the Larson scaling target.
#include "common.h"

namespace {
std::uint64_t spin(std::uint64_t n) {
  std::uint64_t x = 1;
  for (std::uint64_t i = 0; i < n; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}
}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  if (o.threads < 2) o.threads = 2;
  const std::uint64_t total = o.work(300'000'000);
  std::atomic<std::uint64_t> sink{0};
  wl::Timer t1;
  sink += spin(total);
  double one = t1.seconds();
  wl::Timer tn;
  wl::run_threads(o.threads, [&](int i) { sink += spin(wl::share(total, o.threads, i)); });
  double many = tn.seconds();
  std::printf("RESULT name=cpu-scaling threads=%d seconds_1=%.4f seconds_n=%.4f speedup=%.3f sink=%llu\n", o.threads, one,
              many, one / many, static_cast<unsigned long long>(sink.load() & 1));
  return 0;
}
