/* lfh — a malloc replacement built on the Windows heap manager's design.
 *
 * This header is lfh's own C API. The standard allocation functions (malloc, free, new, ...) are
 * overridden by linking liblfh.a or preloading liblfh.so; everything here is extra.
 * All functions are thread-safe and may be called before main. */
#ifndef LFH_LFH_H
#define LFH_LFH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LFH_API __attribute__((visibility("default")))
#else
#define LFH_API
#endif

#define LFH_VERSION_MAJOR 0
#define LFH_VERSION_MINOR 1
#define LFH_VERSION_PATCH 0

/* "0.1.0" */
LFH_API const char *lfh_version(void);

/* ---- allocation through the process heap (same semantics as malloc & co) ------------------- */
LFH_API void *lfh_malloc(size_t size);
LFH_API void *lfh_calloc(size_t count, size_t size);
LFH_API void *lfh_realloc(void *p, size_t size);
LFH_API void lfh_free(void *p);
LFH_API void *lfh_aligned_alloc(size_t alignment, size_t size);
LFH_API size_t lfh_usable_size(const void *p);

/* Nonzero when p is the start of a live block that lfh handed out (any heap). Never faults. */
LFH_API int lfh_owns(const void *p);

/* Give idle memory back to the system now: flush look-aside lists, retire empty subsegments,
 * purge cached spans. Returns the bytes purged. */
LFH_API size_t lfh_trim(void);

/* ---- statistics ------------------------------------------------------------------------------ */
#define LFH_STATS_VERSION 1

typedef struct lfh_stats {
  uint32_t version;              /* LFH_STATS_VERSION */
  uint32_t size;                 /* sizeof(lfh_stats_t) */
  /* virtual memory, process-wide */
  uint64_t reserved_bytes;       /* address space held */
  uint64_t committed_bytes;      /* commit charge now */
  uint64_t peak_committed_bytes;
  uint64_t commit_limit;         /* 0: none */
  uint64_t decommitted_bytes;    /* ever decommitted or purged */
  uint64_t commit_failures;
  /* process heap: LFH tier (blocks up to 16 KB) */
  uint64_t lfh_allocs;           /* allocations served through look-aside lists */
  uint64_t lfh_frees;
  uint64_t lookaside_misses;     /* allocations that had to refill from a bucket */
  uint64_t lookaside_overflows;  /* frees that found their list full */
  uint64_t lfh_blocks_out;       /* blocks with the program or on look-aside lists */
  uint64_t lfh_bytes_out;
  uint64_t lfh_subsegments;
  /* process heap: direct blocks (above 16 KB) */
  uint64_t direct_blocks;
  uint64_t direct_committed_bytes;
  uint64_t direct_reserved_bytes;
  uint64_t direct_allocs;
  uint64_t direct_frees;
  /* processors */
  uint32_t cpus;                 /* per-CPU look-aside tables */
  uint32_t rseq;                 /* 1: CPU number read from glibc's rseq area */
} lfh_stats_t;

/* Fill *out (set out->version/size is not needed). Returns nonzero on success. */
LFH_API int lfh_stats_get(lfh_stats_t *out);

#define LFH_STATS_PRINT_JSON 0x1
/* Print a summary to fd: a short human table, or one line of JSON with LFH_STATS_PRINT_JSON. */
LFH_API void lfh_stats_print(int fd, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* LFH_LFH_H */
