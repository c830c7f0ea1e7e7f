// os/stream.h — writing to a C stdio stream (FILE *) for the glibc-compatible reports that take
// one (malloc_info). stdio may allocate its buffer on first use: call only from the API, never from
// inside an allocation, and never while holding an lfh lock.
#pragma once
#include <cstddef>

namespace lfh::os {

// fwrite the whole buffer to `stream` (a FILE *). False on a short write.
bool write_stream(void *stream, const void *buf, std::size_t n);

}  // namespace lfh::os
