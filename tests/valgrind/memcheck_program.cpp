// A program for memcheck with lfh preloaded (run_memcheck.sh): plenty of correct allocation work
// on every tier, in several threads, through malloc & co., new/delete and the C++ library — and,
// with --errors, three planted bugs of its own:
//   1. a read one byte past the end of a 20-byte block   (bug_read_past_end)
//   2. a read of a block after it was freed              (bug_use_after_free)
//   3. a 100-byte block leaked (its only pointer lost)    (bug_leak)
// Memcheck must report exactly those, in these functions, and nothing inside lfh.
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile unsigned char g_sink;

__attribute__((noinline)) void bug_read_past_end() {
  auto *p = static_cast<unsigned char *>(std::malloc(20));
  std::memset(p, 1, 20);
  g_sink = p[20];   // one past the end
  std::free(p);
}

__attribute__((noinline)) void bug_use_after_free() {
  auto *p = static_cast<unsigned char *>(std::malloc(64));
  std::memset(p, 2, 64);
  std::free(p);
  g_sink = p[8];    // after free
}

void *volatile g_lost;
__attribute__((noinline)) void bug_leak() {
  g_lost = std::malloc(100);
  std::memset(g_lost, 3, 100);
  g_lost = nullptr;   // the only pointer to it
}

// Correct work: every tier, realloc across tiers, calloc, aligned blocks, C++ containers.
void work(unsigned seed, int rounds) {
  unsigned x = seed * 2654435761u + 1;
  auto next = [&] { return x = x * 1103515245u + 12345u; };
  std::vector<void *> live(64, nullptr);
  std::vector<std::size_t> size(64, 0);
  for (int i = 0; i < rounds; ++i) {
    const unsigned k = next() % 64;
    const unsigned r = next() % 1000;
    std::size_t n = r < 700 ? next() % 512 + 1 : r < 950 ? next() % 16384 + 1 : r < 995 ? next() % 500000 + 16385
                                                                                       : next() % (2u << 20) + (1u << 20);
    if (!live[k]) {
      if (r % 7 == 0) {
        live[k] = std::calloc(1, n);
        for (std::size_t j = 0; j < n; j += 97)
          if (static_cast<unsigned char *>(live[k])[j]) std::abort();
      } else if (r % 11 == 0) {
        if (posix_memalign(&live[k], std::size_t(64) << (r % 6), n)) live[k] = nullptr;
      } else {
        live[k] = std::malloc(n);
      }
      if (!live[k]) std::abort();
      std::memset(live[k], int(k), n);
      size[k] = n;
    } else if (r % 4 == 0) {
      void *q = std::realloc(live[k], n);
      if (!q) std::abort();
      const std::size_t keep = n < size[k] ? n : size[k];
      for (std::size_t j = 0; j < keep; j += 61)
        if (static_cast<unsigned char *>(q)[j] != k) std::abort();
      std::memset(q, int(k), n);
      live[k] = q;
      size[k] = n;
    } else {
      std::free(live[k]);
      live[k] = nullptr;
    }
  }
  for (void *p : live) std::free(p);
  std::map<int, std::string> m;
  for (int i = 0; i < rounds / 10; ++i) m[i % 300] = std::string(std::size_t(i % 200), char('a' + i % 26));
  std::vector<std::vector<int>> vv(50);
  for (int i = 0; i < rounds / 10; ++i) vv[std::size_t(i) % 50].push_back(i);
  auto *arr = new long[1000];
  arr[999] = 1;
  delete[] arr;
}

}  // namespace

int main(int argc, char **argv) {
  const bool errors = argc > 1 && std::strcmp(argv[1], "--errors") == 0;
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 4; ++t) ts.emplace_back(work, t + 1, 10000);
  work(99, 10000);
  for (auto &t : ts) t.join();
  if (errors) {
    bug_read_past_end();
    bug_use_after_free();
    bug_leak();
  }
  std::printf("done%s\n", errors ? " (with 3 planted bugs)" : "");
  return 0;
}
