// debug/checked.h — checked blocks: the normal page heap and LFH_DEBUG's tail and free checking.
// The block stays in the heap (LFH, core or direct tier) inside a larger heap block:
//
//   base                       header (48 B)        user (n B)       tail
//   [ gap (align > 16 only) | … stacks … check | the program's bytes | ab ab ab … to the end ]
//
// * The header sits right before the user bytes; its last word is a check value derived from
//   its own address, size and layout and a per-process secret, so a header that was written over
//   (an underrun, or a stray write) is noticed, and a pointer that is not a checked block's is
//   never taken for one.
// * Tail checking: every byte after the user bytes up to the end of the heap block holds 0xab,
//   checked on free, realloc and validation (so malloc_usable_size says n and nothing else).
// * Free checking: a freed block is filled with 0xf0, gets a "freed" header at its base and waits
//   in the debug layer's free queue (quarantine.h) before its heap may reuse it; a second free
//   of the pointer meanwhile is a double free, and a changed fill byte a write after free.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vm/page_map.h"

namespace lfh {
class Heap;
}

namespace lfh::debug {

struct CheckedHeader {
  std::uint64_t link;            // the LFH's free link when freed; encodes "live" while in use
  std::uint32_t alloc_stack, free_stack;
  std::uint32_t alloc_tid, free_tid;
  std::uint64_t size;            // requested bytes
  std::uint32_t meta;            // layout: log2(user - base) | log2 of the original one << 8 | flags << 16
  std::uint32_t extent;          // live: bytes from user to the end of the heap block; freed: filled bytes
  std::uint64_t check;           // seal (last, so that any underrun changes it)
};
static_assert(sizeof(CheckedHeader) == 48);
inline constexpr std::size_t kHeaderBytes = sizeof(CheckedHeader);

void checked_init();

// Flags for checked_alloc.
enum : unsigned { kCheckTail = 1, kCheckFree = 2, kFillAlloc = 4 };
void *checked_alloc(Heap &h, std::size_t n, std::size_t align, bool zero, unsigned flags, const void *entry_cfa);
// A plain heap block.
void *plain_alloc(Heap &h, std::size_t n, std::size_t align, bool zero);

struct Found {
  CheckedHeader *h = nullptr;   // the header of the checked block p is the user pointer of
  bool freed = false;
};
// Is p (owned by o in the page map) the user pointer of a checked block? Reads only memory the
// page map and the heap say is mapped.
Found checked_find(const void *p, vm::OwnerHeader *o);

std::size_t checked_size(const CheckedHeader *h);
// free of a live checked block: checks its tail; then (free checking) fills it and queues it, or
// gives it straight back to its heap.
void checked_free(CheckedHeader *h, void *p, const void *entry_cfa);
// A queued block (freed header at base): is its fill intact? Reports and returns false if not.
bool checked_verify_freed(void *base, const void *entry_cfa, bool print_only);
// A queued block leaves the queue: clear its header and give it back to its heap.
void checked_release(void *base);
// Report a free (or realloc: op) of a pointer that is not a live checked block or page-heap
// block: double free, interior pointer, foreign pointer, damaged header. Returns true when p is
// a plain, live heap block after all (the caller frees it normally).
bool checked_classify_plain(void *p, vm::OwnerHeader *o, Found f, const void *entry_cfa, const char *op);

// Walk every heap, checking every live checked block (header, gap and tail), and with
// `with_queue` every block in the free queue (fill). False (after a report) on the first problem.
bool checked_validate(bool with_queue);

}  // namespace lfh::debug
