// balance/balance.h — the balance manager: lfh's once-a-second housekeeping (the seeds' balance
// set manager, which calls ExAdjustLookasideDepth and the working set manager once a second).
//
// The tick (every LFH_BALANCE_MS, default 1000 ms; 0 turns it off):
//   * tunes every look-aside list's depth from its counts since the last tick (depth.h);
//   * gives back memory that stayed idle for a whole tick, tier by tier (trim.h);
//   * asks threads that made no small allocation for a whole tick to flush their magazines;
//   * checks memory pressure (pressure.h); under pressure it trims everything at once.
//
// Where it runs. By default on a helper thread ("lfh-balance"). The thread is not started at
// initialisation (which may be inside ld.so or a constructor, before main could fork, daemonize or
// call something that needs a single-threaded process): it is started by the first allocation slow
// path (a magazine refill or overflow, a look-aside refill, a large block) once the first tick is
// due, one period after initialisation — so a program that lives less than a period never gets
// it. In a fork child it does not exist; the child's own first slow path after one period starts
// it again (a pthread_atfork child handler re-arms the check). The thread is detached, blocks
// every signal, and:
//   * stops touching heaps once exit has begun (a destructor sets a flag it checks before every
//     heap);
//   * never keeps the process alive: when main has called pthread_exit and every other thread is
//     gone, it leaves too (then, as the last thread, it is the one glibc runs exit(0) from).
// With LFH_BALANCE_THREAD=0 (programs that forbid helper threads), under Valgrind's memcheck, or
// if the thread cannot be created, the tick runs from allocation slow paths instead, when one is due (each slow path
// reads the coarse clock, a few ns, to see whether it is).
//
// The allocation fast path pays nothing: slow paths test one byte that is zero once the thread
// runs; the tick reads the fast path's counters with relaxed loads and only try-locks buckets.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::balance {

struct Stats {
  std::uint64_t ticks;              // ticks run (thread, allocation paths, forced)
  std::uint64_t trimmed_bytes;      // given back by ticks, trims and pressure relief
  std::uint64_t pressure_trims;     // ticks turned into full trims by pressure + allocation reliefs
  std::uint64_t depth_raises, depth_cuts;
  std::uint64_t lists_flushed;      // idle look-aside lists emptied into their buckets
  std::uint64_t threads_flagged;    // idle threads asked to flush their magazines
  std::uint64_t subsegments_retired;
  bool thread_running;
  std::uint32_t period_ms;          // 0: off
};
Stats stats();

// malloc_trim(pad), lfh_trim: everything at once, synchronously, on the process heap: the calling
// thread's magazine, every look-aside list, every empty subsegment and cached span, every pending
// core range and cached direct region; other threads are asked to flush their magazines. `pad` is
// accepted for glibc compatibility (lfh has no top-of-heap to keep). Returns bytes given back.
std::size_t trim_now(std::size_t pad = 0);

// One tick now, on the calling thread (tests, tools). `force`: as under memory pressure.
void tick_now(bool force = false);

// The tick period in effect (0: off); configured on first use from LFH_BALANCE_MS.
std::uint32_t period_ms();

// A function run at the end of every tick, on the ticking thread, with the tick lock held (so
// never twice at once): the live statistics segment (stats/live.cpp, a layer above this one,
// registers it at load time). nullptr: none.
void set_tick_observer(void (*fn)());

}  // namespace lfh::balance
