// base/bits.h — freestanding bit and size helpers used by every layer.
// Nothing here allocates or makes a system call.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>

namespace lfh {

#define LFH_LIKELY(x) __builtin_expect(!!(x), 1)
#define LFH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LFH_NOINLINE __attribute__((noinline))
#define LFH_ALWAYS_INLINE inline __attribute__((always_inline))
// On extern declarations of hot globals: the library-internal symbol is reached PC-relative, not
// through the GOT (-fvisibility=hidden only covers definitions).
#define LFH_HIDDEN __attribute__((visibility("hidden")))
// 1 in a ThreadSanitizer build (g++ defines __SANITIZE_THREAD__, clang has __has_feature).
#if defined(__SANITIZE_THREAD__)
#define LFH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFH_TSAN 1
#endif
#endif
#ifndef LFH_TSAN
#define LFH_TSAN 0
#endif

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;
inline constexpr std::size_t kGiB = 1024 * kMiB;
inline constexpr std::size_t kCacheLine = 64;

constexpr bool is_pow2(std::size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Round up/down to a power-of-two multiple. Precondition: is_pow2(a).
constexpr std::size_t align_up(std::size_t x, std::size_t a) { return (x + a - 1) & ~(a - 1); }
constexpr std::size_t align_down(std::size_t x, std::size_t a) { return x & ~(a - 1); }
inline std::uintptr_t addr(const void *p) { return reinterpret_cast<std::uintptr_t>(p); }
template <class T = void> inline T *ptr(std::uintptr_t a) { return reinterpret_cast<T *>(a); }

// Overflow-checked add/multiply for the libc rules (calloc, reallocarray, alignment slack).
inline bool add_overflows(std::size_t a, std::size_t b, std::size_t *out) {
  return __builtin_add_overflow(a, b, out);
}
inline bool mul_overflows(std::size_t a, std::size_t b, std::size_t *out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace lfh
