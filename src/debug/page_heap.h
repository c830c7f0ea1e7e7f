// debug/page_heap.h — the full page heap: every chosen block on pages of its own, its end against
// a no-access guard page (or, with LFH_PAGEHEAP_UNDERRUN=1, its start just after one).
//
// A block lives in a *run* of whole 64 KB granules registered in the page map as
// OwnerKind::kPageHeapBlock, pointing at the block's descriptor (a PageBlock from a MetaPool).
// Overrun layout (default), for a block of n bytes with end alignment A (LFH_PAGEHEAP_ALIGN,
// default 16, or the alignment asked for):
//
//   run:  [ no access … | slack | user block (n) | slack ][ guard page: no access ]
//                        ^data   ^user = data_end - round_up(n, A)       ^data_end = run end - 4 KB
//
// Only [data, data_end) is committed. With A = 1 the block ends exactly at the guard page: an
// overrun of one byte faults on that byte. The slack bytes (at most A-1 after the block, and the
// page's head before it) hold a pattern checked on free. Underrun layout:
//
//   run:  [ no access … ][ guard page ][ user block (n) | slack ][ no access … ]
//
// Freeing makes the block's pages no-access at once (reads and writes of a freed block fault)
// and appends it to a FIFO; the pages keep their memory, so the FIFO's budget,
// LFH_PAGEHEAP_FREE_DELAY bytes of pages, is what the delay costs. Past it, the oldest runs go
// to a per-size cache and are reused by later blocks (their descriptor goes with them, so the
// page map is written once per run); a run reused for a block of the same page count gets its
// pages back with one mprotect, no page fault. Cached pages beyond half the delay (at most
// 32 MB) are decommitted. Runs come from 64 MB reservations, so a malloc/free pair costs two
// system calls (mprotect on, off) and a live block's VMAs: it splits its run into two mappings;
// with vm.max_map_count at 65530, lfh keeps at most (max_map_count - 4096) / 2 blocks guarded and
// gives further blocks the normal checks (one `lfh:` line says so).
#pragma once
#include <cstddef>
#include <cstdint>

#include "os/signals.h"
#include "vm/page_map.h"

namespace lfh {
class Heap;
}

namespace lfh::debug {

enum PageState : std::uint8_t { kPhLive = 1, kPhFreed = 2, kPhCached = 3 };

struct PageBlock {
  vm::OwnerHeader hdr;         // kind == kPageHeapBlock
  std::uint8_t state;          // PageState (changed under the page-heap lock)
  std::uint8_t poisoned;       // a fault on it was let through (LFH_ON_ERROR≠abort): never reuse
  std::uint8_t cacheable;      // granule-aligned run of ≤ kMaxCachedGranules: reused, not released
  std::uint32_t granules;      // run size in 64 KB granules
  std::uint32_t alloc_stack, free_stack;
  std::uint32_t alloc_tid, free_tid;
  Heap *heap;                  // the heap it was allocated for (process or private)
  char *run;
  char *user;
  std::size_t size;            // requested bytes
  char *data;                  // the block's pages [data, data + data_bytes)
  std::size_t data_bytes;
  char *held;                  // pages of the run that hold memory (charged): [held, held +
  std::size_t held_bytes;      // held_bytes) — accessible while live, no-access once freed
  PageBlock *prev, *next;      // the live list, the FIFO or a cache list, by state
};

// Set up (reads vm.max_map_count). False: the page heap cannot work here.
bool ph_init();

enum class PhResult { kOk, kNoMemory, kFallBack };
// A guarded block of n bytes aligned to `align` (power of two ≥ 1) for heap h. kFallBack: the
// map-count budget or the address space is exhausted — the caller uses a normal block instead.
PhResult ph_alloc(Heap &h, std::size_t n, std::size_t align, bool zero, const void *entry_cfa, void **out);
// free() of p, which lies in b's run: checks (double free, interior pointer, slack bytes) and
// reports; otherwise decommits and queues the block. `op` names the call for reports.
void ph_free(PageBlock *b, void *p, const void *entry_cfa, const char *op);
// Is p the user pointer of live block b? Reports (double free / invalid pointer) if not and
// returns false; `op` names the call ("realloc", "malloc_usable_size").
bool ph_check_live(PageBlock *b, const void *p, const void *entry_cfa, const char *op);

// Check every live block's slack bytes. False (after printing a report) on the first problem.
bool ph_validate();
// Give back every block (live or queued) that belongs to h (private heap destroy).
void ph_release_heap(Heap &h);
// The SIGSEGV/SIGBUS callback.
os::FaultAction ph_fault(const os::FaultInfo &fi);

struct PhStats {
  std::uint64_t live_blocks, live_bytes, fifo_blocks, fifo_bytes, cached_runs, fallbacks, guarded_total;
};
PhStats ph_stats();

void ph_fork_prepare();
void ph_fork_parent();
void ph_fork_child();

}  // namespace lfh::debug
