// debug/quarantine.h — where freed checked blocks wait before the heap may reuse them (free
// checking: LFH_DEBUG=free, the normal page heap).
//
// A freed block is filled with 0xf0 and carries a "freed" header at its base (checked.h); the
// debug layer keeps it — the heap does not see it — in a FIFO of at most LFH_PAGEHEAP_FREE_DELAY
// bytes, split into per-CPU shards (each with its own lock and an equal share). A block leaving
// the FIFO has its fill checked (a write after free is reported then, with its stacks), its
// header cleared, and goes back to its heap. Heap validation checks every block in the FIFO, and
// so does the process's exit. While a block is in the FIFO, a second free of it is a certain
// double free. Because lfh owns the block the whole time, no byte of it may legitimately change:
// nothing about the heap's own use of free memory can be mistaken for a bug.
#pragma once
#include <cstddef>

namespace lfh {
class Heap;
}

namespace lfh::debug {

void quarantine_init();
// Queue a freed block (its freed header written, its bytes filled) of `usable` bytes at `base`.
void quarantine_push(void *base, std::size_t usable, const void *entry_cfa);
// Check every queued block; false after printing a report on the first damaged one.
bool quarantine_validate();
// Give back (unchecked) every queued block of heap h — before h is destroyed.
void quarantine_drop_heap(Heap &h);
// Check and release everything (at exit).
void quarantine_drain();

void quarantine_fork_prepare();
void quarantine_fork_parent();
void quarantine_fork_child();

}  // namespace lfh::debug
