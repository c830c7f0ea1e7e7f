/* A C program linked with liblfh.a: plain malloc/free must be lfh's (lfh_owns knows the block),
 * without LD_PRELOAD. Exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfh/lfh.h"

static int failures = 0;
#define EXPECT(c) ((c) ? (void)0 : (void)(printf("FAILED line %d: %s\n", __LINE__, #c), ++failures))

int main(void) {
  static const size_t sizes[] = {1, 16, 1000, 16384, 100000, 4 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    char *p = malloc(sizes[i]);
    EXPECT(p != NULL);
    EXPECT(lfh_owns(p));
    memset(p, 1, sizes[i]);
    p = realloc(p, sizes[i] * 2);
    EXPECT(p != NULL && lfh_owns(p) && p[sizes[i] - 1] == 1);
    free(p);
    EXPECT(!lfh_owns(p));
  }
  char *s = strdup("libc allocates through lfh too");
  EXPECT(s != NULL && lfh_owns(s));
  free(s);
  lfh_stats_t st;
  EXPECT(lfh_stats_get(&st) && st.lfh_allocs > 0 && st.direct_allocs > 0);
  printf("static link: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
