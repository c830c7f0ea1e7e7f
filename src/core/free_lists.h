// core/free_lists.h — segregated free lists of one core-heap arena, indexed by size class, with a
// bitmap of the non-empty lists so the first class that can satisfy a request is one bit scan.
//
// Size classes (block sizes in bytes, header included):
//   class 0            every free block below 4 KB (alignment slack, small remainders);
//   classes 1..127     8 classes per power of two from 4 KB up: a block of s bytes with
//                      2^k ≤ s < 2^(k+1) is in class 1 + (k−12)·8 + the 3 bits below the top
//                      one (12.5 % wide), the last class taking everything larger.
// A request is served from its own class by best fit among the first kWalk entries (the class may
// hold blocks too small for it), else from the next non-empty class, where every block fits, again
// taking the best of the first kWalk. Lists are LIFO (a block freed last is reused first: its pages
// are the most likely still resident).
//
// Invariant: bit c of the bitmap is set ⇔ head_[c] != nullptr.
#pragma once
#include <cstddef>
#include <bit>
#include <cstdint>

#include "core/core_block.h"

namespace lfh::core {

class FreeLists {
 public:
  static constexpr unsigned kClasses = 128;
  static constexpr unsigned kSubBits = 3;     // 8 classes per power of two
  static constexpr unsigned kMinShift = 12;   // class 1 starts at 4 KB
  static constexpr unsigned kWalk = 32;       // entries examined for a best fit

  static constexpr unsigned class_of(std::size_t bytes) {
    if (bytes < (std::size_t(1) << kMinShift)) return 0;
    unsigned k = unsigned(std::bit_width(bytes)) - 1;
    unsigned sub = unsigned(bytes >> (k - kSubBits)) & ((1u << kSubBits) - 1);
    std::size_t c = 1 + std::size_t(k - kMinShift) * (1u << kSubBits) + sub;
    return c >= kClasses ? kClasses - 1 : unsigned(c);
  }
  // Smallest block size of class c (c ≥ 1).
  static constexpr std::size_t class_floor(unsigned c) {
    if (c == 0) return 0;
    unsigned k = kMinShift + (c - 1) / (1u << kSubBits);
    std::size_t sub = (c - 1) % (1u << kSubBits);
    return (std::size_t(1) << k) + sub * (std::size_t(1) << (k - kSubBits));
  }

  constexpr FreeLists() = default;

  void insert(FreeBlock *f) {
    unsigned c = class_of(f->h.bytes());
    f->cls = std::uint8_t(c);
    f->prev = nullptr;
    f->next = head_[c];
    if (f->next) f->next->prev = f;
    head_[c] = f;
    bits_[c / 64] |= std::uint64_t(1) << (c % 64);
    ++count_;
    bytes_ += f->h.bytes();
  }

  // Unlink f. Returns false when its neighbours do not point back at it (a damaged free list).
  bool remove(FreeBlock *f) {
    unsigned c = f->cls;
    if (c >= kClasses) return false;
    if (f->prev ? f->prev->next != f : head_[c] != f) return false;
    if (f->next && f->next->prev != f) return false;
    if (f->prev) f->prev->next = f->next;
    else head_[c] = f->next;
    if (f->next) f->next->prev = f->prev;
    if (!head_[c]) bits_[c / 64] &= ~(std::uint64_t(1) << (c % 64));
    --count_;
    bytes_ -= f->h.bytes();
    return true;
  }

  // A free block of at least `bytes` (best fit as described above), still listed; nullptr if none.
  FreeBlock *find(std::size_t bytes) const {
    unsigned c = class_of(bytes);
    if (FreeBlock *f = best_in(head_[c], bytes)) return f;
    int n = next_nonempty(c + 1);
    return n < 0 ? nullptr : best_in(head_[n], bytes);
  }

  // First non-empty class ≥ c, or −1.
  int next_nonempty(unsigned c) const {
    if (c >= kClasses) return -1;
    unsigned w = c / 64;
    std::uint64_t m = bits_[w] & (~std::uint64_t(0) << (c % 64));
    for (;;) {
      if (m) return int(w * 64 + unsigned(std::countr_zero(m)));
      if (++w >= kClasses / 64) return -1;
      m = bits_[w];
    }
  }

  bool class_nonempty(unsigned c) const { return (bits_[c / 64] >> (c % 64)) & 1; }
  FreeBlock *head(unsigned c) const { return head_[c]; }
  std::size_t count() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  void clear() { *this = FreeLists(); }

 private:
  static FreeBlock *best_in(FreeBlock *f, std::size_t bytes) {
    FreeBlock *best = nullptr;
    std::size_t best_size = ~std::size_t(0);
    for (unsigned i = 0; f && i < kWalk; f = f->next, ++i) {
      std::size_t s = f->h.bytes();
      if (s >= bytes && s < best_size) {
        best = f;
        best_size = s;
        if (s == bytes) break;
      }
    }
    return best;
  }

  FreeBlock *head_[kClasses] = {};
  std::uint64_t bits_[kClasses / 64] = {};
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace lfh::core
