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

/* ---- pool tags ---------------------------------------------------------------------------------
 * A tag is 4 characters packed into a uint32_t, the first in the low byte (so it reads in order in
 * a memory dump): LFH_TAG('J','s','o','n'). Each thread has a current tag (0: none) that every
 * allocation it makes carries; with LFH_TAGS=1 lfh counts allocations per tag. */
#define LFH_TAG(a, b, c, d)                                                              \
  ((uint32_t)(unsigned char)(a) | ((uint32_t)(unsigned char)(b) << 8) |                  \
   ((uint32_t)(unsigned char)(c) << 16) | ((uint32_t)(unsigned char)(d) << 24))
/* Sets the calling thread's tag; returns the previous one. */
LFH_API uint32_t lfh_set_thread_tag(uint32_t tag);
/* The calling thread's current tag (0 when none was set). */
LFH_API uint32_t lfh_thread_tag(void);
/* malloc / calloc of a block carrying `tag` (the thread's tag is left as it was; see also
 * lfh_heap_alloc_tagged).
 * The tag travels with the block: realloc keeps it, and a free on any thread counts against it. */
LFH_API void *lfh_malloc_tagged(size_t size, uint32_t tag);
LFH_API void *lfh_calloc_tagged(size_t count, size_t size, uint32_t tag);

/* Per-tag counts (LFH_TAGS=1 or LFH_LEAKS): untagged allocations count against their call site's
 * module ("pyth" for python3.11, "sqli" for libsqlite3.so; "None" when unknown), tags past the
 * table's 1023 against "Othr". */
typedef struct lfh_tag_stat {
  uint32_t tag;          /* LFH_TAG packing */
  char name[5];          /* the tag as text, NUL-terminated ('?' for unprintable bytes) */
  uint64_t allocs;       /* allocations since start */
  uint64_t frees;        /* frees since start (a destroyed heap's blocks included) */
  uint64_t blocks;       /* in use now */
  uint64_t bytes;        /* requested bytes in use now */
  uint64_t peak_bytes;   /* the most `bytes` has been (within 64 KB per thread; see README) */
} lfh_tag_stat_t;
/* Copies up to `max` tags, largest `bytes` first; returns how many tags are tracked (may exceed
 * max). 0 when tag accounting is off. Allocation-free and async-signal-safe. */
LFH_API size_t lfh_tag_stats(lfh_tag_stat_t *out, size_t max);
/* Nonzero when tag accounting is on (LFH_TAGS=1 or LFH_LEAKS). */
LFH_API int lfh_tags_enabled(void);
/* Print the leak report now to fd (-1: where LFH_LEAKS says): every tag still holding memory,
 * ranked by bytes, and with LFH_LEAKS the top allocating stacks. Returns the bytes still
 * allocated (0 when tag accounting is off). Memory still reachable is included: lfh reports
 * what was not freed, it does not scan for reachability. */
LFH_API size_t lfh_leak_report(int fd);

/* Nonzero when p is the start of a live block that lfh handed out (any heap). Never faults. */
LFH_API int lfh_owns(const void *p);

/* Give idle memory back to the system now: flush look-aside lists, retire empty subsegments,
 * purge cached spans. Returns the bytes purged. */
LFH_API size_t lfh_trim(void);

/* ---- heaps ------------------------------------------------------------------------------------
 * The process heap serves malloc; private heaps are created and destroyed whole. Every block can
 * also be freed with plain free() (lfh knows its owner). Functions returning int follow the
 * Windows convention: nonzero on success, 0 on failure with errno set. */
typedef struct lfh_heap lfh_heap_t;

/* Flags for lfh_heap_create (heap-wide) and for the per-call `flags` arguments. */
#define LFH_HEAP_NO_SERIALIZE         0x001u /* create: no locks, no per-CPU lists: one thread only */
#define LFH_HEAP_ZERO_MEMORY          0x008u /* create or alloc/realloc: new bytes are zero */
#define LFH_HEAP_REALLOC_IN_PLACE_ONLY 0x010u /* realloc: fail (NULL, ENOMEM) rather than move */
#define LFH_HEAP_LOCKED               0x100u /* create: mlock every committed page ("non-paged") */
#define LFH_HEAP_SECURE_FREE          0x200u /* create: zero blocks on free and the heap on destroy */

LFH_API lfh_heap_t *lfh_process_heap(void);
/* maximum_size 0: growable. Otherwise a fixed-size heap: its range is reserved up front and
 * allocation fails with ENOMEM when it is full. initial_size is a hint for the first region. */
LFH_API lfh_heap_t *lfh_heap_create(unsigned flags, size_t initial_size, size_t maximum_size);
/* Frees every block of the heap at once, O(regions). The process heap cannot be destroyed. */
LFH_API int lfh_heap_destroy(lfh_heap_t *heap);
LFH_API void *lfh_heap_alloc(lfh_heap_t *heap, unsigned flags, size_t size);
/* lfh_heap_alloc of a block carrying pool tag `tag` (see lfh_malloc_tagged). */
LFH_API void *lfh_heap_alloc_tagged(lfh_heap_t *heap, unsigned flags, size_t size, uint32_t tag);
/* alignment: a power of two; NULL with errno EINVAL otherwise. */
LFH_API void *lfh_heap_aligned_alloc(lfh_heap_t *heap, unsigned flags, size_t alignment, size_t size);
/* p NULL: like alloc. size 0: frees p, returns NULL. */
LFH_API void *lfh_heap_realloc(lfh_heap_t *heap, unsigned flags, void *p, size_t size);
/* A block of another heap is reported ("lfh: block belongs to another heap") and aborts. */
LFH_API int lfh_heap_free(lfh_heap_t *heap, unsigned flags, void *p);
/* Usable size of a block of this heap; (size_t)-1 with errno EINVAL when p is not one. */
LFH_API size_t lfh_heap_size(lfh_heap_t *heap, unsigned flags, const void *p);
/* p NULL: check the whole heap; else check that p is a live block of it. Nonzero when sound; on a
 * problem prints one "lfh: heap validation failed: ..." line and returns 0 (never crashes). */
LFH_API int lfh_heap_validate(lfh_heap_t *heap, unsigned flags, const void *p);

typedef struct lfh_heap_entry {
  void *address;
  size_t size;      /* usable bytes */
  int in_use;       /* 0: free block */
  int tier;         /* LFH_TIER_* */
} lfh_heap_entry_t;
#define LFH_TIER_LFH 0
#define LFH_TIER_CORE 1
#define LFH_TIER_DIRECT 2
/* Return 0 from fn to stop the walk. */
typedef int (*lfh_heap_walk_fn)(const lfh_heap_entry_t *entry, void *arg);
/* Visit every block (in use and free) while the heap is locked. */
LFH_API int lfh_heap_walk(lfh_heap_t *heap, lfh_heap_walk_fn fn, void *arg);
/* Hold the heap: other threads' operations on it wait until lfh_heap_unlock. Recursive for the
 * owning thread, which may keep using the heap meanwhile. */
LFH_API void lfh_heap_lock(lfh_heap_t *heap);
LFH_API void lfh_heap_unlock(lfh_heap_t *heap);
/* Decommit what can be decommitted; returns the size of the largest free block afterwards. */
LFH_API size_t lfh_heap_compact(lfh_heap_t *heap);
/* The heap owning p's block (NULL: none). */
LFH_API lfh_heap_t *lfh_heap_of(const void *p);
/* Validate the process heap and every private heap (nonzero when all are sound). */
LFH_API int lfh_validate(void);

/* ---- statistics ------------------------------------------------------------------------------ */
#define LFH_STATS_VERSION 2

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
  /* process heap: core heap (blocks above 16 KB up to the direct threshold) */
  uint64_t core_segments;        /* segments reserved now */
  uint64_t core_reserved_bytes;
  uint64_t core_committed_bytes;
  uint64_t core_blocks;          /* blocks in use */
  uint64_t core_busy_bytes;      /* bytes of blocks in use (headers included) */
  uint64_t core_free_bytes;      /* bytes of free blocks (committed or not) */
  uint64_t core_pending_bytes;   /* free but still committed, waiting for LFH_PURGE_DELAY_MS */
  uint64_t core_allocs;
  uint64_t core_frees;
  uint64_t core_decommitted_bytes; /* ever decommitted from free ranges */
  uint64_t direct_cached_bytes;  /* freed direct blocks kept for reuse (LFH_PURGE_DELAY_MS) */
  uint64_t direct_cache_hits;    /* direct allocations served from them */
  /* balance manager: the once-a-second tick (LFH_BALANCE_MS; docs/BALANCE.md) */
  uint64_t balance_ticks;            /* ticks run */
  uint64_t balance_trimmed_bytes;    /* given back by ticks, malloc_trim and pressure relief */
  uint64_t balance_pressure_trims;   /* full trims forced by memory pressure or a failing allocation */
  uint64_t balance_depth_raises;     /* look-aside depth changes made by the tick: up */
  uint64_t balance_depth_cuts;       /* … and down */
  uint64_t balance_lists_flushed;    /* idle look-aside lists emptied into their subsegments */
  uint64_t balance_threads_flagged;  /* idle threads asked to flush their magazines */
  uint32_t balance_thread;           /* 1: the balance thread runs */
  uint32_t balance_period_ms;        /* 0: the tick is off */
  /* version 2 */
  uint64_t heaps;                    /* live heaps: the process heap and private ones */
  uint64_t pageheap_blocks;          /* live page-heap blocks (LFH_PAGEHEAP), all heaps */
  uint64_t pageheap_bytes;
  uint64_t rss_bytes;                /* resident set of the whole process now */
  uint64_t peak_rss_bytes;           /* … at its highest (getrusage) */
  uint64_t tags_tracked;             /* pool tags counted (LFH_TAGS=1); 0 when off */
  /* fault injection: the low-resources simulation (LFH_FAULT_RATE; README) */
  uint64_t faults_injected;          /* allocations failed on purpose (NULL, ENOMEM) */
} lfh_stats_t;

/* Fill *out (set out->version/size is not needed). Returns nonzero on success. */
LFH_API int lfh_stats_get(lfh_stats_t *out);

#define LFH_STATS_PRINT_JSON 0x1
#define LFH_STATS_JSON LFH_STATS_PRINT_JSON
#define LFH_STATS_REGIONS 0x2 /* JSON: add the region list (what `lfh map --from FILE` draws) */
#define LFH_STATS_BUCKETS 0x4 /* table: every bucket in use (default: the 16 largest) */
/* Print statistics to fd: a human table (totals, tiers, heaps, buckets, tags), or one JSON object
 * with LFH_STATS_JSON (the same figures; docs: README "Statistics and the lfh tool"). */
LFH_API void lfh_stats_print(int fd, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* LFH_LFH_H */
