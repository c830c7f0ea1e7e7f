// heap/balance_hooks.h — the two places where the heap's slow paths call up into the balance
// manager (src/balance/), declared here so heap/ does not include balance/'s headers (the same
// arrangement as debug::init in runtime.cpp). Both are defined in balance/tick.cpp.
//
//  * balance_slow_path(): called at the start of allocation slow paths (magazine refill and
//    overflow, look-aside refill, large blocks), never with an lfh lock held. While the balance
//    manager needs to hear from allocation paths (its thread is not started yet, or
//    LFH_BALANCE_THREAD=0 runs the tick from them) g_balance_poll is nonzero; once the thread
//    runs it is zero and the hook costs one load of a byte that never changes.
//  * balance_relieve_pressure(): called when an allocation is about to fail (the commit limit,
//    or the kernel refused memory), again with no lfh lock held (except, for a heap this thread
//    holds with lfh_heap_lock, that heap's own, which its trim knows). It trims the process heap
//    and `failing_heap` at once (and the other heaps where their locks are free) and returns true
//    when that gave memory back, so the caller retries once.
#pragma once
#include <cstdint>

#include "base/bits.h"

namespace lfh::detail {

extern LFH_HIDDEN std::uint8_t g_balance_poll;
void balance_poll(bool may_start_thread = true);
bool balance_relieve_pressure(void *failing_heap);

LFH_ALWAYS_INLINE void balance_slow_path() {
  if (LFH_UNLIKELY(__atomic_load_n(&g_balance_poll, __ATOMIC_RELAXED) != 0)) balance_poll();
}
// The same from a free() slow path: it may run an inline tick but never starts the balance
// thread. glibc calls free() with its own locks held — __nptl_free_stacks frees a dead thread's
// TLS under the stack-cache lock, which pthread_create takes too — so a thread started there
// deadlocks (seen in suite_python: regrtest's threads). The next allocation slow path starts it.
LFH_ALWAYS_INLINE void balance_slow_path_free() {
  if (LFH_UNLIKELY(__atomic_load_n(&g_balance_poll, __ATOMIC_RELAXED) != 0)) balance_poll(false);
}

}  // namespace lfh::detail
