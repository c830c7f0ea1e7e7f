// api/libc_fast.h — malloc's and free's bodies, inline, for the places that are malloc and free:
// lfh::libc::malloc/free (api/libc.cpp) and preload/'s exported symbols, which thus hold the whole
// fast path themselves instead of jumping into libc::malloc (one jump less per call). The rest of
// the C library's rules stay in api/libc.cpp; only what these two bodies call is declared here.
#pragma once
#include <cstddef>

#include "debug/debug.h"
#include "heap/front.h"
#include "vm/page_map.h"

namespace lfh::libc::fast {

// Out of line (api/libc.cpp).
void *fail_nomem();                    // errno = ENOMEM, nullptr
void *malloc_large(std::size_t n);     // above the LFH's largest block
void *malloc_debug(std::size_t n);     // any debug mode is on: tail-called, so its return address is the caller's
void free_other(void *p);              // not a process-heap LFH block (or not lfh's at all)
void free_ungated(void *p);            // free()'s gated lookup found no LFH block (or NULL)
using FreeFn = void (*)(void *);
extern LFH_HIDDEN FreeFn g_free_debug;  // free() while a debug mode is on (libc.cpp)

LFH_ALWAYS_INLINE void *malloc_plain(std::size_t n) {
  unsigned b;
  // The table's sizes first (one compare), then the rest of the LFH's, then large blocks.
  if (LFH_LIKELY(n <= lfh_buckets::kRequestTableMax)) b = lfh_buckets::bucket_for_table_request(n);
  else if (LFH_LIKELY(n <= lfh_buckets::kMaxSize)) b = lfh_buckets::bucket_of_computed(n);
  else return malloc_large(n);
  void *p = front_alloc(b);
  return LFH_LIKELY(p != nullptr) ? p : fail_nomem();
}

// malloc() itself: malloc_plain with the debug layer's test folded into the table's size compare
// (debug::g_malloc_gate is 0 while it is on), so only requests above the table test it. Written
// out rather than through a helper shared with malloc_plain: with one, g++ 12 gave malloc a stack
// frame (malloc+free 69 -> 72 instructions, bench/callgrind_fastpath.sh).
LFH_ALWAYS_INLINE void *malloc(std::size_t n) {
  unsigned b;
  if (LFH_LIKELY(n < __atomic_load_n(&debug::g_malloc_gate, __ATOMIC_RELAXED))) b = lfh_buckets::bucket_for_table_request(n);
  else if (LFH_UNLIKELY(debug::active())) return malloc_debug(n);
  else if (LFH_LIKELY(n <= lfh_buckets::kMaxSize)) b = lfh_buckets::bucket_of_computed(n);
  else return malloc_large(n);
  void *p = front_alloc(b);
  return LFH_LIKELY(p != nullptr) ? p : fail_nomem();
}

// free() with no debug mode on. The fast path makes no system call; the overflow path keeps errno
// itself. free(NULL) needs no test before the lookup: address 0 is never in an lfh region (the map
// is readable everywhere and its entry for granule 0 stays empty), so NULL takes the branch below.
// (An early `if (!p) return` also made the compiler split free() in two: one more call.)
LFH_ALWAYS_INLINE void free_plain(void *p) {
  if (!front_free_owned(vm::pagemap_lookup(p), p) && p) free_other(p);
}

// free() itself: free_plain with the debug layer's test moved behind the page map's gate (closed
// while it is on, vm::pagemap_lookup_gated), so only frees that miss the fast path test it.
LFH_ALWAYS_INLINE void free(void *p) {
  if (!front_free_owned(vm::pagemap_lookup_gated(p), p)) free_ungated(p);
}

}  // namespace lfh::libc::fast
