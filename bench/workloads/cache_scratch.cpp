// cache_scratch — passive false sharing provoked by the allocator (Hoard's cache-scratch pattern).
//
// The main thread allocates one small object (8 bytes) per thread, one right after the other — so
// they are likely to share a cache line — and hands object i to thread i. Each thread frees the
// object it was given, then repeatedly allocates a small object of the same size, writes and
// re-reads every byte many times, and frees it. An allocator that hands the freed object (still in
// a line shared with the other threads' objects) back to the thread that freed it makes the
// threads write to the same cache line: false sharing that the program never asked for. The total
// amount of work is fixed and split over the threads.
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

  std::vector<unsigned char *> given(static_cast<std::size_t>(o.threads));
  for (auto &p : given) {
    p = new unsigned char[kObjSize];
    std::memset(p, 0, kObjSize);
  }

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    delete[] given[static_cast<std::size_t>(t)];
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
  return wl::report("cache-scratch", o, secs, check, wl::kv("objects", total_iterations));
}
