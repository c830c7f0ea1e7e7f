// debug/patterns.h — the fill patterns of debug blocks (the values Windows' page heap uses) and the
// helpers that write and check them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lfh::debug {

inline constexpr unsigned char kTailFill = 0xab;    // guard bytes after (and before) a block
inline constexpr unsigned char kAllocFill = 0xc0;   // a new block's bytes (page heap modes)
inline constexpr unsigned char kFreeFill = 0xf0;    // a freed block's bytes (free checking)

// The first byte of [p, p+n) that is not `v`, or nullptr. Word at a time.
inline const unsigned char *first_mismatch(const void *p, std::size_t n, unsigned char v) {
  const auto *b = static_cast<const unsigned char *>(p);
  const unsigned char *end = b + n;
  while (b < end && (reinterpret_cast<std::uintptr_t>(b) & 7)) {
    if (*b != v) return b;
    ++b;
  }
  const std::uint64_t w = 0x0101010101010101ull * v;
  while (end - b >= 8) {
    std::uint64_t x;
    std::memcpy(&x, b, 8);
    if (x != w) break;
    b += 8;
  }
  for (; b < end; ++b)
    if (*b != v) return b;
  return nullptr;
}

}  // namespace lfh::debug
