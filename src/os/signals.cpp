// os/signals.cpp — the SIGSEGV/SIGBUS handler of the page heap (see signals.h) and small process
// facts. Everything the handler does is async-signal-safe: sigaction, a callback that only reads
// memory and writes to fd 2, mprotect.
#include "os/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

namespace lfh::os {
namespace {

constinit FaultCallback g_callback = nullptr;
constinit struct sigaction g_prev[2] = {};   // [0] SIGSEGV, [1] SIGBUS
constinit bool g_installed = false;

int slot(int sig) { return sig == SIGBUS ? 1 : 0; }

void restore_default(int sig) {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
}

void fill_context(FaultInfo *fi, void *ucv) {
  auto *uc = static_cast<ucontext_t *>(ucv);
  if (!uc) return;
#if defined(__x86_64__)
  fi->pc = reinterpret_cast<void *>(uc->uc_mcontext.gregs[REG_RIP]);
  fi->sp = reinterpret_cast<void *>(uc->uc_mcontext.gregs[REG_RSP]);
  fi->fp = reinterpret_cast<void *>(uc->uc_mcontext.gregs[REG_RBP]);
  // Page-fault error code: bit 1 set for a write access.
  fi->access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 2 : 1;
#elif defined(__aarch64__)
  fi->pc = reinterpret_cast<void *>(uc->uc_mcontext.pc);
  fi->sp = reinterpret_cast<void *>(uc->uc_mcontext.sp);
  fi->fp = reinterpret_cast<void *>(uc->uc_mcontext.regs[29]);
#endif
}

void on_fault(int sig, siginfo_t *si, void *ucv) {
  int saved_errno = errno;
  FaultInfo fi{sig, si ? si->si_code : 0, si ? si->si_addr : nullptr, nullptr, nullptr, nullptr, 0};
  fill_context(&fi, ucv);
  FaultAction a = FaultAction::kNotMine;
  // Only faults the kernel raised for an access (si_code > 0) can be ours; kill(SIGSEGV) is not.
  if (g_callback && fi.code > 0) a = g_callback(fi);
  if (a == FaultAction::kResume) {
    errno = saved_errno;
    return;
  }
  if (a == FaultAction::kDie) {
    restore_default(sig);   // the instruction runs again and faults with the default action
    errno = saved_errno;
    return;
  }
  // Not ours: the previous handler, as it was installed.
  const struct sigaction &prev = g_prev[slot(sig)];
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, si, ucv);
      errno = saved_errno;
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    errno = saved_errno;
    return;
  }
  // SIG_DFL (or SIG_IGN, which the kernel overrides for a real fault anyway): default action.
  restore_default(sig);
  if (fi.code <= 0) raise(sig);   // sent, not raised by an access: re-executing would not repeat it
  errno = saved_errno;
}

}  // namespace

bool install_fault_handler(FaultCallback cb) {
  g_callback = cb;
  if (g_installed) return true;
  struct sigaction sa = {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &g_prev[0]) != 0) return false;
  if (sigaction(SIGBUS, &sa, &g_prev[1]) != 0) {
    sigaction(SIGSEGV, &g_prev[0], nullptr);
    return false;
  }
  g_installed = true;
  return true;
}

std::uint32_t kernel_tid() { return std::uint32_t(syscall(SYS_gettid)); }

bool thread_alive(std::uint32_t tid) {
  const int saved = errno;
  const bool gone = syscall(SYS_tgkill, long(getpid()), long(tid), 0L) != 0 && errno == ESRCH;
  errno = saved;
  return !gone;
}

long read_small_file(const char *path, char *buf, std::size_t cap) {
  if (cap == 0) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t got = 0;
  while (got + 1 < cap) {
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += std::size_t(r);
  }
  close(fd);
  buf[got] = 0;
  return long(got);
}

}  // namespace lfh::os
