/* tests/fault/fault_callee.c — libfault_callee.so: a shared object whose allocations
 * LFH_FAULT_CALLERS=libfault_callee targets (fault_program callers-lib / callers-exe). */
#include <stdlib.h>

__attribute__((visibility("default"))) void *callee_alloc(size_t n) {
  void *p = malloc(n);
  /* Not a tail call: malloc's return address must be in this object, not in its caller. */
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}
