/* Regression test: threads growing their OWN large blocks (1–4 MB) with realloc, nothing shared.
 * realloc past a direct block's headroom moves it with mremap; the old range's page-map entries
 * used to be cleared only after mremap had unmapped it, so another thread's new block mapped at
 * that address lost its entries ("lfh: invalid free" / "lfh: double free" on a valid pointer).
 * Contents are checked too. Exits 0 and prints "ok" when every block survived. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kSlots = 6, kSteps = 2000 };
static const size_t kLo = 1100000, kHi = 4u << 20;
static int g_bad;

static void *worker(void *arg) {
  unsigned long x = (unsigned long)arg * 7919 + 1;
  unsigned char *b[kSlots] = {0};
  size_t sz[kSlots] = {0};
  for (int s = 0; s < kSteps; ++s) {
    x = x * 6364136223846793005UL + 1442695040888963407UL;
    int j = (int)((x >> 33) % kSlots);
    if (!b[j]) {
      sz[j] = kLo + (x >> 20) % (1u << 20);
      b[j] = malloc(sz[j]);
      memset(b[j], j + 1, sz[j]);
      continue;
    }
    size_t n = sz[j] + sz[j] / 2;
    if (n > kHi) {
      if (b[j][0] != j + 1 || b[j][sz[j] - 1] != j + 1) __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
      free(b[j]);
      b[j] = 0;
      continue;
    }
    b[j] = realloc(b[j], n);
    if (!b[j] || b[j][0] != j + 1 || b[j][sz[j] - 1] != j + 1) __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    if (!b[j]) return 0;
    memset(b[j] + sz[j], j + 1, n - sz[j]);
    sz[j] = n;
  }
  for (int j = 0; j < kSlots; ++j) free(b[j]);
  return 0;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  if (n > 16) n = 16;
  pthread_t t[16];
  for (long i = 0; i < n; ++i) pthread_create(&t[i], 0, worker, (void *)i);
  for (int i = 0; i < n; ++i) pthread_join(t[i], 0);
  printf("%s\n", g_bad ? "content mismatch" : "ok");
  return g_bad ? 1 : 0;
}
