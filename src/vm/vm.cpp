#include "vm/vm.h"

#include "base/bits.h"

namespace lfh::vm {
namespace {

// Process-wide counters. Touched only on slow paths (commit/decommit are system calls anyway).
constinit std::atomic<std::uint64_t> g_reserved{0};
constinit std::atomic<std::uint64_t> g_committed{0};
constinit std::atomic<std::uint64_t> g_peak{0};
constinit std::atomic<std::uint64_t> g_limit{0};
constinit std::atomic<std::uint64_t> g_decommitted{0};
constinit std::atomic<std::uint64_t> g_failures{0};

void note_peak(std::uint64_t now) {
  std::uint64_t p = g_peak.load(std::memory_order_relaxed);
  while (now > p && !g_peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

bool charge(std::size_t bytes) {
  std::uint64_t limit = g_limit.load(std::memory_order_relaxed);
  std::uint64_t now = g_committed.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (limit && now > limit) {
    g_committed.fetch_sub(bytes, std::memory_order_relaxed);
    g_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  note_peak(now);
  return true;
}

void uncharge(std::size_t bytes) { g_committed.fetch_sub(bytes, std::memory_order_relaxed); }

void *reserve(std::size_t size, std::size_t align) {
  void *p = os::reserve(size, align);
  if (p) g_reserved.fetch_add(size, std::memory_order_relaxed);
  return p;
}

void release(void *p, std::size_t size) {
  if (os::release(p, size)) g_reserved.fetch_sub(size, std::memory_order_relaxed);
}

bool commit(void *p, std::size_t size) {
  if (!charge(size)) return false;
  if (!os::commit(p, size)) {
    uncharge(size);
    g_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void decommit(void *p, std::size_t size) {
  os::decommit(p, size);
  uncharge(size);
  g_decommitted.fetch_add(size, std::memory_order_relaxed);
}

void purge(void *p, std::size_t size) {
  os::purge(p, size);
  uncharge(size);
  g_decommitted.fetch_add(size, std::memory_order_relaxed);
}

void *reserve_committed(std::size_t size, std::size_t align) {
  if (!charge(size)) return nullptr;
  void *p = os::reserve_committed(size, align);
  if (!p) {
    uncharge(size);
    g_failures.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  g_reserved.fetch_add(size, std::memory_order_relaxed);
  return p;
}

void release_committed(void *p, std::size_t size, std::size_t committed) {
  release(p, size);
  uncharge(committed);
}

void *reserve_huge(std::size_t size) {
  if (!charge(size)) return nullptr;
  void *p = os::reserve_huge(size);
  if (!p) {
    uncharge(size);   // no huge pages: the caller falls back (not a failure worth counting)
    return nullptr;
  }
  g_reserved.fetch_add(size, std::memory_order_relaxed);
  return p;
}

bool move(void *from, std::size_t size, void *to) {
  if (!os::move_pages(from, size, to)) return false;
  g_reserved.fetch_sub(size, std::memory_order_relaxed);
  return true;
}

void set_commit_limit(std::uint64_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

Totals totals() {
  return Totals{g_reserved.load(std::memory_order_relaxed),  g_committed.load(std::memory_order_relaxed),
                g_peak.load(std::memory_order_relaxed),      g_limit.load(std::memory_order_relaxed),
                g_decommitted.load(std::memory_order_relaxed), g_failures.load(std::memory_order_relaxed)};
}

}  // namespace lfh::vm
