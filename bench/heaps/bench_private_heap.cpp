// Private heaps vs the alternatives for "build a large structure, then drop it whole":
// allocate 1 M small objects (16–140 bytes) and write each (objects are used), then release them
//   - malloc/free one by one (this binary keeps glibc's malloc: it links lfh's internals only),
//   - lfh_malloc/lfh_free one by one (lfh's process heap),
//   - a private lfh heap and one lfh_heap_destroy,
//   - a std::pmr::monotonic_buffer_resource (upstream: new_delete_resource) released at once.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory_resource>
#include <vector>

#include "lfh/lfh.h"

namespace {

constexpr int kObjects = 1000000;

std::size_t size_of(int i) { return 16 + std::size_t((i * 2654435761u) >> 27) * 4; }   // 16..140

inline void *touch(void *p) {
  *static_cast<volatile char *>(p) = 1;
  return p;
}

void BM_malloc_free_each(benchmark::State &st) {
  std::vector<void *> v(kObjects);
  for (auto _ : st) {
    for (int i = 0; i < kObjects; ++i) v[i] = touch(std::malloc(size_of(i)));
    for (int i = 0; i < kObjects; ++i) std::free(v[i]);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * kObjects);
}

void BM_lfh_malloc_free_each(benchmark::State &st) {
  std::vector<void *> v(kObjects);
  for (auto _ : st) {
    for (int i = 0; i < kObjects; ++i) v[i] = touch(lfh_malloc(size_of(i)));
    for (int i = 0; i < kObjects; ++i) lfh_free(v[i]);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * kObjects);
}

void BM_lfh_private_heap_destroy(benchmark::State &st, unsigned flags) {
  for (auto _ : st) {
    lfh_heap_t *h = lfh_heap_create(flags, 0, 0);
    for (int i = 0; i < kObjects; ++i) touch(lfh_heap_alloc(h, 0, size_of(i)));
    lfh_heap_destroy(h);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * kObjects);
}

void BM_pmr_monotonic_release(benchmark::State &st) {
  for (auto _ : st) {
    std::pmr::monotonic_buffer_resource r;
    for (int i = 0; i < kObjects; ++i) touch(r.allocate(size_of(i), 16));
    r.release();
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * kObjects);
}

}  // namespace

BENCHMARK(BM_malloc_free_each)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lfh_malloc_free_each)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_lfh_private_heap_destroy, serialized, 0u)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_lfh_private_heap_destroy, no_serialize, unsigned(LFH_HEAP_NO_SERIALIZE))->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pmr_monotonic_release)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
