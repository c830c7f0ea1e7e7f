// debug/tag_fast.h — tag mode's inline fast path (LFH_TAGS=1): malloc, calloc and free of small
// blocks of the process heap, reached from api/'s debug branch (never when tag mode is off: api/
// tests debug::active() first, and the off path does not change).
//
// What it covers (everything else declines to tagged.h's entry points, which handle every case):
//   malloc/calloc  n ≤ kFastMax (1008), tag mode without LFH_LEAKS and fault injection, the
//                  thread's tag in its allocation cache or its call site `ra` in its call-site
//                  cache (alloc_site, the slow path, fills both), a block in the magazine;
//   free           a live tagged block of an LFH subsegment with its record at offset 16, its
//                  tag in the thread's last-slot cache.
// Both stay leaf functions (only tail calls), so that api/'s debug entry needs no stack frame.
// The block and its record are the slow path's (place / free_found in tagged.cpp): front_alloc
// of the bucket of n + 16, the record right before the user bytes, counted in the thread's
// shard; free checks the seal, clears the word (a second free is then judged by the heap as a
// pointer into a block), and gives the block to the magazine.
//
// The call site. api/'s malloc passes __builtin_return_address(0): preload/'s exported malloc
// reaches it by a tail call, so that is the program's return address — the one the slow path's
// unwind step (stack.h call_site) finds. If the compiler did not tail-call (or lfh called malloc
// itself), ra lies inside lfh: site_fill refuses it and the slow path unwinds as before.
#pragma once
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/bits.h"
#include "debug/tag_shard.h"
#include "debug/tagged.h"
#include "debug/tags.h"
#include "heap/front.h"
#include "lfh/bucket_table.h"

namespace lfh::debug::tg {

// The bucket of a tagged block for a request of n bytes, 0 ≤ n ≤ kFastMax, at (n + 7) / 8: that of
// n + 16 bytes (bucket_for_request's own table, shifted by the record), and for n 0 that of 17 (as
// place() does: a user pointer at its block's very end would be the next block's start). One
// table lookup, and malloc(0) needs no test of its own.
inline constexpr auto kTagBucket = [] {
  std::array<std::uint8_t, kFastMax / 8 + 1> t{};
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = std::uint8_t(lfh_buckets::bucket_for_request((i ? 8 * i : 1) + 16));
  return t;
}();
static_assert(kFastMax % 8 == 0 && lfh_buckets::kBuckets <= 256);
static_assert(kTagBucket[0] == lfh_buckets::bucket_for_request(17) && kTagBucket[1] == lfh_buckets::bucket_for_request(24) &&
              kTagBucket[2] == lfh_buckets::bucket_for_request(25) && kTagBucket[126] == lfh_buckets::bucket_for_request(1024));

// A tagged block for malloc (zero: calloc) of n bytes, or nullptr: take the slow path
// (alloc_site, then the debug layer's on_malloc). A leaf: no call, so that its caller needs no
// stack frame — everything that would call (a cache miss, an empty magazine, a publish) declines.
// Callable in any debug mode: its caches are filled only by alloc_site, which runs only when
// tg::g_fast_alloc is set, so in every other mode (and before a thread's first allocation) it
// finds them empty and declines — api/ need not test the flag first.
LFH_ALWAYS_INLINE void *fast_alloc(std::size_t n, const void *ra, bool zero) {
  if (LFH_UNLIKELY(n > kFastMax)) return nullptr;
  TagThread *t = &t_tag_thread;   // one TLS address for every field below
  const std::uint32_t thread_tag = t->tag;
  std::uint64_t tag;   // 64 bits: stored below as the record's tag and site (0) in one go
  std::uint32_t off;
  if (LFH_LIKELY(thread_tag == kNoTag)) {
    // Return addresses of distinct call sites are at least a call instruction apart: their low
    // bits index well.
    const SiteEntry &e = t->sites[addr(ra) & (kSiteEntries - 1)];
    if (LFH_UNLIKELY(e.ra != addr(ra))) return nullptr;
    tag = e.tag;
    off = e.off;
  } else {
    if (LFH_UNLIKELY(t->alloc_tag != thread_tag)) return nullptr;
    tag = thread_tag;
    off = t->alloc_off;
  }
  // A cache entry is filled only by a count (slow path), which sets the shard up first: t->shard
  // is not null here.
  TagCounter &c = *reinterpret_cast<TagCounter *>(reinterpret_cast<char *>(t->shard->c) + off);
  const std::int64_t pending = detail::ld(c.pending) + std::int64_t(n);
  if (LFH_UNLIKELY(pending >= kTagPublish)) return nullptr;   // the slow path counts it, publishing
  char *base = static_cast<char *>(front_pop(kTagBucket[(n + 7) >> 3]));
  if (LFH_UNLIKELY(base == nullptr)) return nullptr;
  auto *h = reinterpret_cast<TagHeader *>(base);
  // tag, then site 0: one 8-byte store for both.
  const std::uint64_t tag_site = std::endian::native == std::endian::little ? tag : tag << 32;
  std::memcpy(h, &tag_site, sizeof tag_site);
  h->word = record_word(h, std::uint32_t(tag), 0, n);   // offset code 0: the record at offset 16
  add_owned(c.allocs, 1);
  add_owned(c.bytes_in, n);
  detail::st(c.pending, pending);
  char *user = base + 16;
  if (zero) std::memset(user, 0, n);
  return user;
}

// free(p) in tag mode: a live tagged block of an LFH subsegment, its record at offset 16, no leak
// site, its tag the thread's last, here; with a leak site in free_sited; anything else in tg::free. Every call in it is a tail
// call.
LFH_ALWAYS_INLINE void fast_free(void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (LFH_UNLIKELY(o == nullptr || o->kind != vm::OwnerKind::kLfhSubsegment)) return tg::free(p);
  auto *s = reinterpret_cast<Subsegment *>(o);
  // p - 16 a block start of s, handed out: its 16 bytes are mapped and inside it (this replaces
  // find's range check), and a plain block's start p is not one (no bucket is 16 bytes long or
  // shorter and a tagged block, the record making it ≥ 17).
  auto *h = reinterpret_cast<TagHeader *>(static_cast<char *>(p) - 16);
  const std::int64_t i = s->index_of(h);
  if (LFH_UNLIKELY(i < 0 || std::uint32_t(i) >= s->bump.load(std::memory_order_acquire))) return tg::free(p);
  // The word as the fast path writes it: offset code 0 and the seal (bits 40-63 as in
  // g_seal_word). A freed block's word is 0 (never a match): a double free goes to tg::free,
  // which reports it.
  const std::uint64_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
  // g_seal_word's bits 0-44 are 0: when bits 40-63 match, w ^ g_seal_word is the size.
  const std::uint64_t n = w ^ g_seal_word;
  if (LFH_UNLIKELY((n >> kSizeBits) != 0)) return tg::free(p);
  TagThread &t = t_tag_thread;
  // The thread's last tag, and no leak site (LFH_LEAKS: tg::free counts the site too).
  std::uint64_t tag_site;
  std::memcpy(&tag_site, h, sizeof tag_site);
  if (LFH_UNLIKELY(std::endian::native != std::endian::little || tag_site != t.last_tag)) {
    if (h->site != 0) return free_sited(s, h, n);   // LFH_LEAKS: found already, counted out of line
    return tg::free(p);
  }
  // last_tag is set only by a count (slow path), which sets the shard up first: not null here.
  TagCounter &c = *reinterpret_cast<TagCounter *>(reinterpret_cast<char *>(t.shard->c) + t.last_off);
  const std::int64_t pending = detail::ld(c.pending) - std::int64_t(n);
  if (LFH_UNLIKELY(pending <= -kTagPublish)) return tg::free(p);   // tg::free counts it, publishing
  add_owned(c.frees, 1);
  add_owned(c.bytes_out, n);
  detail::st(c.pending, pending);
  __atomic_store_n(&h->word, 0, __ATOMIC_RELAXED);   // a second free of p is not taken for a live block
  // The seal vouches that the block is live: the heap's own double-free check is not repeated.
  front_free_lfh_checked(s, h);
}

}  // namespace lfh::debug::tg
