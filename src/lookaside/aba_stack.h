// lookaside/aba_stack.h — a lock-free LIFO of free blocks (a Treiber stack) with ABA protection.
//
// Why a 16-byte CAS: the head is {top pointer, tag, count} updated with one cmpxchg16b. The full
// 64-bit pointer keeps 57-bit address spaces working (no bits stolen from the pointer), the 32-bit
// tag rules out ABA, and the count travels with the top so "is the list at its depth?" is exact.
//
// Invariants:
//  - top == nullptr iff count == 0; every block on the stack stores the encoded address of the
//    block below it in its first word (lfh/free_link.h); nobody writes that word while the block
//    is on the stack.
//  - tag increases on every successful update. A pop that read {X, t} and X's link can only
//    succeed if the head is still {X, t}: since tags never repeat (until 2^32 updates wrap while
//    one thread is stalled between two instructions), X stayed on top the whole time and the link
//    it read is X's current one. ABA (X popped and pushed back) changes the tag and fails the CAS.
//  - A pop may read the first word of a block that another thread popped meanwhile (and that the
//    program may be writing): the value is garbage but the CAS then fails. This is why memory that
//    ever held LFH blocks must stay readable while the heap lives (vm/span_arena.h): a stale read
//    must never fault.
#pragma once
#include <cstdint>

#include "base/bits.h"
#include "lfh/free_link.h"

namespace lfh {

class AbaStack {
 public:
  struct alignas(16) Head {
    void *top;
    std::uint32_t tag;
    std::uint32_t count;
  };
  static_assert(sizeof(Head) == 16);

  constexpr AbaStack() = default;

  LFH_ALWAYS_INLINE Head load() const {
    Head h;
    // Tag/count first, then top (acquire: the link read that follows cannot move above these).
    std::uint64_t tc = __atomic_load_n(&words_[1], __ATOMIC_ACQUIRE);
    h.top = ptr(__atomic_load_n(&words_[0], __ATOMIC_ACQUIRE));
    h.tag = std::uint32_t(tc);
    h.count = std::uint32_t(tc >> 32);
    return h;
  }

  // Pop one block, or nullptr when empty.
  LFH_ALWAYS_INLINE void *pop() {
    Head h = load();
    for (;;) {
      if (!h.top) return nullptr;
      Head n{load_link(h.top), h.tag + 1, h.count - 1};
      if (cas(h, n)) return h.top;
    }
  }

  // Push one block unless the stack already holds `limit` blocks. False when full.
  LFH_ALWAYS_INLINE bool push(void *block, std::uint32_t limit) {
    Head h = load();
    for (;;) {
      if (h.count >= limit) return false;
      store_link(block, h.top);
      Head n{block, h.tag + 1, h.count + 1};
      if (cas(h, n)) return true;
    }
  }

  // Push an encoded chain first..last of n blocks (last's link is overwritten).
  void push_chain(void *first, void *last, std::uint32_t n) {
    Head h = load();
    for (;;) {
      store_link(last, h.top);
      Head nh{first, h.tag + 1, h.count + n};
      if (cas(h, nh)) return;
    }
  }

  // Detach the whole stack; returns the top and stores the count.
  void *pop_all(std::uint32_t *count) {
    Head h = load();
    for (;;) {
      if (!h.top) {
        *count = 0;
        return nullptr;
      }
      Head n{nullptr, h.tag + 1, 0};
      if (cas(h, n)) {
        *count = h.count;
        return h.top;
      }
    }
  }

  std::uint32_t count() const { return load().count; }

 private:
  // On failure `expected` is refreshed with the current head.
  LFH_ALWAYS_INLINE bool cas(Head &expected, const Head &desired) {
    unsigned __int128 e = pack(expected), d = pack(desired);
    unsigned __int128 prev = __sync_val_compare_and_swap(reinterpret_cast<unsigned __int128 *>(words_), e, d);
    if (prev == e) return true;
    expected.top = ptr(std::uintptr_t(prev));
    std::uint64_t tc = std::uint64_t(prev >> 64);
    expected.tag = std::uint32_t(tc);
    expected.count = std::uint32_t(tc >> 32);
    return false;
  }
  static unsigned __int128 pack(const Head &h) {
    std::uint64_t tc = std::uint64_t(h.tag) | (std::uint64_t(h.count) << 32);
    return (static_cast<unsigned __int128>(tc) << 64) | addr(h.top);
  }

  alignas(16) std::uint64_t words_[2] = {0, 0};   // [0] top, [1] tag | count << 32
};

}  // namespace lfh
