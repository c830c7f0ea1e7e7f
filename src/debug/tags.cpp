// debug/tags.cpp — the thread's current pool tag (see tags.h).
#include "debug/tags.h"

#include <cstddef>

namespace lfh::debug {
constinit thread_local TagThread t_tag_thread __attribute__((tls_model("initial-exec"))) = {};

std::uint32_t set_thread_tag(std::uint32_t tag) {
  const std::uint32_t old = t_tag_thread.tag;
  t_tag_thread.tag = tag;
  return old;
}

void tag_text(std::uint32_t tag, char out[5]) {
  for (int i = 0; i < 4; ++i) {
    const unsigned c = (tag >> (8 * i)) & 0xff;
    out[i] = (c >= 0x20 && c < 0x7f) ? char(c) : '?';
  }
  out[4] = '\0';
}

std::uint32_t tag_from_text(const char *s, std::size_t len) {
  if (len == 0 || len > 4) return kNoTag;
  std::uint32_t t = 0;
  for (std::size_t i = 0; i < 4; ++i) t |= std::uint32_t(i < len ? static_cast<unsigned char>(s[i]) : ' ') << (8 * i);
  return t;
}

}  // namespace lfh::debug
