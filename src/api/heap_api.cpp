// api/heap_api.cpp — lfh_heap_* (include/lfh/lfh.h): the process heap and private heaps.
#include <errno.h>

#include <cstring>
#include <new>

#include "debug/debug.h"
#include "heap/runtime.h"
#include "lfh/lfh.h"
#include "os/report.h"
#include "vm/meta_pool.h"

namespace {

using lfh::Heap;

constinit lfh::vm::MetaPool g_heap_objects(sizeof(Heap));

static_assert(LFH_HEAP_NO_SERIALIZE == lfh::kHeapNoSerialize && LFH_HEAP_ZERO_MEMORY == lfh::kHeapZeroMemory &&
              LFH_HEAP_REALLOC_IN_PLACE_ONLY == lfh::kHeapReallocInPlaceOnly && LFH_HEAP_LOCKED == lfh::kHeapLocked &&
              LFH_HEAP_SECURE_FREE == lfh::kHeapSecureFree);

lfh_heap_t *handle(Heap *h) { return reinterpret_cast<lfh_heap_t *>(h); }

// A handle from the caller: checked (a bad handle is reported, never followed further).
Heap &checked(lfh_heap_t *heap) {
  lfh::process_heap();   // initialise
  auto *h = reinterpret_cast<Heap *>(heap);
  if (!h || !h->valid_handle()) lfh::fatal_error(lfh::ErrorKind::kInvalidHeap, heap);
  return *h;
}

// The heap of p must be h: plain misuse is fatal, like free() of a bad pointer.
void check_owner(Heap &h, const void *p) {
  Heap *o = lfh::owner_heap(p);
  if (!o) lfh::free_block(const_cast<void *>(p));   // reports invalid/double free and aborts
  if (o != &h) lfh::fatal_error(lfh::ErrorKind::kWrongHeap, p);
}

bool zeroing(const Heap &h, unsigned flags) { return ((flags | h.flags()) & LFH_HEAP_ZERO_MEMORY) != 0; }

}  // namespace

extern "C" {

LFH_API lfh_heap_t *lfh_process_heap(void) { return handle(&lfh::process_heap()); }

LFH_API lfh_heap_t *lfh_heap_create(unsigned flags, size_t initial_size, size_t maximum_size) {
  lfh::process_heap();
  void *mem = g_heap_objects.alloc();
  if (!mem) {
    errno = ENOMEM;
    return nullptr;
  }
  Heap *h = new (mem) Heap();
  const lfh::RuntimeOptions &o = lfh::runtime_options();
  if (!h->init(flags, initial_size, maximum_size, o.lookaside_depth, o.lookaside_max_depth, o.lookaside)) {
    h->release_all();
    h->invalidate_handle();
    g_heap_objects.free(mem);
    errno = ENOMEM;
    return nullptr;
  }
  lfh::register_heap(h);
  return handle(h);
}

LFH_API int lfh_heap_destroy(lfh_heap_t *heap) {
  Heap &h = checked(heap);
  if (&h == &lfh::process_heap()) {
    errno = EINVAL;
    return 0;
  }
  lfh::unregister_heap(&h);
  // The debug layer first: it reads the blocks (page-heap blocks, tag records) before they go.
  if (LFH_UNLIKELY(lfh::debug::active())) lfh::debug::heap_destroy(h);
  if (h.flags() & LFH_HEAP_SECURE_FREE) h.zero_all();
  h.release_all();
  h.invalidate_handle();
  g_heap_objects.free(&h);
  return 1;
}

LFH_API void *lfh_heap_alloc(lfh_heap_t *heap, unsigned flags, size_t size) {
  Heap &h = checked(heap);
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::heap_alloc(h, 0, size, zeroing(h, flags));
  void *p = h.alloc(size);
  if (!p) {
    errno = ENOMEM;
    return nullptr;
  }
  if (zeroing(h, flags)) std::memset(p, 0, lfh::usable_size(p));
  return p;
}

LFH_API void *lfh_heap_aligned_alloc(lfh_heap_t *heap, unsigned flags, size_t alignment, size_t size) {
  Heap &h = checked(heap);
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::heap_alloc(h, alignment, size, zeroing(h, flags));
  void *p = h.alloc_aligned(alignment, size);
  if (!p) {
    errno = ENOMEM;
    return nullptr;
  }
  if (zeroing(h, flags)) std::memset(p, 0, lfh::usable_size(p));
  return p;
}

LFH_API void *lfh_heap_realloc(lfh_heap_t *heap, unsigned flags, void *p, size_t size) {
  Heap &h = checked(heap);
  if (!p) return lfh_heap_alloc(heap, flags, size);
  if (LFH_UNLIKELY(lfh::debug::active()))
    return lfh::debug::heap_realloc(h, p, size, (flags & LFH_HEAP_REALLOC_IN_PLACE_ONLY) != 0, zeroing(h, flags));
  check_owner(h, p);
  if (size == 0) {
    lfh::free_block(p);
    return nullptr;
  }
  std::size_t old = lfh::usable_size(p);
  void *q = h.realloc(p, size, (flags & LFH_HEAP_REALLOC_IN_PLACE_ONLY) != 0);
  if (!q) {
    errno = ENOMEM;
    return nullptr;
  }
  if (zeroing(h, flags)) {
    std::size_t now = lfh::usable_size(q);
    if (now > old) std::memset(static_cast<char *>(q) + old, 0, now - old);
  }
  return q;
}

LFH_API int lfh_heap_free(lfh_heap_t *heap, unsigned flags, void *p) {
  (void)flags;
  Heap &h = checked(heap);
  if (!p) return 1;
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::heap_free(h, p);
  check_owner(h, p);
  int saved = errno;
  lfh::free_block(p);
  errno = saved;
  return 1;
}

LFH_API size_t lfh_heap_size(lfh_heap_t *heap, unsigned flags, const void *p) {
  (void)flags;
  Heap &h = checked(heap);
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::heap_size(h, p);
  if (!p || lfh::owner_heap(p) != &h || !h.validate_block(p)) {
    errno = EINVAL;
    return static_cast<size_t>(-1);
  }
  return lfh::usable_size(p);
}

LFH_API int lfh_heap_validate(lfh_heap_t *heap, unsigned flags, const void *p) {
  (void)flags;
  Heap &h = checked(heap);
  if (LFH_UNLIKELY(lfh::debug::active())) return p ? lfh::debug::heap_owns(h, p) : lfh::debug::validate_all();
  bool ok = p ? h.validate_block(p) : h.validate();
  if (!ok) errno = EINVAL;
  return ok;
}

LFH_API int lfh_heap_walk(lfh_heap_t *heap, lfh_heap_walk_fn fn, void *arg) {
  Heap &h = checked(heap);
  if (!fn) {
    errno = EINVAL;
    return 0;
  }
  struct Ctx {
    lfh_heap_walk_fn fn;
    void *arg;
  } ctx{fn, arg};
  return h.walk(
      [](const Heap::WalkEntry &e, void *c) {
        auto *x = static_cast<Ctx *>(c);
        lfh_heap_entry_t entry{e.address, e.size, e.in_use ? 1 : 0, e.tier};
        return x->fn(&entry, x->arg);
      },
      &ctx);
}

LFH_API void lfh_heap_lock(lfh_heap_t *heap) { checked(heap).lock_heap(); }
LFH_API void lfh_heap_unlock(lfh_heap_t *heap) { checked(heap).unlock_heap(); }

LFH_API size_t lfh_heap_compact(lfh_heap_t *heap) {
  Heap &h = checked(heap);
  h.trim();
  std::size_t largest = 0;
  h.walk(
      [](const Heap::WalkEntry &e, void *arg) {
        auto *l = static_cast<std::size_t *>(arg);
        if (!e.in_use && e.size > *l) *l = e.size;
        return 1;
      },
      &largest);
  return largest;
}

LFH_API lfh_heap_t *lfh_heap_of(const void *p) {
  if (LFH_UNLIKELY(p && lfh::debug::active())) return handle(lfh::debug::owner_heap(p));
  return p ? handle(lfh::owner_heap(p)) : nullptr;
}

LFH_API int lfh_validate(void) {
  lfh::process_heap();
  if (LFH_UNLIKELY(lfh::debug::active())) return lfh::debug::validate_all();   // + guard bytes, fills
  return lfh::for_each_heap([](Heap &h, void *) { return h.validate(); }, nullptr);
}

}  // extern "C"
