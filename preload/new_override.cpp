// preload/new_override.cpp — every C++ operator new/delete form. Compiled with exceptions (unlike
// the core): operator new must throw std::bad_alloc after the new_handler gives up.
#include <cstddef>
#include <new>

#include "api/libc.h"
#include "export.h"

namespace {

namespace libc = lfh::libc;

// The standard's loop: try, call the new_handler, try again; no handler → bad_alloc.
template <bool kNoThrow>
void *new_slow(std::size_t n, std::size_t align) {
  for (;;) {
    std::new_handler h = std::get_new_handler();
    if (!h) {
      if constexpr (kNoThrow) return nullptr;
      else throw std::bad_alloc();
    }
    if constexpr (kNoThrow) {
      try {
        h();
      } catch (...) {
        return nullptr;
      }
    } else {
      h();
    }
    void *p = align ? libc::aligned_alloc(align, n) : libc::malloc(n);
    if (p) return p;
  }
}

inline void *new_impl(std::size_t n) {
  void *p = libc::malloc(n);
  return __builtin_expect(p != nullptr, 1) ? p : new_slow<false>(n, 0);
}
inline void *new_nothrow(std::size_t n) noexcept {
  void *p = libc::malloc(n);
  return __builtin_expect(p != nullptr, 1) ? p : new_slow<true>(n, 0);
}
inline void *new_aligned(std::size_t n, std::align_val_t a) {
  void *p = libc::aligned_alloc(std::size_t(a), n);
  return p ? p : new_slow<false>(n, std::size_t(a));
}
inline void *new_aligned_nothrow(std::size_t n, std::align_val_t a) noexcept {
  void *p = libc::aligned_alloc(std::size_t(a), n);
  return p ? p : new_slow<true>(n, std::size_t(a));
}

}  // namespace

#define LFH_NEW_EXPORT __attribute__((visibility("default")))

LFH_NEW_EXPORT void *operator new(std::size_t n) { return new_impl(n); }
LFH_NEW_EXPORT void *operator new[](std::size_t n) { return new_impl(n); }
LFH_NEW_EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n); }
LFH_NEW_EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n); }
LFH_NEW_EXPORT void *operator new(std::size_t n, std::align_val_t a) { return new_aligned(n, a); }
LFH_NEW_EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return new_aligned(n, a); }
LFH_NEW_EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return new_aligned_nothrow(n, a);
}
LFH_NEW_EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return new_aligned_nothrow(n, a);
}

LFH_NEW_EXPORT void operator delete(void *p) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete[](void *p) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete(void *p, std::size_t n) noexcept { libc::free_sized(p, n); }
LFH_NEW_EXPORT void operator delete[](void *p, std::size_t n) noexcept { libc::free_sized(p, n); }
LFH_NEW_EXPORT void operator delete(void *p, std::align_val_t) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete[](void *p, std::align_val_t) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete(void *p, std::size_t n, std::align_val_t) noexcept { libc::free_sized(p, n); }
LFH_NEW_EXPORT void operator delete[](void *p, std::size_t n, std::align_val_t) noexcept { libc::free_sized(p, n); }
LFH_NEW_EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { libc::free(p); }
LFH_NEW_EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { libc::free(p); }
