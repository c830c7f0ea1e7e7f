// os/valgrind.h — Valgrind's client requests (valgrind/memcheck.h), for lfh's memcheck mode
// (debug/valgrind_mode.h). Compiled in only when the header is present at build time (Debian:
// the valgrind package); otherwise every call is a no-op and memcheck() is false.
//
// A client request is a magic instruction sequence that does nothing on a real CPU (a few
// instructions, no system call); lfh makes them only after memcheck() said yes, so a program not
// under Valgrind never runs one past initialisation.
#pragma once
#include <cstddef>

namespace lfh::os::vg {

// Running under Valgrind's memcheck tool (RUNNING_ON_VALGRIND, and memcheck's preload library in
// LD_PRELOAD: other tools — callgrind, cachegrind, helgrind — leave lfh alone).
bool memcheck();

// The block [p, p+n) is now the program's (addressable; defined when `zeroed`), allocated here.
void malloclike(const void *p, std::size_t n, bool zeroed);
// The block at p (announced with old_n bytes) now has new_n, in place; the kept bytes keep their
// definedness, new ones are undefined.
void resized(const void *p, std::size_t old_n, std::size_t new_n);
// The block at p is freed (memcheck makes it inaccessible and reports a bad or double free).
void freelike(const void *p);
// Memory the program must not touch (slack after a block, lfh's own trailer).
void noaccess(const void *p, std::size_t n);
// Memory lfh is about to read or write on its own account, whatever the program's view of it.
void defined(const void *p, std::size_t n);

// Errors found while lfh's own code runs are not the program's: these nest per thread.
void quiet_begin();
void quiet_end();

}  // namespace lfh::os::vg
