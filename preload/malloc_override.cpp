// preload/malloc_override.cpp — malloc & co., glibc's __libc_* names, and glibc extras.
// Built into liblfh.so (LD_PRELOAD) and liblfh.a (static linking overrides malloc).
#include <cstddef>

#include "api/glibc_compat.h"
#include "api/libc.h"
#include "api/libc_fast.h"
#include "export.h"
#include "lfh/lfh.h"

namespace libc = lfh::libc;

// malloc and free hold their fast paths themselves (api/libc_fast.h): no jump into libc::.
LFH_EXPORT void *malloc(size_t n) { return libc::fast::malloc(n); }
LFH_EXPORT void free(void *p) { libc::fast::free(p); }
LFH_EXPORT void cfree(void *p) { libc::free(p); }
LFH_EXPORT void free_sized(void *p, size_t n) { libc::free_sized(p, n); }
LFH_EXPORT void free_aligned_sized(void *p, size_t, size_t n) { libc::free_sized(p, n); }
LFH_EXPORT void *calloc(size_t c, size_t n) { return libc::calloc(c, n); }
LFH_EXPORT void *realloc(void *p, size_t n) { return libc::realloc(p, n); }
LFH_EXPORT void *reallocarray(void *p, size_t c, size_t n) { return libc::reallocarray(p, c, n); }
LFH_EXPORT int posix_memalign(void **out, size_t a, size_t n) { return libc::posix_memalign(out, a, n); }
LFH_EXPORT void *aligned_alloc(size_t a, size_t n) { return libc::aligned_alloc(a, n); }
LFH_EXPORT void *memalign(size_t a, size_t n) { return libc::memalign(a, n); }
LFH_EXPORT void *valloc(size_t n) { return libc::valloc(n); }
LFH_EXPORT void *pvalloc(size_t n) { return libc::pvalloc(n); }
LFH_EXPORT size_t malloc_usable_size(void *p) { return libc::malloc_usable_size(p); }

// glibc's introspection and tuning (api/glibc_compat.h). The structs are glibc's layouts; this file
// does not include <malloc.h> (its declarations of malloc & co. carry exception specifications).
struct mallinfo2 : lfh::libc::MallInfo2 {};
struct mallinfo : lfh::libc::MallInfo {};
LFH_EXPORT int malloc_trim(size_t pad) { return libc::malloc_trim(pad); }
LFH_EXPORT struct mallinfo2 mallinfo2(void) { return {libc::mallinfo2()}; }
LFH_EXPORT struct mallinfo mallinfo(void) { return {libc::mallinfo()}; }
LFH_EXPORT void malloc_stats(void) { libc::malloc_stats(); }
LFH_EXPORT int malloc_info(int options, void *stream) { return libc::malloc_info(options, stream); }
LFH_EXPORT int mallopt(int param, int value) { return libc::mallopt(param, value); }

// glibc's internal names: code that calls them directly (or dlsym's them) must not reach
// glibc's allocator with lfh's pointers.
LFH_EXPORT void *__libc_malloc(size_t n) { return libc::malloc(n); }
LFH_EXPORT void __libc_free(void *p) { libc::free(p); }
LFH_EXPORT void *__libc_calloc(size_t c, size_t n) { return libc::calloc(c, n); }
LFH_EXPORT void *__libc_realloc(void *p, size_t n) { return libc::realloc(p, n); }
LFH_EXPORT void *__libc_memalign(size_t a, size_t n) { return libc::memalign(a, n); }
LFH_EXPORT void *__libc_valloc(size_t n) { return libc::valloc(n); }
LFH_EXPORT void *__libc_pvalloc(size_t n) { return libc::pvalloc(n); }
LFH_EXPORT int __posix_memalign(void **out, size_t a, size_t n) { return libc::posix_memalign(out, a, n); }
