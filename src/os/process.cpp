// os/process.cpp — files, time, randomness, futexes, fork/exit hooks.
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "os/mutex.h"
#include "os/os.h"

extern char **environ;

namespace lfh::os {

void futex_wait(std::uint32_t *word, std::uint32_t expected) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(std::uint32_t *word, int count) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

void yield_cpu() { sched_yield(); }

std::uintptr_t thread_id() { return std::uintptr_t(pthread_self()); }

bool write_all(int fd, const void *buf, std::size_t len) {
  const char *p = static_cast<const char *>(buf);
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= std::size_t(n);
  }
  return true;
}

void abort_process() {
  // abort() raises SIGABRT (core dump, debugger stop); if a handler returns, make sure we die.
  abort();
  _exit(134);
}

int pid() { return int(getpid()); }

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

bool random_bytes(void *out, std::size_t n) {
  auto *p = static_cast<unsigned char *>(out);
  while (n) {
    ssize_t got = getrandom(p, n, GRND_NONBLOCK);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      // No entropy yet (early boot) or no syscall: mix time and addresses. Not secret, but unique.
      std::uint64_t x = now_ns() ^ (reinterpret_cast<std::uintptr_t>(&n) << 16) ^ std::uint64_t(getpid());
      for (std::size_t i = 0; i < n; ++i) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        p[i] = static_cast<unsigned char>(x);
      }
      return false;
    }
    p += got;
    n -= std::size_t(got);
  }
  return true;
}

int open_for_write(const char *path) { return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); }
int open_for_read(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }
long read_some(int fd, void *buf, std::size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    return long(r);
  }
}
void close_fd(int fd) { close(fd); }
char **environment() { return environ; }

// From the auxiliary vector: no allocation, no system call, valid before main.
const char *exe_path() { return reinterpret_cast<const char *>(getauxval(AT_EXECFN)); }

namespace {
// Depth of LibcCallScope in this thread; initial-exec and zero-initialised: valid before main and
// in any thread, and reading it never allocates.
constinit thread_local unsigned t_libc_calls __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace

bool in_lfh_libc_call() { return t_libc_calls != 0; }
LibcCallScope::LibcCallScope() { ++t_libc_calls; }
LibcCallScope::~LibcCallScope() { --t_libc_calls; }

bool at_fork(void (*prepare)(), void (*parent)(), void (*child)()) {
  LibcCallScope lfh_call;
  return pthread_atfork(prepare, parent, child) == 0;
}

bool at_exit(void (*fn)()) {
  LibcCallScope lfh_call;
  return atexit(fn) == 0;
}

namespace {
constinit pthread_key_t g_exit_key = 0;
// Set (release) once g_exit_key holds the key: threads that find it set use the key without
// the lock. The first threads to need it may arrive together (a static link, or a program whose
// first allocations are made by several threads at once): the lock makes exactly one key.
constinit std::atomic<bool> g_exit_key_made{false};
constinit Mutex g_exit_key_lock;
}  // namespace

bool thread_exit_hook(void (*fn)(void *)) {
  if (g_exit_key_made.load(std::memory_order_acquire)) return true;
  LockGuard g(g_exit_key_lock);
  if (g_exit_key_made.load(std::memory_order_relaxed)) return true;
  LibcCallScope lfh_call;
  if (pthread_key_create(&g_exit_key, fn) != 0) return false;
  g_exit_key_made.store(true, std::memory_order_release);
  return true;
}

bool thread_exit_arm(void *value) {
  LibcCallScope lfh_call;
  return g_exit_key_made.load(std::memory_order_acquire) && pthread_setspecific(g_exit_key, value) == 0;
}

void thread_exit_reset_after_fork() { g_exit_key_lock.reset_after_fork(); }

}  // namespace lfh::os
