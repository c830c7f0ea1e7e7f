// debug/quarantine.cpp — the free queue of checked blocks (see quarantine.h).
#include "debug/quarantine.h"

#include "debug/checked.h"
#include "debug/config.h"
#include "heap/runtime.h"
#include "os/cpu.h"
#include "os/mutex.h"

namespace lfh::debug {
namespace {

constexpr unsigned kShards = 8;

struct alignas(64) Shard {
  os::Mutex lock;
  void *head = nullptr;   // oldest
  void *tail = nullptr;
  std::size_t bytes = 0;
};

constinit Shard g_shards[kShards];
constinit std::size_t g_shard_budget = (std::size_t(64) << 20) / kShards;

// A queued block's first word (its freed header's `link`) chains the queue.
inline void *&next_of(void *b) { return *static_cast<void **>(b); }

// Check a block leaving the queue and give it back (a damaged one is reported and kept).
void leave(void *b, const void *entry_cfa) {
  if (checked_verify_freed(b, entry_cfa, false)) checked_release(b);
}

}  // namespace

void quarantine_init() { g_shard_budget = g_cfg.free_delay / kShards; }

void quarantine_push(void *base, std::size_t usable, const void *entry_cfa) {
  Shard &s = g_shards[os::current_cpu_fast() % kShards];
  void *out = nullptr;
  {
    os::LockGuard g(s.lock);
    next_of(base) = nullptr;
    if (s.tail) next_of(s.tail) = base;
    else s.head = base;
    s.tail = base;
    s.bytes += usable;
    while (s.bytes > g_shard_budget && s.head) {
      void *o = s.head;
      s.head = next_of(o);
      if (!s.head) s.tail = nullptr;
      s.bytes -= lfh::usable_size(o);
      next_of(o) = out;
      out = o;
    }
  }
  while (out) {
    void *o = out;
    out = next_of(o);
    leave(o, entry_cfa);
  }
}

bool quarantine_validate() {
  for (Shard &s : g_shards) {
    os::LockGuard g(s.lock);
    for (void *b = s.head; b; b = next_of(b)) {
      void *next = next_of(b);
      bool ok = checked_verify_freed(b, nullptr, true);
      next_of(b) = next;   // (verification does not touch the link; keep it obviously so)
      if (!ok) return false;
    }
  }
  return true;
}

void quarantine_drop_heap(Heap &h) {
  for (Shard &s : g_shards) {
    os::LockGuard g(s.lock);
    void *prev = nullptr;
    for (void *b = s.head; b;) {
      void *next = next_of(b);
      if (lfh::owner_heap(b) == &h) {
        s.bytes -= lfh::usable_size(b);
        if (prev) next_of(prev) = next;
        else s.head = next;
        if (s.tail == b) s.tail = prev;
      } else {
        prev = b;
      }
      b = next;
    }
  }
}

void quarantine_drain() {
  for (Shard &s : g_shards) {
    void *list;
    {
      os::LockGuard g(s.lock);
      list = s.head;
      s.head = s.tail = nullptr;
      s.bytes = 0;
    }
    while (list) {
      void *b = list;
      list = next_of(b);
      leave(b, nullptr);
    }
  }
}

void quarantine_fork_prepare() {
  for (Shard &s : g_shards) s.lock.lock();
}
void quarantine_fork_parent() {
  for (unsigned i = kShards; i-- > 0;) g_shards[i].lock.unlock();
}
void quarantine_fork_child() {
  for (Shard &s : g_shards) s.lock.reset_after_fork();
}

}  // namespace lfh::debug
