// cache_thrash — active false sharing provoked by the allocator (Hoard's cache-thrash pattern).
//
// Each of T threads repeatedly allocates a small object (8 bytes), writes and re-reads every byte
// of it many times, and frees it. Nothing is shared between the threads; but if the allocator
// hands two threads objects in the same cache line, every write of one thread invalidates the
// line in the other's cache and the loop becomes many times slower. The total amount of work is
// fixed and split over the threads.
// Check: the sum of all bytes read back equals the closed-form value.
#include "common.h"

namespace {
constexpr std::size_t kObjSize = 8;
constexpr std::uint64_t kRepetitions = 20'000;
}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t total_iterations = o.work(16'000);
  wl::Check check;
  std::atomic<std::uint64_t> total_sum{0};

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = wl::share(total_iterations, o.threads, t); i > 0; --i) {
      volatile unsigned char *obj = new unsigned char[kObjSize];
      for (std::uint64_t r = 0; r < kRepetitions; ++r) {
        for (std::size_t k = 0; k < kObjSize; ++k) {
          obj[k] = static_cast<unsigned char>(k + r);
          sum += obj[k];
        }
      }
      delete[] obj;
    }
    total_sum += sum;
  });
  double secs = timer.seconds();

  std::uint64_t per_object = 0;
  for (std::uint64_t r = 0; r < kRepetitions; ++r)
    for (std::size_t k = 0; k < kObjSize; ++k) per_object += static_cast<unsigned char>(k + r);
  if (total_sum != per_object * total_iterations)
    check.fail("sum %" PRIu64 ", expected %" PRIu64, total_sum.load(), per_object * total_iterations);
  return wl::report("cache-thrash", o, secs, check, wl::kv("objects", total_iterations));
}
