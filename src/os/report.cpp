#include "os/report.h"

#include "base/format.h"
#include "os/os.h"

namespace lfh {

const char *error_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::kInvalidFree: return "invalid free";
    case ErrorKind::kDoubleFree: return "double free";
    case ErrorKind::kHeapCorruption: return "heap corruption";
    case ErrorKind::kWrongHeap: return "block belongs to another heap";
    case ErrorKind::kInvalidRealloc: return "invalid realloc";
    case ErrorKind::kBufferOverrun: return "buffer overrun";
    case ErrorKind::kWriteAfterFree: return "write after free";
    case ErrorKind::kUseAfterFree: return "use after free";
    case ErrorKind::kBufferUnderrun: return "buffer underrun";
    case ErrorKind::kInvalidHeap: return "invalid heap handle";
  }
  return "error";
}

void fatal_error(ErrorKind k, const void *address, const char *detail) {
  LineBuf line;
  line.str("lfh: ").str(error_name(k)).str(" of ").ptr(address);
  if (detail) line.str(": ").str(detail);
  line.str(" (pid ").dec(std::uint64_t(os::pid())).str(")\n");
  os::write_all(2, line.data(), line.size());
  os::abort_process();
}

void report_line(const char *text) {
  LineBuf line;
  line.str("lfh: ").str(text).chr('\n');
  os::write_all(2, line.data(), line.size());
}

}  // namespace lfh
