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

LFH_ALWAYS_INLINE void store_link(void *block, void *next) {
  *static_cast<std::uintptr_t *>(block) = addr(next) ^ g_link_key ^ addr(block);
}
LFH_ALWAYS_INLINE void *load_link(const void *block) {
  return ptr(__atomic_load_n(static_cast<const std::uintptr_t *>(block), __ATOMIC_RELAXED) ^ g_link_key ^ addr(block));
}
// The raw decoded first word, for the free-state test.
LFH_ALWAYS_INLINE std::uintptr_t decoded_first_word(const void *block) {
  return *static_cast<const std::uintptr_t *>(block) ^ g_link_key ^ addr(block);
}
// Mark a block as live (handed out): its first word no longer decodes as a link.
LFH_ALWAYS_INLINE void clear_link(void *block) { *static_cast<std::uintptr_t *>(block) = 0; }

}  // namespace lfh
