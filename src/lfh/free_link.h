// lfh/free_link.h — how a free block points to the next one.
//
// A free LFH block (on a look-aside list or on its subsegment's free list) keeps the next block's
// address in its first word, encoded as  next ^ key ^ self  with a per-process random key. This
//  - hardens the lists (an overwritten link decodes to garbage instead of an attacker's address),
//  - and lets free() recognise a block that is already free: its first word decodes to either
//    null (end of a list) or another block of the same bucket. A live block's first word is set to
//    zero when it is handed out, and whatever the program writes there decodes to a random value,
//    so a live block is mistaken for a free one with probability ~2^-40 (see lfh/double_free.h).
#pragma once
#include <cstdint>

#include "base/bits.h"

namespace lfh {

extern LFH_HIDDEN std::uintptr_t g_link_key;   // set once at initialisation, never zero

// Links are read and written with relaxed atomics (a plain mov on x86): a look-aside pop reads the
// top block's link while another thread may already have popped that block and be relinking or
// clearing it; the stale value is then discarded by the tagged CAS, but the access itself must not
// be a data race (ThreadSanitizer reports mixed plain/atomic accesses to one word).
LFH_ALWAYS_INLINE void store_link(void *block, void *next) {
  __atomic_store_n(static_cast<std::uintptr_t *>(block), addr(next) ^ g_link_key ^ addr(block), __ATOMIC_RELAXED);
}
// `key`: g_link_key, read once by a caller that walks a long chain (a register, not a load per block).
LFH_ALWAYS_INLINE void *load_link(const void *block, std::uintptr_t key) {
  return ptr(__atomic_load_n(static_cast<const std::uintptr_t *>(block), __ATOMIC_RELAXED) ^ key ^ addr(block));
}
LFH_ALWAYS_INLINE void *load_link(const void *block) { return load_link(block, g_link_key); }
// The raw decoded first word, for the free-state test.
LFH_ALWAYS_INLINE std::uintptr_t decoded_first_word(const void *block) {
  return __atomic_load_n(static_cast<const std::uintptr_t *>(block), __ATOMIC_RELAXED) ^ g_link_key ^ addr(block);
}
// Mark a block as live (handed out): its first word no longer decodes as a link.
LFH_ALWAYS_INLINE void clear_link(void *block) { __atomic_store_n(static_cast<std::uintptr_t *>(block), std::uintptr_t(0), __ATOMIC_RELAXED); }

}  // namespace lfh
