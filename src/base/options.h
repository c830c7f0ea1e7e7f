// base/options.h — every lfh option is one row of LFH_OPTIONS below: one place that defines the
// enum, the parsed table, the environment variable and the README row (`lfh_options --markdown`
// prints the table the README carries; a test checks they agree).
//
// Values are read once, at initialisation, by scanning `environ` directly (getenv is fine too, but
// scanning keeps us independent of libc's state before main). Reading an option afterwards is one
// load from a constinit array.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh {

enum class OptKind : std::uint8_t { kBool, kInt, kSize, kString };

// X(id, ENV_SUFFIX, kind, default, help)   — the variable is LFH_<ENV_SUFFIX>.
#define LFH_OPTIONS(X)                                                                              \
  X(commit_limit, COMMIT_LIMIT, kSize, 0,                                                           \
    "Process-wide commit limit (K/M/G suffixes). Past it allocations fail with ENOMEM. 0: none.")   \
  X(direct_threshold, DIRECT_THRESHOLD, kSize, 8 * 1048576 - 4096,                                    \
    "Blocks above this size get their own VM region (direct blocks).")                              \
  X(decommit_free_block, DECOMMIT_FREE_BLOCK, kSize, 65536,                                         \
    "Core heap: free ranges of at least this size have their inner pages decommitted (after LFH_PURGE_DELAY_MS).") \
  X(purge_delay_ms, PURGE_DELAY_MS, kInt, 1000,                                                     \
    "Core heap: how long a freed range stays committed (and an empty segment reserved) before it is given back. 0: at once.") \
  X(decommit_total_free, DECOMMIT_TOTAL_FREE, kSize, 32 * 1048576,                                  \
    "Core heap: most free-but-committed bytes a heap keeps waiting for the purge delay, per core arena in use (or 1/8 of its live large-block bytes, if more); past it the oldest go at once.") \
  X(core_arenas, CORE_ARENAS, kInt, 0,                                                              \
    "Core-heap arenas per heap, picked by CPU (blocks of 16 KB to the direct threshold). 0: one per CPU, at most 16.") \
  X(large_pages, LARGE_PAGES, kBool, 0,                                                             \
    "1: back direct blocks of 2 MB and more with 2 MB huge pages (hugetlbfs where reserved, else transparent huge pages), and the LFH regions of a heap past its first 4 MB with transparent huge pages (split and returned when trimmed).") \
  X(lookaside_depth, LOOKASIDE_DEPTH, kInt, 4,                                                      \
    "Initial depth of every per-CPU look-aside list; raised on demand up to LFH_LOOKASIDE_MAX_DEPTH.") \
  X(lookaside_max_depth, LOOKASIDE_MAX_DEPTH, kInt, 256,                                            \
    "Largest depth a look-aside list may grow to (also capped at 64 KB of blocks per list).")       \
  X(lookaside, LOOKASIDE, kBool, 1, "0 disables the per-CPU look-aside lists (every block goes to its subsegment).") \
  /* balance manager (src/balance/, docs/BALANCE.md) */                                            \
  X(balance_ms, BALANCE_MS, kInt, 1000,                                                             \
    "Period of the balance manager's tick (look-aside depth tuning, decommit of memory idle for a tick). 0: off.") \
  X(balance_thread, BALANCE_THREAD, kBool, 1,                                                       \
    "1: the tick runs on a helper thread, started by the first allocation slow path once the first tick is due (again in a fork child); 0: from allocation slow paths instead (no thread).") \
  X(pressure, PRESSURE, kBool, 1,                                                                   \
    "Each tick, read /proc/pressure/memory and the cgroup's memory.events; under pressure trim everything at once.") \
  X(stats, STATS, kString, 0,                                                                       \
    "1: print a statistics summary to stderr at exit; a path: write it there (%p becomes the pid; a path ending in .json gets JSON with the region list, for lfh map --from).") \
  X(stats_live, STATS_LIVE, kBool, 0,                                                               \
    "1: publish the statistics in /dev/shm/lfh.<pid> (mode 0600, removed at exit), refreshed by the balance tick at most once a second, for lfh stat and lfh map.") \
  /* debug layer (src/debug/, docs/DEBUGGING.md) */                                                \
  X(pageheap, PAGEHEAP, kString, 0,                                                                 \
    "off, normal or full. full: each block on its own pages, its end against a no-access guard page; normal: fill patterns and guard bytes checked on free.") \
  X(pageheap_sample, PAGEHEAP_SAMPLE, kInt, 1, "Page heap: guard one block in N, chosen at random (1: every block).") \
  X(pageheap_underrun, PAGEHEAP_UNDERRUN, kBool, 0, "Full page heap: the guard page goes before the block (catches underruns).") \
  X(pageheap_sizes, PAGEHEAP_SIZES, kString, 0, "Page heap: only blocks whose size is in MIN-MAX (K/M/G suffixes; MIN- or -MAX).") \
  X(pageheap_free_delay, PAGEHEAP_FREE_DELAY, kSize, 64 * 1048576,                                   \
    "Freed debug blocks wait in a FIFO of this many bytes before reuse: no-access (full page heap), or filled and checked on leaving it (free checking).") \
  X(pageheap_align, PAGEHEAP_ALIGN, kInt, 16,                                                       \
    "Full page heap: alignment of block ends (1: an overrun faults at its first byte; malloc's 16-byte alignment is then not kept).") \
  X(debug_checks, DEBUG, kString, 0, "Comma list of tail, free, params, validate, all: heap debugging checks.") \
  X(on_error, ON_ERROR, kString, 0, "What a detected error does: abort (default), report (and keep going, leaking the block) or ignore.") \
  X(backtrace, BACKTRACE, kInt, 16, "Frames of the allocating and freeing stack recorded per debug block (0: none; at most 64).") \
  /* fault injection: the low-resources simulation (src/debug/fault.h, README) */                 \
  X(fault_rate, FAULT_RATE, kString, 0,                                                             \
    "Fraction of allocations that fail on purpose (NULL and ENOMEM, bad_alloc from new): 0.05 or 5%. Unset or 0: off.") \
  X(fault_seed, FAULT_SEED, kString, 0,                                                             \
    "Fault injection: seed (a number). The same seed and program fail the same calls, per thread. Unset: from the clock (LFH_VERBOSE prints it).") \
  X(fault_delay_ms, FAULT_DELAY_MS, kInt, 0, "Fault injection: nothing fails until this many ms after start.") \
  X(fault_sizes, FAULT_SIZES, kString, 0, "Fault injection: only requests whose size is in MIN-MAX fail (K/M/G suffixes; MIN- or -MAX).") \
  X(fault_tags, FAULT_TAGS, kString, 0,                                                             \
    "Fault injection: only allocations carrying one of these pool tags fail (comma list of 1-4 character tags; lfh_set_thread_tag).") \
  X(fault_callers, FAULT_CALLERS, kString, 0,                                                       \
    "Fault injection: only allocations called from these modules fail (comma list of file-name prefixes, e.g. libsqlite3.so,python3).") \
  /* pool tags and leak reports (src/debug/tagged.h, README "Pool tags and leak reports") */      \
  X(tags, TAGS, kBool, 0,                                                                           \
    "1: count every allocation against its pool tag (lfh_set_thread_tag, lfh_malloc_tagged; untagged ones against their call site's module): allocations, frees, blocks, bytes, peak.") \
  X(leaks, LEAKS, kString, 0,                                                                       \
    "1: at exit print every tag still holding memory and the top leak sites with their stacks, to stderr; a path: write it there (%p becomes the pid). Implies LFH_TAGS.") \
  X(verbose, VERBOSE, kBool, 0, "Print what lfh decided at start (options, CPUs, rseq) to stderr.")

enum class Opt : std::uint8_t {
#define LFH_OPT_ENUM(id, env, kind, def, help) id,
  LFH_OPTIONS(LFH_OPT_ENUM)
#undef LFH_OPT_ENUM
      kCount
};

struct OptionInfo {
  const char *name;     // "commit_limit"
  const char *env;      // "LFH_COMMIT_LIMIT"
  OptKind kind;
  std::uint64_t def;
  const char *help;
};

// The table, in declaration order.
const OptionInfo &option_info(Opt o);

// Parse the environment (once; later calls do nothing unless `force`). `envp` may be null.
void options_init(char **envp, bool force = false);

std::uint64_t option_u64(Opt o);
inline bool option_bool(Opt o) { return option_u64(o) != 0; }
// For kString options: the raw text, or null if unset.
const char *option_str(Opt o);

// Change an option after start (mallopt): later readers see the new value; what was configured
// from the old one stays as it is.
void option_set(Opt o, std::uint64_t v);

// Parsers shared with tools and tests. Return false on malformed text.
bool parse_size(const char *s, std::uint64_t *out);   // "512M", "64k", "1g", "4096"
bool parse_bool(const char *s, std::uint64_t *out);   // 1/0, on/off, yes/no, true/false

}  // namespace lfh
