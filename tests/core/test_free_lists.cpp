// Segregated free lists: the size-class mapping and the bitmap of non-empty lists.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>

#include "core/free_lists.h"

using namespace lfh::core;

namespace {

// Free-block records in a plain buffer (the lists only touch the records).
struct Records {
  static constexpr int kN = 64;
  FreeBlock *mem;
  Records() {
    mem = static_cast<FreeBlock *>(std::aligned_alloc(64, sizeof(FreeBlock) * kN));
    std::memset(mem, 0, sizeof(FreeBlock) * kN);
  }
  ~Records() { std::free(mem); }
  FreeBlock *make(int i, std::size_t bytes) {
    write_header(&mem[i].h, bytes / kUnit, true, 0);
    return &mem[i];
  }
};

}  // namespace

TEST_CASE("size classes: 8 per power of two from 4 KB, monotone, floors bracket sizes") {
  CHECK(FreeLists::class_of(64) == 0);
  CHECK(FreeLists::class_of(4095) == 0);
  CHECK(FreeLists::class_of(4096) == 1);
  CHECK(FreeLists::class_of(4096 + 512) == 2);
  CHECK(FreeLists::class_of(8192) == 9);
  unsigned last = 0;
  for (std::size_t s = 64; s < (std::size_t(64) << 20); s += 16 + s / 64) {
    unsigned c = FreeLists::class_of(s);
    REQUIRE(c >= last);
    last = c;
    if (c > 0 && c + 1 < FreeLists::kClasses) {
      REQUIRE(FreeLists::class_floor(c) <= s);
      REQUIRE(s < FreeLists::class_floor(c + 1));
    }
  }
  CHECK(last < FreeLists::kClasses);
  CHECK(FreeLists::class_of(std::size_t(1) << 40) == FreeLists::kClasses - 1);
}

TEST_CASE("the bitmap marks exactly the non-empty lists and a bit scan finds the next one") {
  Records r;
  FreeLists l;
  CHECK(l.next_nonempty(0) == -1);
  FreeBlock *a = r.make(0, 100 * 1024);
  FreeBlock *b = r.make(1, 3 * 1024 * 1024);
  unsigned ca = FreeLists::class_of(a->h.bytes()), cb = FreeLists::class_of(b->h.bytes());
  REQUIRE(ca < cb);
  REQUIRE(cb >= 64);   // in the second bitmap word
  l.insert(a);
  l.insert(b);
  for (unsigned c = 0; c < FreeLists::kClasses; ++c) CHECK(l.class_nonempty(c) == (c == ca || c == cb));
  CHECK(l.next_nonempty(0) == int(ca));
  CHECK(l.next_nonempty(ca + 1) == int(cb));
  CHECK(l.next_nonempty(cb + 1) == -1);
  CHECK(l.count() == 2);
  CHECK(l.bytes() == a->h.bytes() + b->h.bytes());
  // A request bigger than a's class skips straight to b's by the bit scan.
  CHECK(l.find(200 * 1024) == b);
  CHECK(l.find(90 * 1024) == a);
  CHECK(l.find(4 * 1024 * 1024) == nullptr);
  REQUIRE(l.remove(a));
  CHECK_FALSE(l.class_nonempty(ca));
  CHECK(l.next_nonempty(0) == int(cb));
  REQUIRE(l.remove(b));
  CHECK(l.next_nonempty(0) == -1);
  CHECK(l.count() == 0);
}

TEST_CASE("best fit within a class and any block of a higher class fits") {
  Records r;
  FreeLists l;
  // 96 KB .. 104 KB is one class (12.5 % wide).
  FreeBlock *x = r.make(0, 103 * 1024), *y = r.make(1, 97 * 1024), *z = r.make(2, 99 * 1024);
  REQUIRE(FreeLists::class_of(x->h.bytes()) == FreeLists::class_of(y->h.bytes()));
  l.insert(x);
  l.insert(y);
  l.insert(z);
  CHECK(l.find(98 * 1024) == z);    // smallest that fits, not the first listed
  CHECK(l.find(97 * 1024) == y);    // exact
  CHECK(l.find(100 * 1024) == x);
  CHECK(l.find(104 * 1024) == nullptr);
  FreeBlock *big = r.make(3, 300 * 1024);
  l.insert(big);
  CHECK(l.find(104 * 1024) == big);
}

TEST_CASE("remove refuses a block whose neighbours do not point back (damaged links)") {
  Records r;
  FreeLists l;
  FreeBlock *a = r.make(0, 50 * 1024), *b = r.make(1, 50 * 1024);
  l.insert(a);
  l.insert(b);   // list: b, a
  a->prev = r.make(5, 50 * 1024);   // a's back link overwritten
  CHECK_FALSE(l.remove(a));
  a->prev = b;
  CHECK(l.remove(a));
  CHECK(l.remove(b));
}
