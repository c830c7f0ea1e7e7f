// Conformance of the standard allocation functions: C (malloc, calloc, realloc, reallocarray,
// posix_memalign, aligned_alloc), glibc extras (memalign, valloc, pvalloc, malloc_usable_size) and
// C++ new/delete. Not linked with lfh: CTest runs it once on glibc (the baseline) and once with
// LD_PRELOAD=liblfh.so and --lfh, which also checks through lfh_owns() that every block really
// comes from lfh. With --commit-limit BYTES (and LFH_COMMIT_LIMIT set to it) it checks that the
// limit makes allocations fail with ENOMEM.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using lfh_test::aligned;
using lfh_test::launder;

namespace {

int g_passed = 0, g_failed = 0;
bool g_lfh = false;                        // --lfh: running on lfh, check ownership
int (*g_owns)(const void *) = nullptr;     // lfh_owns, when lfh is loaded

void expect(bool ok, const char *what, int line) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED line %d: %s\n", line, what);
  }
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

// Every live block handed out while lfh is loaded must be one of lfh's.
#define EXPECT_OURS(p) expect(!g_lfh || (g_owns && g_owns(p)), "lfh_owns(" #p ")", __LINE__)

volatile std::size_t g_huge = SIZE_MAX / 2;
volatile std::size_t g_max = SIZE_MAX;

void test_malloc_free() {
  void *a = launder(malloc(0)), *b = launder(malloc(0));
  EXPECT(a != nullptr && b != nullptr && a != b);
  EXPECT_OURS(a);
  free(a);
  free(b);
  for (std::size_t n : {1, 7, 8, 16, 100, 1024, 16384, 16385, 100000, 3000000}) {
    char *p = static_cast<char *>(launder(malloc(n)));
    EXPECT(p != nullptr);
    if (!p) continue;
    // 16-aligned when the request or the block size is a multiple of 16 (lfh's rule), else 8.
    EXPECT(aligned(p, n % 16 == 0 || malloc_usable_size(p) % 16 == 0 ? 16 : 8));
    EXPECT(malloc_usable_size(p) >= n);
    EXPECT_OURS(p);
    memset(p, 0xa5, n);
    free(p);
    if (g_lfh) EXPECT(!g_owns(p));
  }
  EXPECT(malloc_usable_size(nullptr) == 0);
  errno = 0;
  EXPECT(malloc(g_huge) == nullptr && errno == ENOMEM);
  errno = 0;
  EXPECT(malloc(g_max) == nullptr && errno == ENOMEM);
  // free(NULL) is a no-op and free never changes errno.
  errno = 77;
  free(nullptr);
  EXPECT(errno == 77);
  void *big = malloc(1 << 20), *small = malloc(10);
  errno = 78;
  free(big);
  free(small);
  EXPECT(errno == 78);
}

void test_calloc() {
  for (std::size_t n : {1, 64, 5000, 16384, 200000}) {
    void *dirty = launder(malloc(n));
    memset(dirty, 0xff, n);
    free(dirty);
    void *p = launder(calloc(1, n));
    EXPECT(p != nullptr && lfh_test::all_zero(p, n));
    EXPECT_OURS(p);
    free(p);
  }
  void *p = launder(calloc(0, 0));
  EXPECT(p != nullptr);
  free(p);
  errno = 0;
  EXPECT(calloc(g_huge, 4) == nullptr && errno == ENOMEM);
  errno = 0;
  EXPECT(calloc(g_max, g_max) == nullptr && errno == ENOMEM);
}

void test_realloc() {
  char *p = static_cast<char *>(launder(realloc(nullptr, 50)));   // realloc(NULL) is malloc
  EXPECT(p != nullptr);
  EXPECT_OURS(p);
  for (int i = 0; i < 50; ++i) p[i] = char(i);
  // Grow through the size ranges and back; the contents survive.
  std::size_t keep = 50;
  for (std::size_t n : {200, 4000, 16384, 70000, 2000000, 20000, 3000, 40}) {
    p = static_cast<char *>(launder(realloc(p, n)));
    EXPECT(p != nullptr);
    EXPECT_OURS(p);
    bool same = true;
    for (std::size_t i = 0; i < keep && i < n; ++i) same &= p[i] == char(i);
    EXPECT(same);
    for (std::size_t i = 0; i < n; ++i) p[i] = char(i);
    keep = n;
  }
  // A failed realloc leaves the block as it was.
  errno = 0;
  EXPECT(realloc(launder(p), g_huge) == nullptr && errno == ENOMEM);
  EXPECT(p[39] == char(39));
  EXPECT_OURS(p);
  // glibc: realloc(p, 0) frees p and returns NULL.
  EXPECT(realloc(p, 0) == nullptr);
  if (g_lfh) EXPECT(!g_owns(p));

  char *q = static_cast<char *>(launder(reallocarray(nullptr, 10, 10)));
  EXPECT(q != nullptr);
  memset(q, 1, 100);
  errno = 0;
  EXPECT(reallocarray(launder(q), g_huge, 4) == nullptr && errno == ENOMEM);
  EXPECT(q[99] == 1);
  q = static_cast<char *>(reallocarray(q, 100, 100));
  EXPECT(q != nullptr && q[99] == 1 && malloc_usable_size(q) >= 10000);
  EXPECT_OURS(q);
  free(q);
}

void test_aligned() {
  std::vector<std::size_t> aligns;
  for (std::size_t a = 8; a <= 4096; a *= 2) aligns.push_back(a);
  aligns.push_back(65536);
  aligns.push_back(1 << 20);
  for (std::size_t a : aligns) {
    for (std::size_t n : {std::size_t(1), a, a + 1, std::size_t(10000)}) {
      void *p1 = reinterpret_cast<void *>(1);
      EXPECT(posix_memalign(&p1, a, n) == 0);
      void *p2 = launder(aligned_alloc(a, n));
      void *p3 = launder(memalign(a, n));
      for (void *p : {p1, p2, p3}) {
        EXPECT(p != nullptr && aligned(p, a) && malloc_usable_size(p) >= n);
        EXPECT_OURS(p);
        if (p) memset(p, 0x5a, n);
      }
      free(p1);
      free(p2);
      free(p3);
    }
  }
  // posix_memalign: a bad alignment is EINVAL and *memptr is untouched.
  for (std::size_t a : {0, 1, 4, 12, 24, 4097}) {
    void *out = reinterpret_cast<void *>(0x5eed);
    EXPECT(posix_memalign(&out, a, 8) == EINVAL && out == reinterpret_cast<void *>(0x5eed));
  }
  void *out = reinterpret_cast<void *>(0x5eed);
  EXPECT(posix_memalign(&out, 64, g_huge) == ENOMEM && out == reinterpret_cast<void *>(0x5eed));
  // aligned_alloc with an alignment that is not a power of two: EINVAL (C17, glibc ≥ 2.38, lfh).
  // Older glibc treats it like memalign (rounds up); the baseline run accepts that too.
  for (std::size_t a : {3, 24, 100}) {
    errno = 0;
    void *p = aligned_alloc(a, 64);
    if (g_lfh) EXPECT(p == nullptr && errno == EINVAL);
    else EXPECT((p == nullptr && errno == EINVAL) || (p != nullptr && aligned(p, std::size_t(1) << (64 - __builtin_clzl(a)))));
    free(p);
  }
  // memalign rounds a non-power-of-two up; valloc/pvalloc are page aligned, pvalloc rounds up.
  volatile std::size_t odd = 24;   // not a constant: clang rejects a constant non-power-of-two alignment
  void *m = launder(memalign(odd, 10));
  EXPECT(m != nullptr && aligned(m, 32));
  free(m);
  void *v = launder(valloc(100));
  EXPECT(v != nullptr && aligned(v, 4096));
  EXPECT_OURS(v);
  free(v);
  void *pv = launder(pvalloc(1));
  EXPECT(pv != nullptr && aligned(pv, 4096) && malloc_usable_size(pv) >= 4096);
  EXPECT_OURS(pv);
  free(pv);
}

struct alignas(256) Wide {
  char bytes[300];
};

void test_new_delete() {
  int *one = new int(7);
  int *many = new int[1000]();
  Wide *w = new Wide;
  Wide *ws = new Wide[3];
  EXPECT(*one == 7 && many[999] == 0);
  EXPECT(aligned(w, 256) && aligned(ws, 256));
  EXPECT_OURS(one);
  EXPECT_OURS(many);
  EXPECT_OURS(w);
  delete one;
  delete[] many;
  delete w;
  delete[] ws;

  bool threw = false;
  try {
    void *p = ::operator new(g_huge);
    ::operator delete(p);
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  EXPECT(threw);
  threw = false;
  try {
    void *p = ::operator new(g_huge, std::align_val_t(64));
    ::operator delete(p, std::align_val_t(64));
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  EXPECT(threw);
  EXPECT(::operator new(g_huge, std::nothrow) == nullptr);
  EXPECT(::operator new[](g_huge, std::nothrow) == nullptr);

  std::string s(100000, 'x');   // libstdc++'s own allocations
  EXPECT_OURS(s.data());
  std::vector<std::string> v(1000, std::string(40, 'y'));
  EXPECT(v[999][39] == 'y');
}

void test_libc_allocations() {
  char *s = strdup("allocated inside libc");
  EXPECT(s != nullptr && strcmp(s, "allocated inside libc") == 0);
  EXPECT_OURS(s);
  free(s);
  char *a = nullptr;
  EXPECT(asprintf(&a, "%d-%s", 42, "x") > 0 && strcmp(a, "42-x") == 0);
  EXPECT_OURS(a);
  free(a);
}

void test_cross_thread_free() {
  std::vector<void *> blocks;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) blocks.push_back(malloc(std::size_t(1 + i * 17)));
  });
  producer.join();
  std::thread consumer([&] {
    for (void *p : blocks) free(p);
  });
  consumer.join();
  EXPECT(true);
}

void test_commit_limit(std::size_t limit) {
  errno = 0;
  void *too_big = malloc(2 * limit);
  EXPECT(too_big == nullptr && errno == ENOMEM);
  void *fits = malloc(limit / 8);
  EXPECT(fits != nullptr);
  free(fits);
  // Filling up to the limit fails cleanly, and freeing makes room again.
  std::vector<void *> held;
  const std::size_t most = 2 * limit / 60000 + 16;   // more than the limit can hold
  held.reserve(most);
  int err = 0;
  for (std::size_t i = 0; i < most; ++i) {
    errno = 0;
    void *p = malloc(60000);
    if (!p) {
      err = errno;
      break;
    }
    held.push_back(p);
  }
  EXPECT(err == ENOMEM);
  for (void *p : held) free(p);
  void *again = malloc(limit / 8);
  EXPECT(again != nullptr);
  free(again);
}

}  // namespace

int main(int argc, char **argv) {
  std::size_t limit = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--lfh") == 0) g_lfh = true;
    else if (strcmp(argv[i], "--commit-limit") == 0 && i + 1 < argc) limit = std::strtoull(argv[++i], nullptr, 0);
  }
  g_owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "lfh_owns"));
  if (g_lfh && !g_owns) {
    std::printf("FAILED: --lfh given but lfh_owns is not in the process (is LD_PRELOAD set?)\n");
    return 1;
  }
  if (!g_lfh && g_owns) {
    std::printf("FAILED: baseline run but lfh is loaded\n");
    return 1;
  }
  if (limit) {
    test_commit_limit(limit);
  } else {
    test_malloc_free();
    test_calloc();
    test_realloc();
    test_aligned();
    test_new_delete();
    test_libc_allocations();
    test_cross_thread_free();
  }
  std::printf("%d passed, %d failed (%s)\n", g_passed, g_failed, g_lfh ? "lfh" : "system malloc");
  return g_failed == 0 && g_passed > 0 ? 0 : 1;
}
