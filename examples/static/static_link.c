/* Linking liblfh.a makes lfh the program's allocator: plain malloc/free below are lfh's.
 *   cc static_link.c -llfh -lpthread   (or target_link_libraries(app lfh::lfh) in CMake) */
#include <lfh/lfh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char *s = malloc(100);
  strcpy(s, "hello from lfh");
  int owned = lfh_owns(s); /* nonzero: the block is in lfh's page map */
  printf("%s\nmalloc is lfh's: %s\n", s, owned ? "yes" : "no");
  free(s);
  fflush(stdout);
  lfh_stats_print(1, 0);
  return owned ? 0 : 1;
}
