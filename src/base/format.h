// base/format.h — a fixed-buffer line builder for messages printed from inside the allocator.
// It never allocates (printf may), so it is usable in malloc, in a fork child and in signal handlers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh {

class LineBuf {
 public:
  LineBuf &str(const char *s) {
    while (s && *s && len_ < kCap) buf_[len_++] = *s++;
    return *this;
  }
  LineBuf &chr(char c) {
    if (len_ < kCap) buf_[len_++] = c;
    return *this;
  }
  LineBuf &hex(std::uintptr_t v) {
    str("0x");
    char tmp[16];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v);
    while (n) chr(tmp[--n]);
    return *this;
  }
  LineBuf &ptr(const void *p) { return hex(reinterpret_cast<std::uintptr_t>(p)); }
  LineBuf &dec(std::uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = char('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) chr(tmp[--n]);
    return *this;
  }
  LineBuf &sdec(std::int64_t v) {
    if (v < 0) {
      chr('-');
      return dec(std::uint64_t(0) - std::uint64_t(v));
    }
    return dec(std::uint64_t(v));
  }
  // Right-aligned decimal in a column of `width` characters (for tables).
  LineBuf &dec_w(std::uint64_t v, int width) {
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = char('0' + v % 10);
      v /= 10;
    } while (v);
    for (int i = n; i < width; ++i) chr(' ');
    while (n) chr(tmp[--n]);
    return *this;
  }
  // Sizes in human units: 12.3M style with one decimal.
  LineBuf &size(std::uint64_t bytes) {
    static const char units[] = "BKMGTP";
    int u = 0;
    std::uint64_t whole = bytes, tenths = 0;
    while (whole >= 1024 && u < 5) {
      tenths = (whole % 1024) * 10 / 1024;
      whole /= 1024;
      ++u;
    }
    dec(whole);
    if (u) chr('.').dec(tenths);
    return chr(units[u]);
  }
  const char *data() const { return buf_; }
  std::size_t size() const { return len_; }
  void clear() { len_ = 0; }

 private:
  static constexpr std::size_t kCap = 1024;
  char buf_[kCap];
  std::size_t len_ = 0;
};

// Parses lowercase hex digits at p (as /proc/self/maps writes addresses), advancing p past them.
inline std::uintptr_t parse_hex(const char *&p, const char *end) {
  std::uintptr_t v = 0;
  for (; p < end; ++p) {
    const char c = *p;
    unsigned d;
    if (c >= '0' && c <= '9') d = unsigned(c - '0');
    else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
    else break;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace lfh
