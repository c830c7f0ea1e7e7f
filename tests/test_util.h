// test_util.h — small helpers shared by the test programs: a fill pattern that depends on a
// seed, its check, and a way to hide a pointer from the compiler's analysis.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lfh_test {

// Hide a pointer's origin from the optimiser (so free(&local) or a deliberate double free is
// neither warned about nor folded away).
inline void *launder(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// Seed for a block: a function of where it lives and how big it is.
inline std::uint64_t seed_for(const void *p, std::size_t n) {
  return mix(reinterpret_cast<std::uintptr_t>(p) ^ (std::uint64_t(n) << 48) ^ n);
}

// Byte i of the pattern of `seed`.
inline unsigned char pattern_byte(std::uint64_t seed, std::size_t i) {
  return static_cast<unsigned char>((seed >> ((i & 7) * 8)) + i / 8);
}

// Fill / check the first n bytes with the pattern (whole words where possible).
inline void fill(void *p, std::size_t n, std::uint64_t seed) {
  auto *b = static_cast<unsigned char *>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = pattern_byte(seed, i);
}
inline bool check(const void *p, std::size_t n, std::uint64_t seed) {
  auto *b = static_cast<const unsigned char *>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != pattern_byte(seed, i)) return false;
  return true;
}

inline bool all_zero(const void *p, std::size_t n) {
  auto *b = static_cast<const unsigned char *>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i]) return false;
  return true;
}

inline bool aligned(const void *p, std::size_t a) { return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0; }

}  // namespace lfh_test
