// api/lfh_api.cpp — lfh's own C API (include/lfh/lfh.h).
#include "lfh/lfh.h"

#include "api/libc.h"
#include "debug/debug.h"
#include "debug/leaks.h"
#include "debug/tag_table.h"
#include "debug/tags.h"
#include "heap/front.h"
#include "heap/runtime.h"
#include "lfh/free_link.h"
#include "stats/stats.h"

extern "C" {

LFH_API const char *lfh_version(void) { return "0.1.0"; }

LFH_API void *lfh_malloc(size_t size) { return lfh::libc::malloc(size); }
LFH_API void *lfh_calloc(size_t count, size_t size) { return lfh::libc::calloc(count, size); }
LFH_API void *lfh_realloc(void *p, size_t size) { return lfh::libc::realloc(p, size); }
LFH_API void lfh_free(void *p) { lfh::libc::free(p); }
LFH_API void *lfh_aligned_alloc(size_t alignment, size_t size) { return lfh::libc::aligned_alloc(alignment, size); }
LFH_API size_t lfh_usable_size(const void *p) { return lfh::libc::malloc_usable_size(p); }

LFH_API uint32_t lfh_set_thread_tag(uint32_t tag) { return lfh::debug::set_thread_tag(tag); }
LFH_API uint32_t lfh_thread_tag(void) { return lfh::debug::thread_tag(); }

// The tagged calls set the thread's tag around the plain one: fault injection matches the same
// tag, and the call site is not looked up for a tagged block.
LFH_API void *lfh_malloc_tagged(size_t size, uint32_t tag) {
  const uint32_t old = lfh::debug::set_thread_tag(tag);
  void *p = lfh::libc::malloc(size);
  lfh::debug::set_thread_tag(old);
  return p;
}
LFH_API void *lfh_calloc_tagged(size_t count, size_t size, uint32_t tag) {
  const uint32_t old = lfh::debug::set_thread_tag(tag);
  void *p = lfh::libc::calloc(count, size);
  lfh::debug::set_thread_tag(old);
  return p;
}
LFH_API void *lfh_heap_alloc_tagged(lfh_heap_t *heap, unsigned flags, size_t size, uint32_t tag) {
  const uint32_t old = lfh::debug::set_thread_tag(tag);
  void *p = lfh_heap_alloc(heap, flags, size);
  lfh::debug::set_thread_tag(old);
  return p;
}

LFH_API size_t lfh_tag_stats(lfh_tag_stat_t *out, size_t max) {
  lfh::process_heap();
  lfh::debug::TagRow rows[64];
  size_t done = 0, tracked = 0;
  // Through a small buffer: tag_rows fills the largest first, so ask for as many as wanted.
  if (max <= 64) {
    tracked = lfh::debug::tag_rows(rows, max);
    done = tracked < max ? tracked : max;
    for (size_t i = 0; i < done; ++i) {
      out[i] = {rows[i].tag, {}, rows[i].allocs, rows[i].frees, rows[i].blocks, rows[i].bytes, rows[i].peak_bytes};
      lfh::debug::tag_text(rows[i].tag, out[i].name);
    }
    return tracked;
  }
  // More than 64 wanted: rows are copied in place (a TagRow fits in an lfh_tag_stat_t slot pair).
  static_assert(sizeof(lfh::debug::TagRow) <= sizeof(lfh_tag_stat_t));
  auto *r = reinterpret_cast<lfh::debug::TagRow *>(out);
  tracked = lfh::debug::tag_rows(r, max);
  done = tracked < max ? tracked : max;
  for (size_t i = done; i-- > 0;) {
    const lfh::debug::TagRow row = r[i];
    out[i] = {row.tag, {}, row.allocs, row.frees, row.blocks, row.bytes, row.peak_bytes};
    lfh::debug::tag_text(row.tag, out[i].name);
  }
  return tracked;
}

LFH_API int lfh_tags_enabled(void) {
  lfh::process_heap();
  return lfh::debug::tags_on() ? 1 : 0;
}

LFH_API size_t lfh_leak_report(int fd) {
  lfh::process_heap();
  return lfh::debug::leak_report(fd);
}

LFH_API int lfh_owns(const void *p) {
  if (!p || !lfh::initialized()) return 0;
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::owns(p);   // page-heap and checked blocks
  return lfh::block_is_live(p, lfh::vm::pagemap_lookup(p));
}

LFH_API size_t lfh_trim(void) {
  lfh::process_heap();
  lfh::front_flush_current_thread();
  return lfh::process_heap().trim();
}

LFH_API int lfh_stats_get(lfh_stats_t *out) {
  if (!out) return 0;
  lfh::stats::collect(out);
  return 1;
}

LFH_API void lfh_stats_print(int fd, unsigned flags) { lfh::stats::print(fd, flags); }

}  // extern "C"

namespace {
// At exit: LFH_STATS asks for a summary. A destructor of the library, so it runs after main's
// atexit handlers, in preloaded and statically linked programs alike.
__attribute__((destructor)) void lfh_print_stats_at_exit() {
  if (lfh::initialized()) lfh::stats::print_at_exit_if_asked();
}
}  // namespace
