// debug/tagged.h — tag mode (LFH_TAGS=1, LFH_LEAKS): every block carries its pool tag, and every
// allocation and free is counted against it (tag_table.h); with LFH_LEAKS each block also carries
// its allocating stack, and what is still allocated at exit is reported (leaks.h).
//
// How. Like memcheck mode (valgrind_mode.h), tag mode is a set of entry points the debug layer
// hands every call to behind one never-taken branch (`tg::g_on`), so it costs nothing when off
// and never goes through the checked-block path (no guard bytes, no stack per call unless
// LFH_LEAKS). A block of n bytes is taken from its heap as n + 16 bytes (n + align when aligned
// beyond 16) with a 16-byte record right before the program's bytes:
//
//   base            [gap: align > 16 only]   TagHeader (16 B)            user (n B)
//   heap block ───► … unused …               tag | site | size·off·seal  the program's bytes
//
//   tag   the pool tag (LFH_TAG packing: reads in order in a memory dump);
//   site  the depot id of the allocating stack (LFH_LEAKS), else 0;
//   word  bits 0-39 requested size, 40-44 the offset code (user - base: 16, or 1 << code),
//         45-63 a 19-bit seal: a per-process secret (seal() below).
// A user pointer has its heap block's alignment (16, or 8 in the LFH's 8-byte size classes, as a
// plain block of that size would). A pointer is taken for a tagged block when the page map
// says its owner may hold one there and the seal matches; free clears the word first, so a
// second free of the pointer is judged by its heap as a pointer into a block (and reported).
// Blocks handed out before tag mode began (the one call that initialises lfh) have no record:
// every function here takes them as plain heap blocks.
//
// The tag travels with the block: realloc (in place or across tiers: LFH → core heap → direct
// block) keeps tag and site and counts only the change in bytes; a free on any thread counts in
// that thread's shard, against the block's tag.
//
// Untagged allocations (thread tag 0) are counted against their call site's module: the first
// return address outside lfh (one cached-CFI unwind step per frame, stack.h) is looked up in a
// table of executable mappings read from /proc/self/maps once per module, and the module's name
// gives the tag ("lib" dropped, up to 4 characters: libsqlite3.so → "sqli", python3.11 → "pyth";
// "None" when the address is in no file). The common cases skip all this: tag_fast.h serves
// small malloc/calloc/free inline, the call site being the return address of the exported entry,
// cached per thread.
//
// Combined with LFH_DEBUG / LFH_PAGEHEAP (checked or page-heap blocks), tag mode is not used yet:
// init() says so once and counts nothing.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/bits.h"

namespace lfh {
class Heap;
struct Subsegment;
}

#define LFH_TAG_OTHER 0x7268744fu   // "Othr": tags that found no room in the table
#define LFH_TAG_NONE 0x656e6f4eu    // "None": untagged, and the call site is in no module

namespace lfh::debug {

struct SiteEntry;

// ---- the tag table (tag_table.cpp) ------------------------------------------------------------
inline constexpr unsigned kTagSlots = 1024;
inline constexpr unsigned kOtherSlot = kTagSlots - 1;

bool tag_table_init();                      // false when its memory cannot be had
unsigned tag_slot(std::uint32_t tag);       // find or claim; kOtherSlot when the table is full
std::uint32_t slot_tag(unsigned slot);
// Counting: tag_shard.h (inline).
void tag_table_fork_prepare();
void tag_table_fork_parent();
void tag_table_fork_child();

// ---- blocks ----------------------------------------------------------------------------------
struct TagHeader {
  std::uint32_t tag;
  std::uint32_t site;
  std::uint64_t word;
};
static_assert(sizeof(TagHeader) == 16);

}  // namespace lfh::debug

namespace lfh::debug::tg {

// Tag mode on (set once by init, before the debug layer's flag)?
extern bool g_on __attribute__((visibility("hidden")));
// malloc/calloc may take the inline fast path (tag_fast.h): tag mode without LFH_LEAKS (no stack
// to capture) and without fault injection (which must see every request). Set with g_on.
extern bool g_fast_alloc __attribute__((visibility("hidden")));
// The seal as it stands in a record's word: 19 random bits (45-63, bit 45 always set: never 0),
// drawn once per process at init; bits 0-44 clear.
extern std::uint64_t g_seal_word __attribute__((visibility("hidden")));

// ---- the record's word ---------------------------------------------------------------------------
inline constexpr std::uint64_t kSizeBits = 40;
inline constexpr std::uint64_t kMaxSize = (std::uint64_t(1) << kSizeBits) - 1;   // larger requests fail
inline constexpr std::uint64_t kLowMask = (std::uint64_t(1) << 45) - 1;          // size + offset code
inline constexpr unsigned kSealShift = 45;

// The seal: a per-process secret, the same in every record. What tells a record from a plain
// block's bytes is that its top 19 bits match the secret (2^-19 for bytes that happen to be
// there) — with the owner's own checks: tag_fast.h takes p - 16 for a record only at a block
// start the subsegment has handed out, and find() only inside a block's range (the core heap
// vouching for the block too). It is not bound to the address, tag or size (it was, with a
// multiply per call: about 11 more instructions per pair): records never move (a block that does is
// given a new one, the old one cleared), and a freed block's word is cleared, so a stale record
// never sits where a live one could be taken from. Byte 5 of the word holds the offset code and
// the seal's low 3 bits: an overrun from the block before that reaches the offset code changes
// the seal too (7 times in 8). Never 0: a cleared word (a freed block) never matches.
LFH_ALWAYS_INLINE std::uint64_t seal(const void *, std::uint32_t, std::uint32_t, std::uint64_t) {
  return g_seal_word >> kSealShift;
}
LFH_ALWAYS_INLINE std::uint64_t record_word(const void *, std::uint32_t, std::uint32_t, std::uint64_t low) {
  return low | g_seal_word;
}

// The largest request tag_fast.h serves: n + 16 within the first KB, where the bucket is one table
// lookup (larger requests take tg::alloc).
inline constexpr std::size_t kFastMax = 1024 - 16;

// tag_fast.h's slow path: malloc/calloc of n bytes in tag mode without LFH_LEAKS, `ra` the
// return address api/'s entry had. Fills the thread's caches (last slot; call site when ra lies
// outside lfh's own code) and allocates and counts as tg::alloc does. nullptr: not done (n
// beyond kFastMax, ra inside lfh or lfh linked statically so that its code range is unknown, no
// memory): the caller goes on to the debug layer's on_malloc/on_calloc, which unwinds to the call
// site and reports failures.
void *alloc_site(std::size_t n, const void *ra, bool zero = false);
// tag_fast.h's free of a live tagged LFH block (record h at its start, n bytes) with a leak site:
// counts it (tag and site), clears the record, frees the block.
void free_sited(Subsegment *s, TagHeader *h, std::uint64_t n);
// Leak sites recorded (LFH_LEAKS)?
extern bool g_leaks __attribute__((visibility("hidden")));
// Read LFH_TAGS / LFH_LEAKS; true when tag mode is on. `other_debug`: another debug mode is on.
bool init(bool other_debug);

// `cfa`: the debug entry point's CFA (stack.h), for the call site.
void *alloc(Heap &h, std::size_t align, std::size_t n, bool zero, const void *cfa);
void free(void *p);
void *realloc(void *p, std::size_t n, const void *cfa);
std::size_t usable_size(const void *p);
Heap *owner_heap(const void *p);
bool owns(const void *p);

void *heap_alloc(Heap &h, std::size_t align, std::size_t n, bool zero, const void *cfa);   // errno on failure
void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero, const void *cfa);
bool heap_free(Heap &h, void *p);
std::size_t heap_size(Heap &h, const void *p);
bool heap_owns(Heap &h, const void *p);
// The heap's blocks are about to vanish: count them freed, and (LFH_LEAKS) report them.
void heap_destroy(Heap &h);

// Tag and size of a tagged block at heap block `base` of `usable` bytes (heap walks): false when
// it holds no tag record.
bool block_record(void *base, std::size_t usable, std::uint32_t *tag, std::uint32_t *site, std::uint64_t *size);

}  // namespace lfh::debug::tg
