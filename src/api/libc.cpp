#include "api/libc.h"

#include <errno.h>

#include <cstdint>
#include <cstring>

#include "api/libc_fast.h"
#include "base/bits.h"
#include "debug/debug.h"
#include "debug/tag_fast.h"
#include "heap/front.h"
#include "heap/runtime.h"
#include "os/os.h"

namespace lfh::libc {

namespace fast {

void *fail_nomem() {
  errno = ENOMEM;
  return nullptr;
}

void *malloc_large(std::size_t n) {
  void *p = process_heap().alloc(n);
  return p ? p : fail_nomem();
}

void free_other(void *p) {
  int saved = errno;   // free must not change errno, even when a system call inside fails
  free_block(p);
  errno = saved;
}

void free_ungated(void *p) {
  if (LFH_UNLIKELY(debug::active())) {
    if (p) __atomic_load_n(&g_free_debug, __ATOMIC_RELAXED)(p);   // a tail call
    return;
  }
  if (p) free_other(p);
}

}  // namespace fast

namespace {

using fast::fail_nomem;
using fast::free_other;
using fast::free_plain;
using fast::malloc_plain;

// Requests above PTRDIFF_MAX cannot be objects; glibc refuses them with ENOMEM too.
constexpr std::size_t kMaxRequest = std::size_t(PTRDIFF_MAX);

// posix_memalign, aligned_alloc, memalign: the debug layer's, when it is on.
inline void *alloc_aligned(std::size_t align, std::size_t n) {
  return LFH_UNLIKELY(debug::active()) ? debug::aligned_alloc(align, n) : process_heap().alloc_aligned(align, n);
}

// The debug layer's malloc when tag mode's fast path declined (or is not in use).
LFH_NOINLINE void *malloc_debug_slow(std::size_t n, const void *ra) {
  if (debug::tg::g_fast_alloc) {
    if (void *p = debug::tg::alloc_site(n, ra)) return p;
  }
  void *q;
  if (debug::on_malloc(n, &q)) return q ? q : fail_nomem();
  return malloc_plain(n);
}

// calloc of n = count * size bytes (checked), on the plain path.
LFH_ALWAYS_INLINE void *calloc_plain(std::size_t n) {
  void *p;
  if (LFH_LIKELY(n <= lfh_buckets::kMaxSize)) {
    p = front_alloc(lfh_buckets::bucket_for_request(n));
    if (p) std::memset(p, 0, n);
  } else {
    p = process_heap().alloc_zeroed(n);   // fresh large blocks are demand-zero: not cleared again
  }
  return p ? p : fail_nomem();
}

// Tail-called by calloc, as malloc_debug by malloc.
LFH_NOINLINE void *calloc_debug(std::size_t n) {
  const void *ra = __builtin_return_address(0);
  if (void *p = debug::tg::fast_alloc(n, ra, true)) return p;
  if (debug::tg::g_fast_alloc) {
    if (void *p = debug::tg::alloc_site(n, ra, true)) return p;
  }
  if (void *q; debug::on_calloc(n, &q)) return q ? q : fail_nomem();
  return calloc_plain(n);
}

// g_free_debug's first target (below).
void free_debug_first(void *p);

// Tag mode: only tail calls (tg::fast_free is a leaf that tail-calls tg::free when it declines),
// so no stack frame.
LFH_NOINLINE void free_debug_tags(void *p) { debug::tg::fast_free(p); }

LFH_NOINLINE void free_debug_other(void *p) {
  if (debug::on_free(p)) return;
  free_plain(p);
}

LFH_NOINLINE void free_debug_first(void *p) {
  const fast::FreeFn f = debug::tg::g_on ? free_debug_tags : free_debug_other;
  __atomic_store_n(&fast::g_free_debug, f, __ATOMIC_RELAXED);
  f(p);
}

}  // namespace

namespace fast {

// Out of line, so the debug layer's call does not give malloc's fast path a stack frame.
// malloc tail-calls it, and so does preload/'s exported malloc call malloc: its return address is
// then the program's call site, which tag mode attributes untagged blocks to (tag_fast.h; an
// address inside lfh makes that path decline). Read here, not in malloc: __builtin_return_address
// there would cost malloc's plain path a stack frame. tg::fast_alloc is a leaf and the slow path
// a tail call: no frame here either.
void *malloc_debug(std::size_t n) {
  const void *ra = __builtin_return_address(0);
  // Pool tags: the inline fast path first (it declines in every other debug mode).
  if (void *p = debug::tg::fast_alloc(n, ra, false)) return p;
  return malloc_debug_slow(n, ra);
}

// free's debug branch jumps through this pointer: free_debug_first, which puts the entry for the
// debug mode in use there (tag mode's, or the debug layer's) and calls it. debug::init sets its
// modes once, before debug::active() turns true, so every thread that gets here finds the same
// one: the racing stores write the same value. Saves tag mode's free a test of its flag.
constinit FreeFn g_free_debug = free_debug_first;

}  // namespace fast

void *malloc(std::size_t n) { return fast::malloc(n); }

void free(void *p) { fast::free(p); }

void free_sized(void *p, std::size_t) { free(p); }

void *calloc(std::size_t count, std::size_t size) {
  std::size_t n;
  if (mul_overflows(count, size, &n) || n > kMaxRequest) return fail_nomem();
  if (LFH_UNLIKELY(debug::active())) return calloc_debug(n);
  return calloc_plain(n);
}

void *realloc(void *p, std::size_t n) {
  if (!p) return malloc(n);
  if (n == 0) {   // glibc: realloc(p, 0) frees p and returns NULL
    free(p);
    return nullptr;
  }
  if (n > kMaxRequest) return fail_nomem();
  if (void *q; LFH_UNLIKELY(debug::active()) && debug::on_realloc(p, n, &q)) return q ? q : fail_nomem();
  Heap *h = owner_heap(p);
  if (!h) {
    free_block(p);   // reports the invalid pointer and aborts
    return nullptr;
  }
  void *q = h->realloc(p, n);
  return q ? q : fail_nomem();   // on failure the old block is intact
}

void *reallocarray(void *p, std::size_t count, std::size_t size) {
  std::size_t n;
  if (mul_overflows(count, size, &n)) return fail_nomem();
  return realloc(p, n);
}

int posix_memalign(void **out, std::size_t align, std::size_t n) {
  if (!is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;   // *out untouched
  if (n > kMaxRequest) return ENOMEM;
  void *p = alloc_aligned(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void *aligned_alloc(std::size_t align, std::size_t n) {
  if (!is_pow2(align)) {   // glibc ≥ 2.38: not a power of two → EINVAL
    errno = EINVAL;
    return nullptr;
  }
  if (n > kMaxRequest) return fail_nomem();
  void *p = alloc_aligned(align, n);
  return p ? p : fail_nomem();
}

void *memalign(std::size_t align, std::size_t n) {
  // glibc: a non-power-of-two alignment is rounded up to the next power of two.
  if (align > kMaxRequest / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (!is_pow2(align)) align = std::size_t(1) << std::bit_width(align);
  if (n > kMaxRequest) return fail_nomem();
  void *p = alloc_aligned(align, n);
  return p ? p : fail_nomem();
}

void *valloc(std::size_t n) { return memalign(os::kPageSize, n); }

void *pvalloc(std::size_t n) {
  std::size_t r;
  if (add_overflows(n, os::kPageSize - 1, &r)) return fail_nomem();
  r &= ~(os::kPageSize - 1);
  return memalign(os::kPageSize, r ? r : os::kPageSize);
}

std::size_t malloc_usable_size(const void *p) {
  if (!p) return 0;
  return LFH_UNLIKELY(debug::active()) ? debug::usable_size(p) : usable_size(p);
}

}  // namespace lfh::libc
