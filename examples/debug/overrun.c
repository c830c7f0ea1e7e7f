/* examples/debug/overrun.c — a classic off-by-one: room for the characters of a name, not for its
 * terminating NUL. It "works" on most allocators (the NUL lands in slack bytes); under lfh's full
 * page heap with LFH_PAGEHEAP_ALIGN=1 the block ends exactly at a no-access page and the strcpy
 * faults on the very byte that is one too many:
 *
 *   lfh run --pageheap=full --align=1 -- ./example_debug_overrun Ada Lovelace
 *
 * (docs/DEBUGGING.md shows the report.) Not linked with lfh: `lfh run` preloads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_name(const char *name) {
  char *copy = malloc(strlen(name)); /* BUG: strlen(name) + 1 */
  if (copy) strcpy(copy, name);
  return copy;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    char *c = copy_name(argv[i]);
    printf("hello, %s\n", c);
    free(c);
  }
  return 0;
}
