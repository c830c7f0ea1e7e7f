/* examples/tags/leaky.c — a small "server" with three deliberate leaks under three pool tags, to
 * show lfh's leak report (README, "Pool tags and leak reports"):
 *
 *   lfh run --leaks -- ./example_leaky
 *
 * Each subsystem tags its allocations: the thumbnail cache with the thread tag ("Img "), the
 * request parser with lfh_malloc_tagged ("Json"), the connection code with lfh_set_thread_tag
 * around its calls ("Conn"). At exit lfh prints what each tag still holds and where the biggest
 * leaks were allocated. Without LFH_TAGS / LFH_LEAKS the tags cost nothing and nothing is printed.
 * Linked with liblfh.so for the tag API; its malloc is lfh's either way. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfh/lfh.h"

#define TAG_IMG LFH_TAG('I', 'm', 'g', ' ')
#define TAG_JSON LFH_TAG('J', 's', 'o', 'n')
#define TAG_CONN LFH_TAG('C', 'o', 'n', 'n')

/* Thumbnail cache: entries are added and never evicted (leak 1: 4 × 40000 bytes). */
static void *cache_add(int id) {
  unsigned char *thumb = malloc(40000);   /* the thread's tag: "Img " */
  if (thumb) memset(thumb, id, 40000);
  return thumb;
}

static void *thumbnailer(void *arg) {
  (void)arg;
  lfh_set_thread_tag(TAG_IMG);
  for (int i = 0; i < 4; ++i) (void)cache_add(i);   /* pointers dropped: leaked */
  void *scratch = malloc(100000);                   /* freed: not reported */
  free(scratch);
  return NULL;
}

/* Request parser: the token array is not freed when a request fails to parse
 * (leak 2: 13 × 1024 bytes: two requests in three are bad). */
static int parse_request(const char *text) {
  char **tokens = lfh_malloc_tagged(128 * sizeof(char *), TAG_JSON);
  if (!tokens) return -1;
  if (strchr(text, '}') == NULL) return -1;   /* the bug: tokens leaked on this path */
  free(tokens);
  return 0;
}

/* Connections: every third connection's buffer is kept after close (leak 3: 3 × 1500 bytes). */
static void serve_connection(int n) {
  uint32_t old = lfh_set_thread_tag(TAG_CONN);
  char *buf = malloc(1500);
  if (buf) snprintf(buf, 1500, "connection %d", n);
  if (n % 3 != 0) free(buf);
  lfh_set_thread_tag(old);
}

int main(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, thumbnailer, NULL) != 0) return 1;
  pthread_join(t, NULL);
  int failed = 0;
  for (int i = 0; i < 20; ++i) failed += parse_request(i % 3 == 0 ? "{\"id\": 1}" : "{\"id\": 1") != 0;
  for (int i = 1; i <= 9; ++i) serve_connection(i);
  printf("served 20 requests (%d bad), 9 connections\n", failed);
  if (lfh_tags_enabled()) {
    lfh_tag_stat_t top[3];
    size_t n = lfh_tag_stats(top, 3);
    for (size_t i = 0; i < n && i < 3; ++i)
      printf("tag %s: %llu blocks, %llu bytes in use\n", top[i].name, (unsigned long long)top[i].blocks,
             (unsigned long long)top[i].bytes);
  }
  return 0;
}
