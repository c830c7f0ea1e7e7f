// api/glibc_compat.h — glibc's malloc introspection and tuning calls, answered from lfh's state so
// tools and programs that call them keep working: malloc_trim, mallinfo2 / mallinfo,
// malloc_stats, malloc_info, mallopt. preload/ exports the standard names as one-line calls into
// these. The numbers are the process heap's (malloc's heap); see docs/BALANCE.md for how each
// field maps to lfh's tiers.
#pragma once
#include <cstddef>

namespace lfh::libc {

// struct mallinfo2's layout (glibc ≥ 2.33): ten size_t fields in this order.
struct MallInfo2 {
  std::size_t arena;     // bytes committed by lfh outside live direct blocks (process-wide)
  std::size_t ordblks;   // free core-heap blocks
  std::size_t smblks;    // free small blocks cached in look-aside lists and thread magazines
  std::size_t hblks;     // live direct blocks (their own VM regions: glibc's mmapped chunks)
  std::size_t hblkhd;    // bytes committed for live direct blocks
  std::size_t usmblks;   // always 0 (as in glibc)
  std::size_t fsmblks;   // bytes of the cached small blocks (smblks)
  std::size_t uordblks;  // bytes in use by the program outside direct blocks (LFH + core)
  std::size_t fordblks;  // arena − uordblks: committed but not in use
  std::size_t keepcost;  // bytes malloc_trim would give back now
};
static_assert(sizeof(MallInfo2) == 10 * sizeof(std::size_t));

// glibc's struct mallinfo: the same fields as int (values saturate at INT_MAX).
struct MallInfo {
  int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};

int malloc_trim(std::size_t pad);   // 1 when memory was given back
MallInfo2 mallinfo2();
MallInfo mallinfo();
void malloc_stats();                // to stderr, in glibc's format
int malloc_info(int options, void *stream);   // XML to a FILE *; options must be 0
int mallopt(int param, int value);  // 1: accepted

}  // namespace lfh::libc
