// os/stream.cpp — see stream.h.
#include "os/stream.h"

#include <stdio.h>

namespace lfh::os {

bool write_stream(void *stream, const void *buf, std::size_t n) {
  if (!stream) return false;
  return fwrite(buf, 1, n, static_cast<FILE *>(stream)) == n;
}

}  // namespace lfh::os
