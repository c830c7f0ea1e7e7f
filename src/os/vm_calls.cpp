// os/vm_calls.cpp — raw virtual-memory system calls (see os.h for the model).
#include <errno.h>
#include <sys/mman.h>

#include <atomic>

#include "base/bits.h"
#include "os/os.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

namespace lfh::os {
namespace {

std::atomic<std::uint32_t> g_fail_every{0};
std::atomic<std::uint64_t> g_fail_calls{0};
std::atomic<std::uint64_t> g_failures{0};

// True when the failure schedule says this call must fail.
bool injected_failure() {
  std::uint32_t n = g_fail_every.load(std::memory_order_relaxed);
  if (LFH_LIKELY(n == 0)) return false;
  if ((g_fail_calls.fetch_add(1, std::memory_order_relaxed) + 1) % n != 0) return false;
  g_failures.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void *map_aligned(std::size_t size, std::size_t align, int prot) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void *p = mmap(nullptr, size, prot, flags, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if ((addr(p) & (align - 1)) == 0) return p;
  // Misaligned: over-reserve by `align` and trim both ends, so no address space is leaked.
  munmap(p, size);
  std::size_t over;
  if (add_overflows(size, align, &over)) return nullptr;
  p = mmap(nullptr, over, prot, flags, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  std::uintptr_t start = addr(p), aligned = align_up(start, align);
  if (aligned > start) munmap(p, aligned - start);
  std::uintptr_t end = start + over, want_end = aligned + size;
  if (end > want_end) munmap(ptr(want_end), end - want_end);
  return ptr(aligned);
}

}  // namespace

void *reserve(std::size_t size, std::size_t align) {
  if (injected_failure()) return nullptr;
  if (size == 0 || size % kGranularity || !is_pow2(align) || align < kGranularity) return nullptr;
  return map_aligned(size, align, PROT_NONE);
}

void *reserve_committed(std::size_t size, std::size_t align) {
  if (injected_failure()) return nullptr;
  if (size == 0 || size % kGranularity || !is_pow2(align) || align < kGranularity) return nullptr;
  return map_aligned(size, align, PROT_READ | PROT_WRITE);
}

bool commit(void *p, std::size_t size) {
  if (injected_failure()) return false;
  return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

bool decommit(void *p, std::size_t size) {
  // One call both drops the pages and makes the range inaccessible; MAP_FIXED over our own
  // reservation cannot race with anyone else's mapping.
  void *q = mmap(p, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  return q == p;
}

bool purge(void *p, std::size_t size) { return madvise(p, size, MADV_DONTNEED) == 0; }

bool release(void *p, std::size_t size) { return munmap(p, size) == 0; }

bool protect(void *p, std::size_t size, bool readable, bool writable) {
  int prot = (readable ? PROT_READ : 0) | (writable ? PROT_WRITE : 0);
  return mprotect(p, size, prot) == 0;
}

bool lock_pages(void *p, std::size_t size) { return mlock(p, size) == 0; }
bool unlock_pages(void *p, std::size_t size) { return munlock(p, size) == 0; }

bool advise_huge(void *p, std::size_t size, bool on) {
#ifdef MADV_HUGEPAGE
  return madvise(p, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0;
#else
  (void)p, (void)size, (void)on;
  return false;
#endif
}

bool residency(void *p, std::size_t size, unsigned char *out) { return mincore(p, size, out) == 0; }

bool move_pages(void *from, std::size_t size, void *to) {
  void *q = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  return q == to;
}

void *reserve_huge(std::size_t size) {
#ifdef MAP_HUGETLB
  if (injected_failure()) return nullptr;
  if (size == 0 || size % kHugePageSize) return nullptr;
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#else
  (void)size;
  return nullptr;
#endif
}

void set_failure_schedule(std::uint32_t every_nth) {
  g_fail_calls.store(0, std::memory_order_relaxed);
  g_fail_every.store(every_nth, std::memory_order_relaxed);
}
std::uint64_t injected_failures() { return g_failures.load(std::memory_order_relaxed); }

}  // namespace lfh::os

namespace lfh::os {
void *reserve_zero_readable(std::size_t size) {
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
}  // namespace lfh::os
