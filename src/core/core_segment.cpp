// core/core_segment.cpp — the committed-page bitmap of a core segment.
#include "core/core_segment.h"

#include <bit>
#include <cstring>

#include "vm/vm.h"

namespace lfh::core {
namespace {

// Length of the run of pages starting at page i (< n) whose bit equals `set`.
std::size_t run_length(const std::uint64_t *bits, std::size_t i, std::size_t n, bool set) {
  std::size_t j = i;
  while (j < n) {
    std::uint64_t w = set ? bits[j / 64] : ~bits[j / 64];
    w >>= (j % 64);   // bit 0 is page j; the vacated top bits are 0, so the count stops there
    std::size_t avail = 64 - (j % 64);
    std::size_t ones = std::size_t(std::countr_one(w));
    j += ones;
    if (ones < avail) break;
  }
  return (j < n ? j : n) - i;
}

void set_bits(std::uint64_t *bits, std::size_t i, std::size_t n, bool on) {
  for (std::size_t k = i; k < i + n;) {
    std::size_t in_word = 64 - (k % 64);
    if (in_word > i + n - k) in_word = i + n - k;
    std::uint64_t m = (in_word == 64 ? ~std::uint64_t(0) : ((std::uint64_t(1) << in_word) - 1)) << (k % 64);
    if (on) bits[k / 64] |= m;
    else bits[k / 64] &= ~m;
    k += in_word;
  }
}

}  // namespace

std::size_t Segment::committed_in(std::uintptr_t from, std::uintptr_t to) const {
  if (from >= to) return 0;
  std::size_t i = (from - addr(base)) / os::kPageSize, n = (to - addr(base)) / os::kPageSize;
  std::size_t pages = 0;
  while (i < n) {
    std::size_t in_word = 64 - (i % 64);
    if (in_word > n - i) in_word = n - i;
    std::uint64_t m = (in_word == 64 ? ~std::uint64_t(0) : ((std::uint64_t(1) << in_word) - 1)) << (i % 64);
    pages += std::size_t(std::popcount(bits[i / 64] & m));
    i += in_word;
  }
  return pages * os::kPageSize;
}

bool Segment::commit(std::uintptr_t from, std::uintptr_t to, bool lock, bool zero, std::uintptr_t zfrom,
                     std::uintptr_t zto) {
  std::uintptr_t b = addr(base);
  std::size_t i = (align_down(from, os::kPageSize) - b) / os::kPageSize;
  std::size_t n = (align_up(to, os::kPageSize) - b) / os::kPageSize;
  // First clear the part of [zfrom, zto) on pages already committed (they may hold old data),
  // before committing anything, so "already committed" still means "maybe dirty".
  if (zero && zfrom < zto) {
    for (std::size_t k = i; k < n;) {
      bool on = (bits[k / 64] >> (k % 64)) & 1;
      std::size_t len = run_length(bits, k, n, on);
      if (on) {
        std::uintptr_t lo = b + k * os::kPageSize, hi = lo + len * os::kPageSize;
        if (lo < zfrom) lo = zfrom;
        if (hi > zto) hi = zto;
        if (lo < hi) std::memset(ptr(lo), 0, hi - lo);
      }
      k += len;
    }
  }
  // Map read/write up to the end of the range first (one mprotect, only when carving past the
  // high-water mark; pages mapped but not charged are untouched and cost nothing).
  const std::uintptr_t hi = align_up(to, os::kPageSize);
  if (hi > addr(rw_end)) {
    if (!os::commit(rw_end, hi - addr(rw_end))) return false;
    rw_end = ptr<char>(hi);
  }
  for (std::size_t k = i; k < n;) {
    bool on = (bits[k / 64] >> (k % 64)) & 1;
    std::size_t len = run_length(bits, k, n, on);
    if (!on) {
      void *p = ptr(b + k * os::kPageSize);
      std::size_t bytes = len * os::kPageSize;
      if (!vm::charge(bytes)) return false;
      if (lock && !os::lock_pages(p, bytes)) {
        vm::uncharge(bytes);
        return false;
      }
      set_bits(bits, k, len, true);
      committed += bytes;
    }
    k += len;
  }
  return true;
}

std::size_t Segment::decommit(std::uintptr_t from, std::uintptr_t to, bool lock) {
  if (from >= to) return 0;
  std::uintptr_t b = addr(base);
  std::size_t i = (from - b) / os::kPageSize, n = (to - b) / os::kPageSize;
  std::size_t given = 0;
  for (std::size_t k = i; k < n;) {
    bool on = (bits[k / 64] >> (k % 64)) & 1;
    std::size_t len = run_length(bits, k, n, on);
    if (on) {
      std::size_t bytes = len * os::kPageSize;
      void *p = ptr(b + k * os::kPageSize);
      if (lock) os::unlock_pages(p, bytes);   // MADV_DONTNEED refuses locked pages
      vm::purge(p, bytes);
      set_bits(bits, k, len, false);
      committed -= bytes;
      given += bytes;
    }
    k += len;
  }
  return given;
}

}  // namespace lfh::core
