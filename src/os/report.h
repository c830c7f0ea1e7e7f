// os/report.h — the one way lfh reports a misuse it detected: a single line on stderr that starts
// with "lfh: ", names the problem and the address, then abort() (a core dump, a debugger stop).
// Never allocates; safe in any state of the heap.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh {

enum class ErrorKind : std::uint8_t {
  kInvalidFree,      // "invalid free"       pointer lfh never handed out / interior pointer
  kDoubleFree,       // "double free"        block already free
  kHeapCorruption,   // "heap corruption"    metadata damaged
  kWrongHeap,        // "block belongs to another heap"
  kInvalidRealloc,   // "invalid realloc"
  kBufferOverrun,    // "buffer overrun"
  kWriteAfterFree,   // "write after free"
  kUseAfterFree,     // "use after free"
  kBufferUnderrun,   // "buffer underrun"
  kInvalidHeap,      // "invalid heap handle"
};

const char *error_name(ErrorKind k);

// Print "lfh: <name> of <addr>[: detail]" and abort.
[[noreturn]] void fatal_error(ErrorKind k, const void *address, const char *detail = nullptr);

// A one-line message (no abort): "lfh: <text>".
void report_line(const char *text);

}  // namespace lfh
