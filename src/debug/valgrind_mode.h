// debug/valgrind_mode.h — lfh under Valgrind's memcheck: every block is announced to memcheck
// (VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK), so memcheck reports the program's leaks, reads
// of freed memory and overruns — and nothing inside lfh.
//
// How. When debug::init() finds memcheck (os::vg::memcheck(): decided once, at initialisation),
// it turns the debug layer on and every entry point of debug.h hands its call to the functions
// here (one never-taken branch in each, behind the debug layer's own flag: a process not under
// memcheck never comes here). A block of n bytes is taken from its heap as n + 24 bytes:
//   [p, p+n)           the program's block (MALLOCLIKE: addressable, undefined or zeroed);
//   [p+n, end-16)      at least 8 bytes no-access: an overrun is reported at its first byte;
//   [end-16, end)      no-access trailer: n, and a tag telling an announced block from one handed
//                      out before memcheck mode began and from one waiting in the quarantine
//                      (malloc_usable_size answers n, as under memcheck's own malloc, so the
//                      program never legally touches the guard).
// free: FREELIKE first (memcheck reports an invalid or double free, and the block becomes
// no-access: a later read is a use after free); the block then waits in a quarantine (FIFO,
// 8192 blocks / 32 MB) before lfh frees it, with memcheck's error reporting turned off for the
// thread (lfh writes its free-list link into the block; a pop may read a block
// another thread holds). Under memcheck lfh starts no balance thread (balance/tick.cpp): the tick
// runs on allocation slow paths, inside these quiet sections.
// A pointer that is not a live block is reported by memcheck and then left alone (no lfh abort):
// the program goes on, as it would under memcheck's own malloc. realloc always moves the block,
// like memcheck's (so a stale pointer to the old block is caught).
//
// Command line (docs/RELIABILITY.md):
//   LD_PRELOAD=liblfh.so valgrind --soname-synonyms=somalloc=nouserintercepts program
// Without that option Valgrind 3.19 replaces the malloc of every shared object, lfh's included,
// with memcheck's own, and this mode never runs.
#pragma once
#include <cstddef>

namespace lfh {
class Heap;
}

namespace lfh::debug::vg {

// Memcheck mode on (set once by init, before the first block is handed out)?
extern bool g_on __attribute__((visibility("hidden")));
bool init();   // true when running under memcheck: mode on

void *alloc(Heap &h, std::size_t align, std::size_t n, bool zero);
void free(void *p);
void *realloc(void *p, std::size_t n);
std::size_t usable_size(const void *p);
Heap *owner_heap(const void *p);
bool owns(const void *p);

void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero);
bool heap_free(Heap &h, void *p);
std::size_t heap_size(Heap &h, const void *p);
bool heap_owns(Heap &h, const void *p);
void heap_destroy(Heap &h);
bool validate_all();

}  // namespace lfh::debug::vg
