// vm/vm.h — policy over os/: the commit charge (every committed byte is counted, and an optional
// limit makes allocation fail with ENOMEM like an exhausted pool), reservation totals, and the
// granularity rules. Every layer above asks vm/ for memory, never os/ directly.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace lfh::vm {

using os::kGranularity;
using os::kPageSize;

struct Totals {
  std::uint64_t reserved;          // bytes of address space held now
  std::uint64_t committed;         // bytes charged now
  std::uint64_t peak_committed;
  std::uint64_t commit_limit;      // 0: no limit
  std::uint64_t decommitted;       // bytes ever decommitted or purged (events)
  std::uint64_t commit_failures;   // commits refused (limit or kernel)
};

// Charge `bytes` against the commit limit; false (nothing charged) if it would pass the limit.
bool charge(std::size_t bytes);
void uncharge(std::size_t bytes);

// Reserve address space (multiple of kGranularity, aligned to `align` ≥ kGranularity).
void *reserve(std::size_t size, std::size_t align = kGranularity);
void release(void *p, std::size_t size);
// Commit pages of a reserved range: charge, then make them accessible. Undone on failure.
bool commit(void *p, std::size_t size);
// Decommit (inaccessible afterwards) / purge (stays readable, reads zero). Both uncharge.
void decommit(void *p, std::size_t size);
void purge(void *p, std::size_t size);
// Reserve and commit in one step (metadata, direct blocks).
void *reserve_committed(std::size_t size, std::size_t align = kGranularity);
// Release a range of which `committed` bytes were charged.
void release_committed(void *p, std::size_t size, std::size_t committed);
// Reserve-and-commit on explicit 2 MB huge pages (size a multiple of 2 MB); nullptr if none.
void *reserve_huge(std::size_t size);
// Move committed pages [from, from+size) into another reservation at `to` (os::move_pages). The
// charge moves with them; [from, from+size) leaves the reserved total (it is unmapped).
bool move(void *from, std::size_t size, void *to);

void set_commit_limit(std::uint64_t bytes);
Totals totals();

}  // namespace lfh::vm
