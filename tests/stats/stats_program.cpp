// tests/stats/stats_program.cpp — a program the tool tests watch (linked with liblfh.so).
//
//   stats_program live SECONDS   allocate a known picture (5000 × 200 B under tag "Tst1", a
//                                private heap with 100 × 1000 B, a 100 KB core block, a 12 MB
//                                direct block), print "ready", then keep making a slow-path
//                                allocation every 20 ms (which starts the balance thread and
//                                so the live segment) until SECONDS pass or SIGTERM comes.
//   stats_program snapshots A B  write a JSON snapshot to A, allocate 3000 × 700 B more under
//                                tag "Grow", write one to B.
//   stats_program regions FILE   the known picture, then lfh_stats_print(JSON | REGIONS) to FILE.
//   stats_program fork           the picture; once its segment exists, fork a child that makes
//                                slow-path allocations for 3 s and exits normally; print
//                                "ready PARENT CHILD", then "child-exited" when it has; then as
//                                `live` until SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "lfh/lfh.h"

namespace {

std::vector<void *> g_keep;
volatile sig_atomic_t g_stop = 0;   // SIGTERM: leave the loop and exit normally (destructors run)

void picture() {
  g_keep.reserve(g_keep.size() + 5000);   // the vector's own block is not the tag's
  lfh_set_thread_tag(LFH_TAG('T', 's', 't', '1'));
  for (int i = 0; i < 5000; ++i) g_keep.push_back(std::malloc(200));
  lfh_set_thread_tag(0);
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  for (int i = 0; i < 100; ++i) g_keep.push_back(lfh_heap_alloc(h, 0, 1000));
  g_keep.push_back(std::malloc(100 * 1024));
  g_keep.push_back(std::malloc(12 * 1024 * 1024));
  for (void *p : g_keep) std::memset(p, 1, 64);
}

// A large block, allocated and freed: an allocation slow path (it starts the balance thread).
void slow_path() {
  void *p = std::malloc(64 * 1024);
  std::memset(p, 0, 16);
  std::free(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

bool write_snapshot(const char *path, unsigned flags) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  lfh_stats_print(fd, flags);
  close(fd);
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 3 && !std::strcmp(argv[1], "live")) {
    signal(SIGTERM, [](int) { g_stop = 1; });
    picture();
    std::printf("ready %d\n", int(getpid()));
    std::fflush(stdout);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[2]));
    while (!g_stop && std::chrono::steady_clock::now() < end) slow_path();
    return 0;
  }
  if (argc == 2 && !std::strcmp(argv[1], "fork")) {
    signal(SIGTERM, [](int) { g_stop = 1; });
    picture();
    char seg[64];
    std::snprintf(seg, sizeof seg, "/dev/shm/lfh.%d", int(getpid()));
    for (int i = 0; i < 1000 && access(seg, F_OK) != 0; ++i) slow_path();   // up to 20 s
    if (access(seg, F_OK) != 0) return 3;
    pid_t child = fork();
    if (child == 0) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (std::chrono::steady_clock::now() < end) slow_path();
      return 0;   // exits normally: the library's destructors run in the child
    }
    std::printf("ready %d %d\n", int(getpid()), int(child));
    std::fflush(stdout);
    int status = 0;
    waitpid(child, &status, 0);
    std::printf("child-exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    std::fflush(stdout);
    while (!g_stop) slow_path();
    return 0;
  }
  if (argc == 4 && !std::strcmp(argv[1], "snapshots")) {
    if (!write_snapshot(argv[2], LFH_STATS_JSON)) return 1;
    g_keep.reserve(g_keep.size() + 3000);   // the vector's own block is not the tag's
    lfh_set_thread_tag(LFH_TAG('G', 'r', 'o', 'w'));
    for (int i = 0; i < 3000; ++i) g_keep.push_back(std::malloc(700));
    lfh_set_thread_tag(0);
    return write_snapshot(argv[3], LFH_STATS_JSON) ? 0 : 1;
  }
  if (argc == 3 && !std::strcmp(argv[1], "regions")) {
    picture();
    return write_snapshot(argv[2], LFH_STATS_JSON | LFH_STATS_REGIONS) ? 0 : 1;
  }
  std::fprintf(stderr, "usage: stats_program live SECONDS | snapshots A B | regions FILE\n");
  return 2;
}
