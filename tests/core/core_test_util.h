// core_test_util.h — a private core heap for a test, residency checks, and a death-test helper.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/core_heap.h"
#include "heap/runtime.h"
#include "os/os.h"

namespace core_test {

using namespace lfh::core;

// A quiet configuration: one arena (deterministic placement), a purge delay long enough that
// nothing is decommitted unless the test asks.
inline CoreConfig quiet() {
  CoreConfig c;
  c.arenas = 1;
  c.purge_delay_ms = 60000;
  return c;
}

struct TestCore {
  CoreHeap core;
  explicit TestCore(const CoreConfig &cfg = quiet(), bool serialize = true) {
    lfh::process_heap();   // page map, options
    core.configure(this, false, serialize, false, cfg);
  }
  ~TestCore() { core.release_all(); }
  void *alloc(std::size_t n, std::size_t align = 16, bool zero = false) { return core.alloc(n, align, zero); }
  void free(void *p) { core.free(segment_of(p), p); }
  bool resize(void *p, std::size_t n) { return core.resize(segment_of(p), p, n); }
  std::size_t usable(void *p) { return core.usable_size(segment_of(p), p); }
  CoreBlockInfo info(const void *p) {
    CoreBlockInfo i{};
    core.block_info(p, &i);
    return i;
  }
  CoreStats stats() { return core.stats(); }
};

// Pages of [p, p+n) (page-aligned inward) that are resident.
inline std::size_t resident_pages(const void *p, std::size_t n) {
  std::uintptr_t a = (reinterpret_cast<std::uintptr_t>(p) + 4095) & ~std::uintptr_t(4095);
  std::uintptr_t e = (reinterpret_cast<std::uintptr_t>(p) + n) & ~std::uintptr_t(4095);
  if (e <= a) return 0;
  std::vector<unsigned char> v((e - a) / 4096);
  if (!lfh::os::residency(reinterpret_cast<void *>(a), e - a, v.data())) return ~std::size_t(0);
  std::size_t r = 0;
  for (unsigned char c : v) r += c & 1;
  return r;
}

// Run fn in a forked child with stderr captured. Returns what it printed; *aborted: it died of
// SIGABRT.
template <class F> std::string run_child(F fn, bool *aborted) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    fn();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  *aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return out;
}

}  // namespace core_test
