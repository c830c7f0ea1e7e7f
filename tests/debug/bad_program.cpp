// bad_program — the catalogue of heap bugs the debug layer must catch. Not linked with lfh: the
// tests run it under LD_PRELOAD=liblfh.so with LFH_PAGEHEAP / LFH_DEBUG settings (see
// CMakeLists.txt) and check that it dies abnormally with the right `lfh:` line and block size.
//
//   bad_program CASE      — one bug; with no bug detected it prints "not detected" and exits 0.
//
// Every block has a size of its own (37, 4099, 100000, …) so a test can check that the report
// names the right block. Pointers go through launder() so the compiler cannot see (or fold away)
// the bug.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cstddef>

namespace {

template <class T> T *launder(T *p) {
  __asm__ volatile("" : "+r"(p)::"memory");
  return p;
}

char *alloc(size_t n) { return launder(static_cast<char *>(malloc(n))); }

int not_detected(const char *what) {
  printf("not detected: %s\n", what);
  return 0;
}

struct WithDtor {
  ~WithDtor() { x = 0; }
  int x = 1;
};

// lfh's private-heap API, found at run time (the program is not linked with lfh).
using heap_create_t = void *(*)(unsigned, size_t, size_t);
using heap_alloc_t = void *(*)(void *, unsigned, size_t);
using heap_free_t = int (*)(void *, unsigned, void *);

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bad_program CASE\n");
    return 2;
  }
  const char *c = argv[1];
  if (!strcmp(c, "overrun1")) {   // one byte past the end of 37
    char *p = alloc(37);
    p[37] = 'x';
    free(p);
    return not_detected(c);
  }
  if (!strcmp(c, "overrun_page")) {   // a whole page past the end of 4099
    char *p = alloc(4099);
    memset(p, 'x', 4099 + 4096);
    free(p);
    return not_detected(c);
  }
  if (!strcmp(c, "underrun1")) {   // one byte before the start of 53
    char *p = alloc(53);
    p[-1] = 'x';
    free(p);
    return not_detected(c);
  }
  if (!strcmp(c, "read_after_free")) {   // 61
    char *p = alloc(61);
    memset(p, 1, 61);
    free(p);
    volatile char v = launder(p)[10];
    printf("read %d\n", v);
    return not_detected(c);
  }
  if (!strcmp(c, "write_after_free")) {   // 77, then the same size again (the block is reused)
    char *p = alloc(77);
    free(p);
    launder(p)[20] = 'x';
    for (int i = 0; i < 64; ++i) free(alloc(77));
    return not_detected(c);
  }
  if (!strcmp(c, "double_free_lfh")) {   // 93
    char *p = alloc(93);
    free(p);
    free(launder(p));
    return not_detected(c);
  }
  if (!strcmp(c, "double_free_core")) {   // 100000: the core heap's tier
    char *p = alloc(100000);
    free(p);
    free(launder(p));
    return not_detected(c);
  }
  if (!strcmp(c, "double_free_direct")) {   // 16 MB + 5: a direct block (above the 8 MB threshold)
    char *p = alloc(16777221);
    free(p);
    free(launder(p));
    return not_detected(c);
  }
  if (!strcmp(c, "free_stack")) {
    char local[64];
    local[0] = 0;
    free(launder(local));
    return not_detected(c);
  }
  if (!strcmp(c, "free_interior")) {   // 16 bytes into 117
    char *p = alloc(117);
    free(launder(p + 16));
    return not_detected(c);
  }
  if (!strcmp(c, "free_foreign_mmap")) {   // another allocator's memory
    void *m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    free(launder(static_cast<char *>(m) + 64));
    return not_detected(c);
  }
  if (!strcmp(c, "realloc_freed")) {   // 131
    char *p = alloc(131);
    free(p);
    void *q = realloc(launder(p), 262);
    printf("realloc gave %p\n", q);
    return not_detected(c);
  }
  if (!strcmp(c, "heap_overrun")) {   // one byte past 29 in a private heap
    auto create = reinterpret_cast<heap_create_t>(dlsym(RTLD_DEFAULT, "lfh_heap_create"));
    auto halloc = reinterpret_cast<heap_alloc_t>(dlsym(RTLD_DEFAULT, "lfh_heap_alloc"));
    auto hfree = reinterpret_cast<heap_free_t>(dlsym(RTLD_DEFAULT, "lfh_heap_free"));
    if (!create || !halloc || !hfree) {
      fprintf(stderr, "not running on lfh (no lfh_heap_create)\n");
      return 77;
    }
    void *h = create(0, 0, 0);
    char *p = launder(static_cast<char *>(halloc(h, 0, 29)));
    p[29] = 'x';
    hfree(h, 0, p);
    return not_detected(c);
  }
  if (!strcmp(c, "delete_array")) {   // delete of a new[] pointer (an array cookie before it)
    WithDtor *a = launder(new WithDtor[5]);
    delete a;   // NOLINT: the bug under test
    return not_detected(c);
  }
  fprintf(stderr, "unknown case %s\n", c);
  return 2;
}
