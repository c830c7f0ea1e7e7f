// os/cpu.cpp — which CPU are we on, and how many can there be.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

#include "os/cpu.h"
#include "os/os.h"


namespace lfh::os {
namespace {


std::uint32_t read_possible() {
  // "/sys/devices/system/cpu/possible" holds e.g. "0-15" or "0,2-5". We need max id + 1.
  int fd = open_for_read("/sys/devices/system/cpu/possible");
  if (fd < 0) return 256;
  char buf[256];
  long n = read_some(fd, buf, sizeof buf - 1);
  close_fd(fd);
  if (n <= 0) return 256;
  buf[n] = 0;
  std::uint32_t maxid = 0, cur = 0;
  bool any = false;
  for (long i = 0; i <= n; ++i) {
    char c = buf[i];
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + std::uint32_t(c - '0');
      any = true;
    } else {
      if (any && cur > maxid) maxid = cur;
      cur = 0;
      any = false;
    }
  }
  std::uint32_t count = maxid + 1;
  return count > 4096 ? 4096 : count;
}

}  // namespace

namespace detail {
// 1 until possible_cpus() has run: every CPU id then maps to list 0, which is still correct.
constinit std::uint32_t g_cpu_count = 1;
constinit bool g_cpu_count_read = false;

std::uint32_t current_cpu_slow() {
  int c = sched_getcpu();
  if (c < 0) return 0;
  return std::uint32_t(c) % g_cpu_count;
}
}  // namespace detail

std::uint32_t possible_cpus() {
  if (!__atomic_load_n(&detail::g_cpu_count_read, __ATOMIC_ACQUIRE)) {
    __atomic_store_n(&detail::g_cpu_count, read_possible(), __ATOMIC_RELAXED);
    __atomic_store_n(&detail::g_cpu_count_read, true, __ATOMIC_RELEASE);
  }
  return detail::g_cpu_count;
}

bool rseq_available() {
#if defined(__x86_64__) || defined(__aarch64__)
  return &__rseq_size != nullptr && __rseq_size != 0;
#else
  return false;
#endif
}

std::uint32_t current_cpu() { return current_cpu_fast(); }

}  // namespace lfh::os
