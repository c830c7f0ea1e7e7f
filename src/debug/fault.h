// debug/fault.h — the low-resources simulation (Driver Verifier's name for it): allocations that
// fail on purpose, so that a program's out-of-memory paths get run (LFH_FAULT_* options).
//
// A failure looks exactly like a real one: the entry point returns NULL with errno = ENOMEM (so
// operator new runs the new_handler loop and throws std::bad_alloc, realloc leaves the old block
// as it was, posix_memalign returns ENOMEM). free never fails. Each failure is counted
// (lfh_stats_t::faults_injected).
//
// Which calls fail. Every allocating call of a thread gets the next index i of that thread
// (0, 1, 2 …) and fails when
//     splitmix64(key(seed, thread ordinal) + i·φ) < rate · 2^64
// and the request passes every filter given: LFH_FAULT_DELAY_MS has elapsed, the size is in
// LFH_FAULT_SIZES, the thread's pool tag is in LFH_FAULT_TAGS, the caller's module is in
// LFH_FAULT_CALLERS. The draw depends only on (seed, thread ordinal, i): the same program with the
// same seed fails the same calls — exactly in a single-threaded program, per thread in a
// multi-threaded one (ordinals are given in the order threads first allocate). Allocations libc
// makes on lfh's behalf (os::in_lfh_libc_call) neither fail nor take an index.
//
// Cost: nothing when off (fault injection is part of the debug layer, behind its one branch in
// api/). When on, a call that does not fail costs a counter step and a hash; the filters are
// looked at only for calls the draw picked, so LFH_FAULT_CALLERS' stack walk and module lookup
// happen for a fraction `rate` of the calls.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/bits.h"

namespace lfh::debug {

// True when LFH_FAULT_RATE asks for failures (set by fault_init, never cleared).
extern bool g_fault_on __attribute__((visibility("hidden")));

// Read the LFH_FAULT_* options (one `lfh:` line per value not understood; LFH_VERBOSE prints the
// settings, the seed included). True when fault injection is on.
bool fault_init();

// The decision for one allocating call of `n` bytes (debug.cpp calls it first in each allocating
// entry point; `entry_cfa` as for capture_stack). True: fail it — errno is ENOMEM, the failure is
// counted, the caller returns NULL.
bool fault_decide(std::size_t n, const void *entry_cfa);
inline bool fault_inject(std::size_t n, const void *entry_cfa) {
  return LFH_UNLIKELY(g_fault_on) && fault_decide(n, entry_cfa);
}

// Failures injected since start (all threads).
std::uint64_t faults_injected();

}  // namespace lfh::debug
