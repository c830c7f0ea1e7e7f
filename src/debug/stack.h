// debug/stack.h — recording where a block was allocated and freed, cheaply enough to do on every
// call, and never allocating.
//
// Capture. Debian and most distributions build without frame pointers, so walking rbp gives
// garbage; libgcc's _Unwind_Backtrace is exact but costs ~100 ns a frame (it re-parses the DWARF
// call-frame information of every frame, every time). lfh does what libgcc does once per return
// address and caches the result: for each pc it keeps "CFA = rsp|rbp + k, return address at
// CFA-8, caller's rbp at CFA+m (or unchanged)" — the whole of the CFI that real x86-64 code needs
// between calls. A cached frame then costs one hash probe and two loads. A pc whose CFI is more
// than that (signal trampolines, DW_CFA expressions) makes the capture fall back to
// _Unwind_Backtrace for that stack. Other architectures always use _Unwind_Backtrace.
// (glibc's backtrace() is not used: it dlopens libgcc_s on first use, which allocates.)
//
// Depot. Stacks are stored once, deduplicated by hash, and named by a 32-bit id (0: none), so a
// block header carries two ids instead of two arrays. Lookups are lock-free; inserting a new
// stack takes a lock. Stacks are never removed (a program has a bounded number of distinct ones).
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::debug {

inline constexpr int kMaxFrames = 64;

// Set up: learn where lfh's own code lies (frames skipped at the top of every stack).
void stack_init();

// The caller's stack, innermost first, starting at the first frame outside lfh. `entry_cfa` is
// the CFA of the debug entry point (__builtin_dwarf_cfa()): return addresses stored below it are
// lfh's, and so is the entry's own (into the api/ function that called it) — unless the entry was
// reached by a tail call, which tail_entry() marks. Returns the number of return addresses stored
// (0 when re-entered from inside a capture).
int capture_stack(void **out, int max, const void *entry_cfa);
inline const void *tail_entry(const void *cfa) { return static_cast<const char *>(cfa) + 1; }

// The first return address outside lfh (what capture_stack(out, 1, entry_cfa) stores), found by
// unwinding up from the entry's own frame instead of from here: one cached rule per lfh frame
// between the entry and the program (usually one or two). 0 when there is none.
std::uintptr_t call_site(const void *entry_cfa);

// True when lfh is a shared object (its text range is known) and pc lies outside it; false
// when pc is lfh's own or lfh cannot tell (linked statically).
bool outside_lfh_code(std::uintptr_t pc);

// Unwind from a signal context (pc, sp, fp of the faulting instruction), the faulting pc first.
// x86-64 only (elsewhere: just the pc). A cache miss looks the pc up through libgcc, which takes
// the loader's lock: fine unless the fault happened inside the dynamic loader itself.
int capture_from_context(void *pc, void *sp, void *fp, void **out, int max);

// Depot. 0 when n == 0 or the depot is full.
std::uint32_t depot_put(void *const *frames, int n);
// Frames of stack `id` (0 frames for id 0 or an invalid id).
int depot_get(std::uint32_t id, void *const **frames);

// The calling thread's kernel id (what reports print), cached per thread.
std::uint32_t self_tid();

// Fork: the depot's lock (and the child's cached thread id).
void stack_fork_prepare();
void stack_fork_parent();
void stack_fork_child();

// For tests: force the libgcc unwinder (true) or the cached one (false).
void stack_force_slow_unwinder(bool on);

}  // namespace lfh::debug
