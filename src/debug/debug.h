// debug/debug.h — the debug layer's one interface to the layers above it (api/): page heap (full,
// normal, sampled), tail/free/parameter checking, heap validation, crash reports.
// See docs/DEBUGGING.md for what each option does and what a report looks like.
//
// Zero cost when off: every interception point in api/ is
//     if (LFH_UNLIKELY(lfh::debug::active())) …
// one load of a constinit global and a never-taken branch. The flag is set once, by init() (called
// from heap/runtime.cpp's init_slow once the process heap is ready), and never cleared, so a
// block handed out by the debug layer always comes back through it. Blocks handed out before it
// was set (or not chosen, when sampling) are plain heap blocks, and every function here accepts
// them too.
//
// The on_* calls return true when they handled the call (result in *out) and false when the
// caller should take its normal path (a plain block, when only the sampled full page heap is on).
#pragma once
#include <cstddef>

namespace lfh {
class Heap;
}

namespace lfh::debug {

// Hidden: read PC-relative from api/, not through the GOT.
extern bool g_active __attribute__((visibility("hidden")));
// Acquire: a thread that sees it set sees the configuration written before it (a plain load on x86).
inline bool active() { return __atomic_load_n(&g_active, __ATOMIC_ACQUIRE); }

// malloc's gate: a request below it is served by the table path with no other test. It is the
// table's bound (lfh_buckets::kRequestTableMax + 1) while the debug layer is off and 0 once it is
// on, so malloc's one size compare also sends every request to the branch that tests active()
// (3 instructions less per malloc). free() has the same gate in the page map
// (vm::pagemap_lookup_gated). Both close before g_active is set.
extern std::size_t g_malloc_gate __attribute__((visibility("hidden")));

// Read the options; install what they ask for; set g_active if anything is on.
void init();

bool on_malloc(std::size_t n, void **out);
bool on_calloc(std::size_t n, void **out);   // n = count * size, already checked for overflow
bool on_free(void *p);
bool on_realloc(void *p, std::size_t n, void **out);   // p non-null, 0 < n <= PTRDIFF_MAX
void *aligned_alloc(std::size_t align, std::size_t n);   // align a power of two; always handled
std::size_t usable_size(const void *p);                  // p non-null; always handled

// Private heaps (lfh_heap_* in api/heap_api.cpp). `h` is a checked, live heap; `zero` says
// whether the new bytes must be zero. heap_free returns false for a block of another heap.
void *heap_alloc(Heap &h, std::size_t align, std::size_t n, bool zero);
void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero);
bool heap_free(Heap &h, void *p);
std::size_t heap_size(Heap &h, const void *p);   // (size_t)-1 when p is not a live block of h
bool heap_owns(Heap &h, const void *p);
// Before lfh_heap_destroy releases h: give back the page-heap blocks it still has.
void heap_destroy(Heap &h);

// Who owns p, as lfh_heap_of / lfh_owns answer it (page-heap and checked blocks included).
Heap *owner_heap(const void *p);
bool owns(const void *p);

// Every check there is: each heap's own validation, every page-heap block's guard bytes, every
// checked block's header and tail, every freed checked block's fill. Prints the first problem
// (as a report) and returns false. lfh_validate() calls this when the debug layer is on.
bool validate_all();

}  // namespace lfh::debug
