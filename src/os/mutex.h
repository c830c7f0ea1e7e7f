// os/mutex.h — a small futex mutex (Drepper's "Futexes are tricky", mutex #3) for the slow paths:
// bucket refills, span carving, direct-block lists. Never held on the malloc/free fast path.
//
// State: 0 unlocked, 1 locked, 2 locked with (possible) waiters. Constexpr-constructible, so
// mutexes in constinit globals work before any constructor runs; after fork() the child resets
// them with reset_after_fork() because the threads that held them do not exist there.
#pragma once
#include <atomic>
#include <cstdint>

#include "os/os.h"

namespace lfh::os {

class Mutex {
 public:
  constexpr Mutex() = default;

  void lock() {
    std::uint32_t c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
    // Brief spin: slow-path critical sections are short.
    for (int i = 0; i < 64; ++i) {
      __builtin_ia32_pause_compat();
      c = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_strong(c, 1, std::memory_order_acquire))
        return;
    }
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      futex_wait(reinterpret_cast<std::uint32_t *>(&state_), 2);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }

  bool try_lock() {
    std::uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire);
  }

  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2)
      futex_wake(reinterpret_cast<std::uint32_t *>(&state_), 1);
  }

  bool is_locked() const { return state_.load(std::memory_order_relaxed) != 0; }
  void reset_after_fork() { state_.store(0, std::memory_order_relaxed); }

 private:
  static void __builtin_ia32_pause_compat() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
  }
  std::atomic<std::uint32_t> state_{0};
};
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

// RAII guard; `enabled` false makes it a no-op (no-serialize heaps).
class LockGuard {
 public:
  explicit LockGuard(Mutex &m, bool enabled = true) : m_(enabled ? &m : nullptr) {
    if (m_) m_->lock();
  }
  ~LockGuard() {
    if (m_) m_->unlock();
  }
  LockGuard(const LockGuard &) = delete;
  LockGuard &operator=(const LockGuard &) = delete;

 private:
  Mutex *m_;
};

}  // namespace lfh::os
