// os/valgrind.cpp — Valgrind client requests (see valgrind.h).
#include "os/valgrind.h"

#include <cstring>

#include "os/os.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#define LFH_HAVE_VALGRIND 1
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif
#endif

namespace lfh::os::vg {

#ifdef LFH_HAVE_VALGRIND

bool memcheck() {
  if (!RUNNING_ON_VALGRIND) return false;
  // Memcheck preloads vgpreload_memcheck-<arch>.so (other tools theirs): look in LD_PRELOAD.
  for (char **e = environment(); e && *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) == 0 && std::strstr(*e, "vgpreload_memcheck")) return true;
  }
  return false;
}

void malloclike(const void *p, std::size_t n, bool zeroed) { VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed ? 1 : 0); }
void resized(const void *p, std::size_t old_n, std::size_t new_n) { VALGRIND_RESIZEINPLACE_BLOCK(p, old_n, new_n, 0); }
void freelike(const void *p) { VALGRIND_FREELIKE_BLOCK(p, 0); }
void noaccess(const void *p, std::size_t n) {
  if (n) VALGRIND_MAKE_MEM_NOACCESS(p, n);
}
void defined(const void *p, std::size_t n) {
  if (n) VALGRIND_MAKE_MEM_DEFINED(p, n);
}
void quiet_begin() { VALGRIND_DISABLE_ERROR_REPORTING; }
void quiet_end() { VALGRIND_ENABLE_ERROR_REPORTING; }

#else

bool memcheck() { return false; }
void malloclike(const void *, std::size_t, bool) {}
void resized(const void *, std::size_t, std::size_t) {}
void freelike(const void *) {}
void noaccess(const void *, std::size_t) {}
void defined(const void *, std::size_t) {}
void quiet_begin() {}
void quiet_end() {}

#endif

}  // namespace lfh::os::vg
