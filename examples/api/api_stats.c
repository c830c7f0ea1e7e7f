/* lfh's C API from C: allocate through the process heap, take a statistics snapshot, print the
 * summary as a table and as JSON. */
#include <lfh/lfh.h>
#include <stdio.h>

int main(void) {
  void *blocks[1000];
  for (int i = 0; i < 1000; ++i) blocks[i] = lfh_malloc((size_t)(i % 64 + 1) * 16);
  lfh_stats_t s;
  if (!lfh_stats_get(&s)) return 1;
  printf("lfh %s: %llu small blocks live, %llu bytes committed\n", lfh_version(),
         (unsigned long long)s.lfh_blocks_out, (unsigned long long)s.committed_bytes);
  for (int i = 0; i < 1000; ++i) lfh_free(blocks[i]);
  fflush(stdout);
  lfh_stats_print(1, 0);
  lfh_stats_print(1, LFH_STATS_PRINT_JSON);
  return lfh_validate() ? 0 : 1;
}
