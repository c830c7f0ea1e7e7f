// debug/tag_shard.h — the per-thread counter shards of tag accounting (tag_table.cpp has the
// rest: slots, folding dead threads' shards, reading). Inline: an allocation in tag mode counts
// with a TLS load and three plain stores, no call and no atomic read-modify-write.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "debug/tagged.h"
#include "debug/tags.h"

namespace lfh::debug {

inline constexpr std::int64_t kTagPublish = 64 * 1024;   // bytes a thread moves before publishing (peaks)

struct TagCounter {
  std::uint64_t allocs, frees;
  std::uint64_t bytes_in, bytes_out;   // requested bytes allocated / freed by this thread
  std::int64_t pending;                // bytes moved since this thread last published
};

struct TagShard {
  std::atomic<std::uint32_t> owner;    // kernel tid of the thread counting here (0: free)
  TagShard *next;                      // the list of every shard (append-only, published by release)
  TagCounter c[kTagSlots];
};

TagShard *tag_shard_slow();                              // the calling thread's first count
void tag_publish(TagCounter &c, unsigned slot);          // pending bytes → shared total and peak

namespace detail {
// The owning thread is the only writer of its shard: relaxed load + store (no lock prefix);
// readers sum with relaxed loads and never see a torn value.
inline std::uint64_t ld(const std::uint64_t &v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }
inline void st(std::uint64_t &v, std::uint64_t x) { __atomic_store_n(&v, x, __ATOMIC_RELAXED); }
inline std::int64_t ld(const std::int64_t &v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }
inline void st(std::int64_t &v, std::int64_t x) { __atomic_store_n(&v, x, __ATOMIC_RELAXED); }
inline TagCounter &counter(unsigned slot) {
  TagShard *s = t_tag_thread.shard;
  if (LFH_UNLIKELY(s == nullptr)) s = tag_shard_slow();
  return s->c[slot];
}
}  // namespace detail

inline void tag_count_alloc(TagCounter &c, unsigned slot, std::uint64_t n) {
  using namespace detail;
  st(c.allocs, ld(c.allocs) + 1);
  st(c.bytes_in, ld(c.bytes_in) + n);
  const std::int64_t p = ld(c.pending) + std::int64_t(n);
  st(c.pending, p);
  if (LFH_UNLIKELY(p >= kTagPublish)) tag_publish(c, slot);
}

inline void tag_count_free(TagCounter &c, unsigned slot, std::uint64_t n) {
  using namespace detail;
  st(c.frees, ld(c.frees) + 1);
  st(c.bytes_out, ld(c.bytes_out) + n);
  const std::int64_t p = ld(c.pending) - std::int64_t(n);
  st(c.pending, p);
  if (LFH_UNLIKELY(p <= -kTagPublish)) tag_publish(c, slot);
}

inline void tag_count_alloc(unsigned slot, std::uint64_t n) { tag_count_alloc(detail::counter(slot), slot, n); }
inline void tag_count_free(unsigned slot, std::uint64_t n) { tag_count_free(detail::counter(slot), slot, n); }

inline std::uint32_t counter_off(unsigned slot) { return std::uint32_t(slot * sizeof(TagCounter)); }
inline unsigned counter_slot(std::uint32_t off) { return unsigned(off / sizeof(TagCounter)); }

// Add x to a counter only the calling thread writes: one instruction on x86-64 (no lock prefix:
// no other writer; readers' relaxed loads see the old or the new value, an aligned 8-byte store
// is never torn), a relaxed load and store elsewhere. The asm keeps the compiler from treating a
// plain `+=` as racy and from splitting it.
LFH_ALWAYS_INLINE void add_owned(std::uint64_t &v, std::uint64_t x) {
#if defined(__x86_64__)
  asm("addq %1, %0" : "+m"(v) : "er"(x));
#else
  detail::st(v, detail::ld(v) + x);
#endif
}

// A block changed size (realloc): only its bytes move.
inline void tag_count_resize(unsigned slot, std::uint64_t old_n, std::uint64_t new_n) {
  using namespace detail;
  TagCounter &c = counter(slot);
  if (new_n >= old_n) st(c.bytes_in, ld(c.bytes_in) + (new_n - old_n));
  else st(c.bytes_out, ld(c.bytes_out) + (old_n - new_n));
  const std::int64_t p = ld(c.pending) + std::int64_t(new_n) - std::int64_t(old_n);
  st(c.pending, p);
  if (LFH_UNLIKELY(p >= kTagPublish || p <= -kTagPublish)) tag_publish(c, slot);
}

}  // namespace lfh::debug
