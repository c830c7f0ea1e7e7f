/* bench/tags/tag_loop.c — the malloc/free loop behind bench/tags/tag_overhead.sh: ITER rounds of
 * malloc of a size from a small cycle (16..256 bytes) and free, one pair at a time and in
 * batches of 64 (so that both the magazine hit and the batch pattern are measured). Not linked
 * with lfh: the allocator comes from LD_PRELOAD. Prints nanoseconds per malloc+free pair. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const long iter = argc > 1 ? atol(argv[1]) : 20000000;
  static const size_t sizes[8] = {16, 24, 32, 48, 64, 100, 128, 256};
  void *volatile sink;
  void *batch[64];
  /* warm up */
  for (long i = 0; i < 100000; ++i) {
    sink = malloc(sizes[i & 7]);
    free(sink);
  }
  double t0 = now();
  for (long i = 0; i < iter; ++i) {
    sink = malloc(sizes[i & 7]);
    free(sink);
  }
  double t1 = now();
  for (long i = 0; i < iter / 64; ++i) {
    for (int k = 0; k < 64; ++k) batch[k] = malloc(sizes[k & 7]);
    for (int k = 0; k < 64; ++k) free(batch[k]);
  }
  double t2 = now();
  printf("pair %.2f ns  batch %.2f ns\n", (t1 - t0) * 1e9 / (double)iter, (t2 - t1) * 1e9 / (double)(iter / 64 * 64));
  (void)sink;
  return 0;
}
