// debug/report.h — how the debug layer tells the user about a bug it caught.
//
//   lfh: buffer overrun at 0x7f…0010: 1 byte past the end of block 0x7f…0000 (size 16)
//   lfh:   write of 1 byte … (any extra lines: changed bytes, hints)
//   lfh:   block allocated by thread 4242:
//   lfh:     #0 0x55c7d2a4b1c9 /usr/bin/prog+0x11c9
//   …
//   lfh:   block freed by thread 4242:          (when it was)
//   lfh:   detected by thread 4242:               (the call that found it, or the faulting access)
//
// Each frame prints its module and the offset to give `addr2line -f -i -C -e MODULE OFFSET` (for a
// PIE or shared object the offset from its load address, for a fixed-address executable the
// address; for a return address, that of the call instruction's last byte: the calling line).
// Symbolisation reads /proc/self/maps with raw reads and never allocates, so the same code runs
// in the fault handler. Reports are serialised by a lock that a thread re-entering it skips.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/format.h"
#include "os/report.h"

namespace lfh::debug {

struct BlockInfo {
  const void *user = nullptr;
  std::size_t size = 0;
  std::uint32_t alloc_stack = 0, free_stack = 0;   // depot ids (0: none)
  std::uint32_t alloc_tid = 0, free_tid = 0;
  bool freed = false;
};

// Print a report (nothing with LFH_ON_ERROR=ignore). `what` follows "lfh: <error name>"; `extra`
// (may be null) is printed as further lines; `here` is the stack of the detection point.
void print_report(ErrorKind kind, const LineBuf &what, const LineBuf *extra, const BlockInfo *block,
                  void *const *here, int here_n, const char *here_title = "detected", bool here_exact = false);

// After a report made from an allocator call: abort (LFH_ON_ERROR=abort, the default) or return
// (report / ignore: the caller leaks the bad block and goes on).
void after_report();

// print_report + after_report, capturing the current stack (frames above `entry_cfa` are lfh's).
void report_error(ErrorKind kind, const LineBuf &what, const LineBuf *extra, const BlockInfo *block,
                  const void *entry_cfa);

// "lfh:   0xADDR: 41 42 ab ab …" — up to 16 bytes starting at `from` (inside [lo, hi)).
void hex_bytes(LineBuf &l, const unsigned char *from, const unsigned char *hi, std::size_t max = 16);

// Print depot stack `id` to fd, one "<indent>#i 0xPC MODULE+OFFSET" line per frame (symbolised as
// reports are; serialised with them). Nothing for id 0.
void print_depot_stack(int fd, std::uint32_t id, const char *indent);

// Fork child: a report that another thread was printing is gone with it.
void report_fork_child();

// lfh_heap_validate(h, p)'s verdict from p's owning heap (null: p is no live block): true when it
// is h; else one "lfh: heap validation failed: …" line on stderr and false. (Every mode's
// heap_owns ends here.)
bool owner_verdict(const void *owner, const void *h, const void *p);


}  // namespace lfh::debug
