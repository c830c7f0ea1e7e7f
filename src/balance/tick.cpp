// balance/tick.cpp — when and where the tick runs: the helper thread's life (lazy start, fork,
// exit), the tick from allocation paths (LFH_BALANCE_THREAD=0), relief when an allocation fails,
// malloc_trim. See balance.h.
#include <atomic>

#include "balance/balance.h"
#include "balance/pressure.h"
#include "balance/trim.h"
#include "base/options.h"
#include "heap/balance_hooks.h"
#include "heap/front.h"
#include "heap/heap.h"
#include "heap/runtime.h"
#include "os/mutex.h"
#include "os/os.h"
#include "os/thread.h"
#include "os/valgrind.h"
#include "vm/vm.h"

namespace lfh::detail {
// 1 until the balance manager knows it will not need the allocation paths (off, or its thread
// runs). Read by every slow path (heap/balance_hooks.h).
constinit std::uint8_t g_balance_poll = 1;
}  // namespace lfh::detail

namespace lfh::balance {
namespace {

enum State : int {
  kUnconfigured,   // options not read yet
  kConfiguring,
  kOff,            // LFH_BALANCE_MS=0
  kWaiting,        // thread mode, first tick not due yet: the next slow path after it starts it
  kStarting,       // pthread_create in progress (its own allocations must not start another)
  kRunning,        // the thread runs
  kInline,         // ticks from allocation slow paths
  kStopped,        // the thread left (main exited and no other thread remains)
};

constexpr std::uint64_t kMainGoneCheckNs = 50'000'000;    // after pthread_exit(main): 50 ms
constexpr std::uint64_t kReliefGapNs = 10'000'000;        // reliefs at most every 10 ms
constexpr std::uint64_t kReliefRetryNs = 100'000'000;     // after a fruitless one, 100 ms

constinit std::atomic<int> g_state{kUnconfigured};
constinit std::uint32_t g_period_ms = 0;
constinit bool g_thread_mode = true;
constinit std::atomic<std::uint64_t> g_due_ns{0};
constinit std::atomic<bool> g_exiting{false};
constinit std::atomic<bool> g_atfork_registered{false};
constinit os::Mutex g_tick_lock;           // one tick at a time; guards g_pressure
constinit PressureMonitor g_pressure;

constinit std::atomic<std::uint64_t> g_last_relief_ns{0};
constinit std::atomic<std::uint64_t> g_last_relief_gain{0};

constinit thread_local bool t_relieving = false;
constinit std::atomic<void (*)()> g_observer{nullptr};   // set_tick_observer

struct Counters {
  std::atomic<std::uint64_t> ticks{0}, trimmed{0}, pressure{0}, raises{0}, cuts{0};
  std::atomic<std::uint64_t> lists{0}, threads{0}, retired{0};
};
constinit Counters g_counters;

void set_poll(std::uint8_t v) { __atomic_store_n(&detail::g_balance_poll, v, __ATOMIC_RELAXED); }

std::uint32_t effective_period() { return g_period_ms ? g_period_ms : 1000; }

void account(const TrimResult &r) {
  g_counters.raises.fetch_add(r.depth.raised, std::memory_order_relaxed);
  g_counters.cuts.fetch_add(r.depth.lowered, std::memory_order_relaxed);
  g_counters.lists.fetch_add(r.depth.flushed_lists, std::memory_order_relaxed);
  g_counters.threads.fetch_add(r.threads_flagged, std::memory_order_relaxed);
  g_counters.retired.fetch_add(r.subsegments_retired, std::memory_order_relaxed);
  g_counters.trimmed.fetch_add(r.tail_bytes, std::memory_order_relaxed);   // (purged, charge kept)
}

struct TickCtx {
  std::uint32_t period_ms;
  bool tune, force;
  Heap *skip_a, *skip_b;
  TrimResult result;
};

bool tick_one_heap(Heap &h, void *arg) {
  auto *ctx = static_cast<TickCtx *>(arg);
  if (g_exiting.load(std::memory_order_relaxed)) return false;
  // A no-serialize heap belongs to one thread: never touched from another.
  if (!h.serialized() || &h == ctx->skip_a || &h == ctx->skip_b) return true;
  tick_heap(h, ctx->period_ms, ctx->tune, ctx->force, &ctx->result);
  return true;
}

// One tick; the caller holds g_tick_lock.
void run_tick_locked(bool force) {
  const std::uint32_t period = effective_period();
  bool pressure = force;
  if (!pressure && option_bool(Opt::pressure)) pressure = g_pressure.check(period);
  TickCtx ctx{period, true, pressure, nullptr, nullptr, {}};
  // What the tick gave back: every purge, decommit and release in the meantime (vm's event total;
  // a free on another thread that purges at once counts too, which is rare and small).
  const std::uint64_t given_before = vm::totals().decommitted;
  // The magazines first: the stashes of threads that ignored the last request are drained onto
  // their buckets' pending chains (front_drain_stash), which the heaps' pass right after sends
  // home, purging what that empties.
  if (!g_exiting.load(std::memory_order_relaxed)) ctx.result.threads_flagged = ask_magazines(pressure, /*may_wait=*/false);
  for_each_heap(tick_one_heap, &ctx);
  g_counters.trimmed.fetch_add(vm::totals().decommitted - given_before, std::memory_order_relaxed);
  account(ctx.result);
  g_counters.ticks.fetch_add(1, std::memory_order_relaxed);
  if (pressure) g_counters.pressure.fetch_add(1, std::memory_order_relaxed);
  if (void (*fn)() = g_observer.load(std::memory_order_acquire); fn && !g_exiting.load(std::memory_order_relaxed)) fn();
}

void on_fork_child() {
  // The thread does not exist here; locks held by threads of the parent are meaningless.
  g_tick_lock.reset_after_fork();
  t_relieving = false;
  const int s = g_state.load(std::memory_order_relaxed);
  if (s == kWaiting || s == kStarting || s == kRunning) {
    g_due_ns.store(os::now_ns() + std::uint64_t(g_period_ms) * 1'000'000, std::memory_order_relaxed);
    g_state.store(kWaiting, std::memory_order_release);
    set_poll(1);
  }
}

// pthread_atfork may allocate: called from a slow path with no lfh lock held, once.
void register_fork_handler() {
  if (g_atfork_registered.exchange(true, std::memory_order_acq_rel)) return;
  os::at_fork(nullptr, nullptr, on_fork_child);
}

void thread_main(void *) {
  const std::uint64_t period_ns = std::uint64_t(g_period_ms) * 1'000'000;
  std::uint64_t sleep = 0;   // started because the first tick is due: run it at once
  for (;;) {
    os::sleep_ns(sleep);
    if (g_exiting.load(std::memory_order_relaxed) || g_state.load(std::memory_order_relaxed) != kRunning) return;
    // Never keep the process alive: after pthread_exit in main the process ends when its last
    // thread does, so leave once every other thread has (the zombie main thread still counts).
    std::uint32_t threads = 0;
    bool main_exited = false;
    if (os::thread_census(&threads, &main_exited) && main_exited) {
      if (threads <= 2) {
        g_state.store(kStopped, std::memory_order_release);
        return;
      }
      sleep = kMainGoneCheckNs;
    } else {
      sleep = period_ns;
    }
    const std::uint64_t now = os::now_ns();
    if (now + kMainGoneCheckNs / 2 < g_due_ns.load(std::memory_order_relaxed)) continue;
    g_due_ns.store(now + period_ns, std::memory_order_relaxed);
    g_tick_lock.lock();
    run_tick_locked(false);
    g_tick_lock.unlock();
  }
}

void configure() {
  int expected = kUnconfigured;
  if (!g_state.compare_exchange_strong(expected, kConfiguring, std::memory_order_acq_rel)) return;
  std::uint64_t ms = option_u64(Opt::balance_ms);
  if (ms > 3'600'000) ms = 3'600'000;
  g_period_ms = std::uint32_t(ms);
  g_thread_mode = option_bool(Opt::balance_thread);
  if (g_period_ms == 0) {
    g_state.store(kOff, std::memory_order_release);
    set_poll(0);
    return;
  }
  g_due_ns.store(os::now_ns() + ms * 1'000'000, std::memory_order_relaxed);
  g_state.store(g_thread_mode ? kWaiting : kInline, std::memory_order_release);
}

void start_thread_now() {
  int expected = kWaiting;
  if (!g_state.compare_exchange_strong(expected, kStarting, std::memory_order_acq_rel)) return;
  // Everything below may allocate (pthread_create's TLS block, pthread_atfork's list): those
  // allocations' slow paths see kStarting and return.
  register_fork_handler();
  // Under Valgrind's memcheck no helper thread: memcheck serializes threads anyway, and a thread
  // still alive at exit leaves its TLS block (allocated through lfh) "possibly lost".
  if (os::vg::memcheck()) {
    g_state.store(kInline, std::memory_order_release);
    return;
  }
  g_state.store(kRunning, std::memory_order_release);   // before the thread can look at it
  if (os::start_thread(thread_main, nullptr, "lfh-balance")) {
    set_poll(0);
    return;
  }
  // No thread (resource limits, seccomp …): tick from the allocation paths instead.
  g_state.store(kInline, std::memory_order_release);
}

void inline_tick(std::uint64_t now) {
  if (!g_tick_lock.try_lock()) return;
  if (now >= g_due_ns.load(std::memory_order_relaxed)) {
    g_due_ns.store(now + std::uint64_t(g_period_ms) * 1'000'000, std::memory_order_relaxed);
    run_tick_locked(false);
  }
  g_tick_lock.unlock();
  register_fork_handler();   // (outside the lock: it may allocate)
}

// At exit: stop touching heaps (the thread checks before every heap and every tick).
__attribute__((destructor)) void balance_at_exit() { g_exiting.store(true, std::memory_order_relaxed); }

}  // namespace

std::uint32_t period_ms() {
  if (g_state.load(std::memory_order_acquire) == kUnconfigured && initialized()) configure();
  return g_period_ms;
}

void set_tick_observer(void (*fn)()) { g_observer.store(fn, std::memory_order_release); }

Stats stats() {
  Stats s{};
  s.ticks = g_counters.ticks.load(std::memory_order_relaxed);
  s.trimmed_bytes = g_counters.trimmed.load(std::memory_order_relaxed);
  s.pressure_trims = g_counters.pressure.load(std::memory_order_relaxed);
  s.depth_raises = g_counters.raises.load(std::memory_order_relaxed);
  s.depth_cuts = g_counters.cuts.load(std::memory_order_relaxed);
  s.lists_flushed = g_counters.lists.load(std::memory_order_relaxed);
  s.threads_flagged = g_counters.threads.load(std::memory_order_relaxed);
  s.subsegments_retired = g_counters.retired.load(std::memory_order_relaxed);
  s.thread_running = g_state.load(std::memory_order_relaxed) == kRunning;
  s.period_ms = g_period_ms;
  return s;
}

void tick_now(bool force) {
  process_heap();
  period_ms();
  g_tick_lock.lock();
  run_tick_locked(force);
  g_tick_lock.unlock();
}

std::size_t trim_now(std::size_t pad) {
  (void)pad;   // no top-of-heap to keep: glibc's pad has nothing to apply to
  Heap &h = process_heap();
  // The caller's own magazine (its slots are ours to touch), unless this thread holds the process
  // heap with lfh_heap_lock (flushing would wait on the bucket locks it holds).
  if (!h.held_by_me()) front_flush_current_thread();
  std::uint64_t flagged = ask_magazines(true);
  std::size_t given = h.trim();
  g_counters.threads.fetch_add(flagged, std::memory_order_relaxed);
  g_counters.trimmed.fetch_add(given, std::memory_order_relaxed);
  return given;
}

}  // namespace lfh::balance

namespace lfh::balance {
namespace {

void poll(bool may_start_thread) {
  if (!initialized()) return;   // a heap used before lfh's initialisation (unit tests)
  int s = g_state.load(std::memory_order_acquire);
  if (s == kUnconfigured) {
    configure();
    s = g_state.load(std::memory_order_acquire);
  }
  if (s != kWaiting && s != kInline) return;
  // The coarse clock (a few ns, ms resolution) is enough to see that a tick is due.
  const std::uint64_t now = os::coarse_now_ns();
  if (now < g_due_ns.load(std::memory_order_relaxed)) return;
  if (s == kWaiting) {
    if (may_start_thread) start_thread_now();   // (never from free(): balance_hooks.h)
  } else {
    inline_tick(now);
  }
}

bool relieve_pressure(void *failing_heap) {
  if (t_relieving || !initialized()) return false;
  const std::uint64_t now = os::now_ns();
  // Not more than once every kReliefGapNs (what was cached is gone already; a program probing
  // malloc with impossible sizes, or filling a fixed-size heap, must not trim on every call), and
  // a relief that gave nothing back is not repeated for kReliefRetryNs.
  const std::uint64_t last = g_last_relief_ns.load(std::memory_order_relaxed);
  if (last && now - last < kReliefGapNs) return false;
  if (last && now - last < kReliefRetryNs && g_last_relief_gain.load(std::memory_order_relaxed) == 0) return false;
  t_relieving = true;
  const std::uint64_t before = vm::totals().committed;
  Heap &p = process_heap();
  auto *f = static_cast<Heap *>(failing_heap);
  if (f && f->maximum() != 0) {
    f->trim();   // a fixed-size heap is full: only its own cached memory can help it
  } else {
    if (!p.held_by_me()) front_flush_current_thread();
    g_counters.threads.fetch_add(ask_magazines(true), std::memory_order_relaxed);
    p.trim();
    if (f && f != &p) f->trim();
    // The other heaps, as far as their locks are free.
    TickCtx ctx{effective_period(), false, true, &p, f, {}};
    for_each_heap(tick_one_heap, &ctx);
    account(ctx.result);
  }
  const std::uint64_t after = vm::totals().committed;
  const std::uint64_t gain = before > after ? before - after : 0;
  g_last_relief_ns.store(now, std::memory_order_relaxed);
  g_last_relief_gain.store(gain, std::memory_order_relaxed);
  g_counters.pressure.fetch_add(1, std::memory_order_relaxed);
  g_counters.trimmed.fetch_add(gain, std::memory_order_relaxed);
  t_relieving = false;
  return gain > 0;
}

}  // namespace
}  // namespace lfh::balance

namespace lfh::detail {
void balance_poll(bool may_start_thread) { balance::poll(may_start_thread); }
bool balance_relieve_pressure(void *failing_heap) { return balance::relieve_pressure(failing_heap); }
}  // namespace lfh::detail
