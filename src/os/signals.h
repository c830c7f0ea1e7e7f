// os/signals.h — the fault signals the page heap listens to (SIGSEGV, SIGBUS), and the few process
// facts the debug layer needs from the kernel. Part of the os/ contract (see os.h): no call here
// allocates, and everything marked [signal-safe] may be called from a signal handler.
//
// The fault handler is installed only when the full page heap is on. It asks a callback what a
// fault is; the callback (debug/fault.cpp) answers for faults on lfh's guard pages and freed
// blocks and nothing else:
//   kNotMine — the fault is not on page-heap memory: it goes to the handler that was installed
//              before lfh's (called with the same arguments), or, if that was SIG_DFL/SIG_IGN, the
//              default action runs (the instruction is re-executed with SIG_DFL in place).
//   kDie     — lfh reported it: SIG_DFL is restored and the handler returns, so the faulting
//              instruction runs again and faults "for real" — the core dump and a debugger see the
//              original fault at the original instruction.
//   kResume  — the callback made the page accessible (LFH_ON_ERROR=report|ignore): carry on.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::os {

struct FaultInfo {
  int signo;       // SIGSEGV or SIGBUS
  int code;        // si_code (> 0: raised by the kernel for a memory access)
  void *addr;      // the faulting address (si_addr)
  void *pc;        // the faulting instruction
  void *sp;        // stack pointer at the fault
  void *fp;        // frame pointer register at the fault (rbp / x29)
  int access;      // 0 unknown, 1 read, 2 write
};

enum class FaultAction { kNotMine, kDie, kResume };
using FaultCallback = FaultAction (*)(const FaultInfo &);

// Install `cb` for SIGSEGV and SIGBUS (SA_SIGINFO | SA_ONSTACK), remembering the previous actions
// for chaining. Idempotent. False if sigaction refused.
bool install_fault_handler(FaultCallback cb);

// The kernel thread id (gettid) — what debuggers and /proc show. [signal-safe]
std::uint32_t kernel_tid();
// Does thread `tid` of this process still exist (tgkill with signal 0)? A thread that has fully
// exited answers false; an exiting one true until it is gone. [signal-safe]
bool thread_alive(std::uint32_t tid);

// Read a small text file whole into buf (NUL-terminated); returns bytes read or -1. No allocation.
long read_small_file(const char *path, char *buf, std::size_t cap);

}  // namespace lfh::os
