// good_program — correct use of every allocation API, run under each debug setting: the debug
// layer must not change any answer (usable size, alignment, contents) and must report nothing.
// Not linked with lfh (LD_PRELOAD); lfh's own API is found with dlsym.
//
//   good_program [exact] [unaligned] [quick]
//     exact      malloc_usable_size must be the requested size (every block is a debug block);
//                otherwise at least the requested size;
//     unaligned  LFH_PAGEHEAP_ALIGN=1: malloc's blocks end at a page end, whatever alignment that
//                gives them (explicit alignment requests are still checked);
//     quick      fewer iterations (LFH_DEBUG=validate checks the whole heap on every call).
// Exit 0 when every check passed; prints the first failure and exits 1 otherwise.
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

bool g_exact = false, g_unaligned = false, g_quick = false;
int g_failures = 0;

#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) {                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);              \
      fprintf(stderr, "\n");                     \
      ++g_failures;                              \
    }                                            \
  } while (0)

unsigned char pat(size_t i, unsigned seed) { return static_cast<unsigned char>(i * 131 + seed); }
void fill(void *p, size_t n, unsigned seed) {
  auto *b = static_cast<unsigned char *>(p);
  for (size_t i = 0; i < n; ++i) b[i] = pat(i, seed);
}
bool same(const void *p, size_t n, unsigned seed) {
  auto *b = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != pat(i, seed)) return false;
  return true;
}

void check_usable(void *p, size_t n) {
  size_t u = malloc_usable_size(p);
  if (g_exact) CHECK(u == n, "usable %zu for %zu", u, n);
  else CHECK(u >= n, "usable %zu for %zu", u, n);
  fill(p, u, 7);   // using all of it is allowed: it must not look like an overrun
}

void sizes() {
  static const size_t kSizes[] = {0, 1, 7, 8, 15, 16, 17, 24, 31, 48, 63, 100, 255, 256, 1000, 4095, 4096, 4097,
                                  16384, 16385, 100000, 1048575, 1048577, 3000000};
  std::vector<void *> live;
  for (size_t n : kSizes) {
    void *p = malloc(n);
    CHECK(p != nullptr, "malloc(%zu)", n);
    // lfh's LFH buckets of 8-byte granularity give 8-byte alignment below 16 KB.
    CHECK(g_unaligned || (reinterpret_cast<uintptr_t>(p) & 7) == 0, "malloc(%zu) = %p misaligned", n, p);
    check_usable(p, n);
    live.push_back(p);
    void *z = calloc(1, n);
    auto *b = static_cast<unsigned char *>(z);
    for (size_t i = 0; i < n; ++i)
      if (b[i]) {
        CHECK(false, "calloc(%zu) byte %zu is %d", n, i, b[i]);
        break;
      }
    free(z);
  }
  for (void *p : live) free(p);
}

void reallocs() {
  size_t n = 10;
  char *p = static_cast<char *>(malloc(n));
  fill(p, n, 3);
  for (size_t next : {20, 33, 300, 5000, 70000, 2000000, 100, 5, 0}) {
    if (next == 0) {
      p = static_cast<char *>(realloc(p, 0));   // frees
      CHECK(p == nullptr, "realloc(p, 0) returned %p", static_cast<void *>(p));
      break;
    }
    char *q = static_cast<char *>(realloc(p, next));
    CHECK(q != nullptr, "realloc to %zu", next);
    CHECK(same(q, n < next ? n : next, 3), "realloc %zu -> %zu lost content", n, next);
    check_usable(q, next);
    fill(q, next, 3);
    p = q;
    n = next;
  }
  void *r = realloc(nullptr, 40);   // = malloc
  check_usable(r, 40);
  free(r);
}

void aligned() {
  for (size_t a = 16; a <= 65536; a *= 2) {
    for (size_t n : {1, 24, 100, 5000, 200000}) {
      void *p = nullptr;
      CHECK(posix_memalign(&p, a, n) == 0, "posix_memalign(%zu, %zu)", a, n);
      CHECK((reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0, "posix_memalign(%zu) = %p", a, p);
      check_usable(p, n);
      free(p);
      void *q = aligned_alloc(a, n);
      CHECK((reinterpret_cast<uintptr_t>(q) & (a - 1)) == 0, "aligned_alloc(%zu) = %p", a, q);
      check_usable(q, n);
      free(q);
      void *r = memalign(a, n);
      CHECK((reinterpret_cast<uintptr_t>(r) & (a - 1)) == 0, "memalign(%zu) = %p", a, r);
      free(r);
    }
  }
  void *v = valloc(100);
  CHECK((reinterpret_cast<uintptr_t>(v) & 4095) == 0, "valloc = %p", v);
  free(v);
  void *pv = pvalloc(100);
  CHECK((reinterpret_cast<uintptr_t>(pv) & 4095) == 0, "pvalloc = %p", pv);
  free(pv);
  void *bad = nullptr;
  CHECK(posix_memalign(&bad, 24, 10) == EINVAL, "posix_memalign(24) must be EINVAL");
}

void cxx() {
  std::vector<std::string> v;
  for (int i = 0; i < (g_quick ? 200 : 2000); ++i) v.push_back(std::string(static_cast<size_t>(i % 300), 'a' + char(i % 26)));
  size_t total = 0;
  for (auto &s : v) total += s.size();
  CHECK(total > 0, "strings");
  int *a = new int[1000];
  for (int i = 0; i < 1000; ++i) a[i] = i;
  delete[] a;
  struct D {
    ~D() { x = 0; }
    long x = 5;
  };
  D *d = new D[7];
  delete[] d;
  D *one = new D;
  delete one;
}

void *worker(void *arg) {
  unsigned seed = static_cast<unsigned>(reinterpret_cast<uintptr_t>(arg));
  std::vector<void *> held;
  for (int i = 0; i < (g_quick ? 500 : 20000); ++i) {
    size_t n = (i * 37 + seed) % 3000;
    void *p = malloc(n);
    fill(p, n, seed);
    held.push_back(p);
    if (held.size() > 64) {
      size_t k = (i * 7) % held.size();
      free(held[k]);
      held[k] = held.back();
      held.pop_back();
    }
  }
  for (void *p : held) free(p);
  return nullptr;
}

void threads() {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], nullptr, worker, reinterpret_cast<void *>(uintptr_t(i + 1)));
  for (int i = 0; i < 4; ++i) pthread_join(t[i], nullptr);
}

void forks() {
  void *keep = malloc(123);
  pid_t pid = fork();
  if (pid == 0) {
    void *p = malloc(77);
    free(p);
    free(keep);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child status %d", status);
  free(keep);
}

// lfh's API through dlsym (the program is not linked with lfh).
void private_heaps() {
  auto create = reinterpret_cast<void *(*)(unsigned, size_t, size_t)>(dlsym(RTLD_DEFAULT, "lfh_heap_create"));
  auto destroy = reinterpret_cast<int (*)(void *)>(dlsym(RTLD_DEFAULT, "lfh_heap_destroy"));
  auto halloc = reinterpret_cast<void *(*)(void *, unsigned, size_t)>(dlsym(RTLD_DEFAULT, "lfh_heap_alloc"));
  auto hrealloc = reinterpret_cast<void *(*)(void *, unsigned, void *, size_t)>(dlsym(RTLD_DEFAULT, "lfh_heap_realloc"));
  auto hfree = reinterpret_cast<int (*)(void *, unsigned, void *)>(dlsym(RTLD_DEFAULT, "lfh_heap_free"));
  auto hsize = reinterpret_cast<size_t (*)(void *, unsigned, const void *)>(dlsym(RTLD_DEFAULT, "lfh_heap_size"));
  auto heap_of = reinterpret_cast<void *(*)(const void *)>(dlsym(RTLD_DEFAULT, "lfh_heap_of"));
  auto owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "lfh_owns"));
  auto validate = reinterpret_cast<int (*)(void)>(dlsym(RTLD_DEFAULT, "lfh_validate"));
  auto hvalidate = reinterpret_cast<int (*)(void *, unsigned, const void *)>(dlsym(RTLD_DEFAULT, "lfh_heap_validate"));
  if (!create || !destroy || !halloc || !hrealloc || !hfree || !hsize || !heap_of || !owns || !validate || !hvalidate) {
    fprintf(stderr, "note: not running on lfh; private heaps skipped\n");
    return;
  }
  void *h = create(0, 0, 0);
  CHECK(h != nullptr, "lfh_heap_create");
  std::vector<void *> blocks;
  for (size_t n : {1, 40, 1000, 20000, 300000}) {
    void *p = halloc(h, 0, n);
    CHECK(p != nullptr, "lfh_heap_alloc(%zu)", n);
    CHECK(hsize(h, 0, p) == (g_exact ? n : hsize(h, 0, p)) && hsize(h, 0, p) >= n, "lfh_heap_size %zu for %zu", hsize(h, 0, p), n);
    CHECK(heap_of(p) == h, "lfh_heap_of");
    CHECK(owns(p), "lfh_owns");
    CHECK(hvalidate(h, 0, p), "lfh_heap_validate(p)");
    fill(p, n, 9);
    void *q = hrealloc(h, 0, p, n * 2 + 1);
    CHECK(q && same(q, n, 9), "lfh_heap_realloc lost content");
    blocks.push_back(q);
  }
  void *z = halloc(h, 0x8 /* ZERO_MEMORY */, 500);
  auto *zb = static_cast<unsigned char *>(z);
  for (int i = 0; i < 500; ++i)
    if (zb[i]) {
      CHECK(false, "LFH_HEAP_ZERO_MEMORY byte %d", i);
      break;
    }
  CHECK(validate(), "lfh_validate");
  CHECK(hvalidate(h, 0, nullptr), "lfh_heap_validate(NULL)");
  hfree(h, 0, blocks[0]);
  hfree(h, 0, z);
  CHECK(destroy(h), "lfh_heap_destroy (with blocks still in it)");
  void *m = malloc(64);
  CHECK(owns(m) && heap_of(m) != nullptr, "malloc block owned");
  free(m);
  CHECK(validate(), "lfh_validate after destroy");
}

}  // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "exact")) g_exact = true;
    else if (!strcmp(argv[i], "unaligned")) g_unaligned = true;
    else if (!strcmp(argv[i], "quick")) g_quick = true;
  }
  sizes();
  reallocs();
  aligned();
  cxx();
  threads();
  forks();
  private_heaps();
  if (g_failures) {
    fprintf(stderr, "%d checks failed\n", g_failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
