// debug/config.h — what the debug layer was asked to do, decoded once from the LFH_PAGEHEAP*,
// LFH_DEBUG, LFH_ON_ERROR and LFH_BACKTRACE options (base/options.h) at initialisation.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::debug {

enum class PageHeap : std::uint8_t { kOff, kNormal, kFull };
enum class OnError : std::uint8_t { kAbort, kReport, kIgnore };

struct Config {
  PageHeap pageheap = PageHeap::kOff;
  std::uint32_t sample = 1;            // page heap: one block in `sample` (1: every block)
  bool underrun = false;               // full: guard page before the block instead of after
  std::size_t size_min = 0;            // page heap: only blocks with size in [size_min, size_max]
  std::size_t size_max = ~std::size_t(0);
  std::size_t free_delay = 64u << 20;  // full: bytes of freed blocks kept no-access (FIFO)
  std::size_t align = 16;              // full: alignment of a block's end (1: byte-exact overruns)
  bool tail = false;                   // guard bytes after each block, checked on free/realloc
  bool free_fill = false;              // freed blocks filled, checked when handed out again
  bool alloc_fill = false;             // new blocks filled with a pattern (page heap modes)
  bool params = false;                 // every pointer passed in verified
  bool validate = false;               // the whole heap validated on every call
  OnError on_error = OnError::kAbort;
  std::uint32_t backtrace = 16;        // frames recorded per allocation / free (0: none)

  // Derived: blocks not chosen for the full page heap get a header and tail/fill checks.
  bool checked_blocks() const { return tail || free_fill || pageheap == PageHeap::kNormal; }
  // Derived: the debug layer handles every call (not only page-heap blocks).
  bool handles_all() const { return checked_blocks() || params || validate; }
  bool any() const { return pageheap != PageHeap::kOff || handles_all(); }
};

extern Config g_cfg;

// "MIN-MAX", "MIN-" or "-MAX" with K/M/G suffixes (LFH_PAGEHEAP_SIZES, LFH_FAULT_SIZES): false
// when malformed or MIN > MAX; an open end is 0 or SIZE_MAX.
bool parse_size_range(const char *s, std::size_t *lo, std::size_t *hi);

// Decode the options into g_cfg; prints one `lfh:` line per value it cannot understand.
void load_config();

}  // namespace lfh::debug
