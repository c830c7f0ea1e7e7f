// api/lfh_api.cpp — lfh's own C API (include/lfh/lfh.h).
#include "lfh/lfh.h"

#include "api/libc.h"
#include "debug/debug.h"
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

LFH_API int lfh_owns(const void *p) {
  if (!p || !lfh::initialized()) return 0;
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::owns(p);   // page-heap and checked blocks
  lfh::vm::OwnerHeader *o = lfh::vm::pagemap_lookup(p);
  if (!o) return 0;
  if (o->kind == lfh::vm::OwnerKind::kLfhSubsegment) {
    auto *s = reinterpret_cast<lfh::Subsegment *>(o);
    std::int64_t i = s->index_of(p);
    return i >= 0 && std::uint32_t(i) < s->bump.load(std::memory_order_acquire) && !lfh::lfh_block_is_free(s, p);
  }
  if (o->kind == lfh::vm::OwnerKind::kDirectBlock) {
    auto *d = reinterpret_cast<lfh::DirectBlock *>(o);
    return d->base == p && !d->cached;   // (a cached one was freed)
  }
  if (o->kind == lfh::vm::OwnerKind::kCoreSegment) {
    auto *s = reinterpret_cast<lfh::core::Segment *>(o);
    auto *h = static_cast<lfh::Heap *>(s->heap);
    return h->core().owns(s, p, !h->held_by_me());
  }
  return 0;
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
