// heap_test_util.h — helpers for the private-heap tests: process memory facts and a forked
// child that must die with an lfh: line.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "lfh/lfh.h"

namespace heap_test {

inline lfh_stats_t stats() {
  lfh_stats_t s{};
  lfh_stats_get(&s);
  return s;
}

// lfh's metadata pools (heap objects, region records, large-block descriptors) grow once and are
// kept for the life of the process; tests that compare memory before and after a heap's life
// measure after they exist.
inline void warm_up_metadata() {
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  lfh_heap_free(h, 0, lfh_heap_alloc(h, 0, 1 << 20));
  lfh_heap_free(h, 0, lfh_heap_alloc(h, 0, 64));
  lfh_heap_destroy(h);
}

// A field of /proc/self/status in kB (e.g. "VmLck").
inline long status_kb(const char *field) {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') v = std::strtol(line + n + 1, nullptr, 10);
  std::fclose(f);
  return v;
}

// Run fn in a forked child with stderr captured; return the child's stderr and whether it was
// killed by SIGABRT.
template <class F>
std::string run_child_expect_abort(F &&fn, bool *aborted) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGABRT, SIG_DFL);   // not the test framework's handler: die as the program would
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    fn();
    _exit(0);
  }
  close(pipefd[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  *aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return out;
}

}  // namespace heap_test
