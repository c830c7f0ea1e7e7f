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

LFH_ALWAYS_INLINE void *malloc(std::size_t n) {
  if (LFH_UNLIKELY(debug::active())) return malloc_debug(n);
  return malloc_plain(n);
}

// free() with no debug mode on. The fast path makes no system call; the overflow path keeps errno
// itself. free(NULL) needs no test before the lookup: address 0 is never in an lfh region (the map
// is readable everywhere and its entry for granule 0 stays empty), so NULL takes the branch below.
// (An early `if (!p) return` also made the compiler split free() in two: one more call.)
LFH_ALWAYS_INLINE void free_plain(void *p) {
  if (!front_free_owned(vm::pagemap_lookup(p), p) && p) free_other(p);
}

LFH_ALWAYS_INLINE void free(void *p) {
  if (LFH_UNLIKELY(debug::active())) {
    if (p) __atomic_load_n(&g_free_debug, __ATOMIC_RELAXED)(p);   // a tail call
    return;
  }
  free_plain(p);
}

}  // namespace lfh::libc::fast
