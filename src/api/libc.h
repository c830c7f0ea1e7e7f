// api/libc.h — the C library's rules for the allocation functions, in one place: errno values,
// overflow checks, alignment validation, malloc(0), realloc(p, 0), posix_memalign's contract.
// preload/ only exports the standard names as one-line calls into these.
#pragma once
#include <cstddef>

namespace lfh::libc {

void *malloc(std::size_t n);
void free(void *p);
void *calloc(std::size_t count, std::size_t size);
void *realloc(void *p, std::size_t n);
void *reallocarray(void *p, std::size_t count, std::size_t size);
int posix_memalign(void **out, std::size_t align, std::size_t n);
void *aligned_alloc(std::size_t align, std::size_t n);
void *memalign(std::size_t align, std::size_t n);
void *valloc(std::size_t n);
void *pvalloc(std::size_t n);
std::size_t malloc_usable_size(const void *p);
// Sized/aligned delete: the size is a hint; lfh looks the block up anyway.
void free_sized(void *p, std::size_t n);
}  // namespace lfh::libc
