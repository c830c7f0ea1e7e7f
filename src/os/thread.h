// os/thread.h — what the balance manager (src/balance/) needs from the system besides memory: a
// helper thread, sleeping, and a census of the process's threads. (Small /proc and /sys files are
// read with os::read_small_file, os/signals.h.) Like the rest of os/, these
// report failure as a value and never abort.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::os {

// Start a detached thread running fn(arg), named `name` (at most 15 characters), with every
// signal blocked (a process-directed signal is never delivered to it, so the program's handlers
// never run on lfh's thread) and a small stack. False when the system refuses.
// pthread_create allocates (the new thread's TLS block goes through malloc): never call this while
// holding an lfh lock, and guard against being re-entered from that allocation.
bool start_thread(void (*fn)(void *), void *arg, const char *name);

// CLOCK_MONOTONIC_COARSE: a few ns through the vDSO, resolution of a scheduler tick (1-4 ms).
// For checks on allocation slow paths ("is a tick due?").
std::uint64_t coarse_now_ns();

// Sleep for `ns` nanoseconds on CLOCK_MONOTONIC (an interrupted sleep resumes).
void sleep_ns(std::uint64_t ns);

// The kernel's view of this process's threads, from /proc/self/stat and /proc/self/status:
// `threads` (live or zombie tasks of the group) and whether the main thread has exited
// (pthread_exit from main leaves it a zombie until the last thread ends). `threads` is only
// read (else 0) when the main thread has exited. False when /proc is not readable.
bool thread_census(std::uint32_t *threads, bool *main_exited);

}  // namespace lfh::os
