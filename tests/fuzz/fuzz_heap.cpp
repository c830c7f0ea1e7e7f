// libFuzzer harness: the input is decoded into a sequence of allocator calls — malloc, calloc,
// realloc, posix_memalign/aligned_alloc, free, lfh_heap_create/alloc/realloc/free/destroy, trim —
// run against lfh (linked as lfh_internal, so the harness and libFuzzer keep glibc's malloc) and
// against a shadow model of every live block (size, heap, alignment, contents pattern). Every
// answer is checked: NULL only where the call must fail (and then errno/return value as the C
// library's rules say), alignment, usable size, the contents of blocks (patterns intact across
// realloc, zeroes from calloc and zeroing heaps), lfh_owns, heap_size, lfh_heap_of; after every
// call lfh_validate(); at the end of the input, per heap, that a heap walk finds exactly the
// blocks the model says are live (then everything is freed and validated once more). A wrong
// answer prints what happened and aborts (libFuzzer saves the input).
//
// Build and run: see docs/RELIABILITY.md (tests/fuzz/CMakeLists.txt builds it with clang).
#include <errno.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "api/libc.h"   // the C library functions as lfh implements them (posix_memalign, memalign…)
#include "lfh/lfh.h"

namespace {

[[noreturn]] void fail(const char *what, std::size_t a = 0, std::size_t b = 0) {
  std::fprintf(stderr, "fuzz_heap: %s (%zu, %zu)\n", what, a, b);
  std::fflush(stderr);
  std::abort();
}
#define FUZZ_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) fail("check failed: " #cond, ##__VA_ARGS__); \
  } while (0)

class Input {
 public:
  Input(const std::uint8_t *p, std::size_t n) : p_(p), n_(n) {}
  bool empty() const { return i_ >= n_; }
  std::uint8_t u8() { return i_ < n_ ? p_[i_++] : 0; }
  std::uint32_t u16() { return u8() | std::uint32_t(u8()) << 8; }
  std::uint32_t u24() { return u16() | std::uint32_t(u8()) << 16; }

 private:
  const std::uint8_t *p_;
  std::size_t n_, i_ = 0;
};

constexpr std::size_t kAbsurd = ~std::size_t(0);
constexpr std::size_t kMaxLive = std::size_t(48) << 20;   // the model's cap on live bytes

// A size from every tier, the boundaries between them, and sizes no allocator can serve. Large
// blocks are the rarer choices: each costs page faults, and executions per second matter.
std::size_t decode_size(Input &in) {
  const std::uint8_t sel = in.u8();
  switch (sel & 15) {
    case 0: case 1: case 2: case 3: case 4: case 5: return in.u8();   // tiny (0 included)
    case 6: case 7: case 8: case 9: return in.u16() % 16385;          // the LFH
    case 10: case 11: return 16385 + in.u24() % ((1u << 20) - 16385); // the core heap
    case 12: return (std::size_t(1) << 20) + in.u24() % (2u << 20);   // direct blocks
    case 13: case 14: {
      static const std::size_t edges[] = {1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 512, 513, 1023, 1024,
                                          1025, 4095, 4096, 4097, 8192, 16383, 16384, 16385, 65535, 65536,
                                          65537, (1 << 20) - 4097, (1 << 20) - 4096, (1 << 20) - 4095,
                                          1 << 20, (1 << 20) + 1, 2 << 20, (2 << 20) + 1};
      return edges[in.u8() % (sizeof edges / sizeof edges[0])];
    }
    default: {   // must fail: above PTRDIFF_MAX, or far beyond any memory
      static const std::size_t absurd[] = {kAbsurd, kAbsurd - 4095, std::size_t(PTRDIFF_MAX) + 1,
                                           std::size_t(1) << 62, std::size_t(1) << 50};
      return absurd[in.u8() % (sizeof absurd / sizeof absurd[0])];
    }
  }
}
bool is_absurd(std::size_t n) { return n >= (std::size_t(1) << 50); }

struct Slot {
  void *p;
  std::size_t n;      // bytes asked for (the contents the model knows)
  int heap;           // 0: process heap (malloc & co), 1..: private heap index
  std::uint8_t seed;  // pattern
};

struct Heap {
  lfh_heap_t *h;
  unsigned flags;
  std::size_t maximum;
};

constexpr int kSlots = 32, kHeaps = 4;

// The pattern: byte i of a block is seed + i*31 + (i >> 8). Blocks up to 16 KB carry it whole;
// larger ones in their first and last 4 KB and one byte every 64 KB (enough to catch a block that
// moved without its contents, without touching every page of a 3 MB block on every input).
// These loops are the harness's own work, kept out of the coverage map (NO_COVERAGE).
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif
inline std::uint8_t pat(std::uint8_t seed, std::size_t i) { return std::uint8_t(seed + i * 31 + (i >> 8)); }
constexpr std::size_t kWhole = 16384, kEdge = 4096, kStride = 65536;

NO_COVERAGE void fill(const Slot &s) {
  auto *b = static_cast<std::uint8_t *>(s.p);
  const std::size_t n = s.n;
  if (n <= kWhole) {
    for (std::size_t i = 0; i < n; ++i) b[i] = pat(s.seed, i);
    return;
  }
  for (std::size_t i = 0; i < kEdge; ++i) b[i] = pat(s.seed, i);
  for (std::size_t i = kEdge; i < n - kEdge; i += kStride) b[i] = pat(s.seed, i);
  for (std::size_t i = n - kEdge; i < n; ++i) b[i] = pat(s.seed, i);
}

// The pattern of a block of s.n bytes, found at q, in its first `upto` bytes.
NO_COVERAGE void check_pattern(const void *q, const Slot &s, std::size_t upto, const char *when) {
  auto *b = static_cast<const std::uint8_t *>(q);
  const std::size_t n = s.n;
  std::size_t bad = ~std::size_t(0);
  if (n <= kWhole) {
    for (std::size_t i = 0; i < n && i < upto; ++i)
      if (b[i] != pat(s.seed, i)) bad = i;
  } else {
    for (std::size_t i = 0; i < kEdge && i < upto; ++i)
      if (b[i] != pat(s.seed, i)) bad = i;
    for (std::size_t i = kEdge; i < n - kEdge && i < upto; i += kStride)
      if (b[i] != pat(s.seed, i)) bad = i;
    for (std::size_t i = n - kEdge; i < n && i < upto; ++i)
      if (b[i] != pat(s.seed, i)) bad = i;
  }
  if (bad != ~std::size_t(0)) fail(when, bad, n);
}

// Bytes [from, n) of q are zero (all of them up to 64 KB; beyond, the edges and a byte per 64 KB).
NO_COVERAGE void check_zero(const void *q, std::size_t from, std::size_t n, const char *when) {
  auto *b = static_cast<const std::uint8_t *>(q);
  std::uint8_t any = 0;
  if (n - from <= 65536) {
    for (std::size_t i = from; i < n; ++i) any |= b[i];
  } else {
    for (std::size_t i = from; i < from + kEdge; ++i) any |= b[i];
    for (std::size_t i = from + kEdge; i < n - kEdge; i += kStride) any |= b[i];
    for (std::size_t i = n - kEdge; i < n; ++i) any |= b[i];
  }
  if (any) fail(when, from, n);
}

class Model {
 public:
  ~Model() {
    check_walks();
    for (Slot &s : slots_)
      if (s.p) release(s);
    for (int h = 1; h < kHeaps; ++h)
      if (heaps_[h].h) destroy(h);
    FUZZ_CHECK(lfh_validate());
    check_walks();
  }

  void step(Input &in) {
    const std::uint8_t op = in.u8();
    const int k = in.u8() % kSlots;
    Slot &s = slots_[k];
    switch (op % 14) {
      case 0: case 1: if (!s.p) do_malloc(s, decode_size(in)); else release(s); break;
      case 2: if (!s.p) do_calloc(s, in); else release(s); break;
      case 3: case 4: if (s.p) do_realloc(s, decode_size(in)); else do_malloc(s, decode_size(in)); break;
      case 5: if (!s.p) do_aligned(s, in); else release(s); break;
      case 6: do_heap_create(in); break;
      case 7: destroy(1 + in.u8() % (kHeaps - 1)); break;
      case 8: if (!s.p) do_heap_alloc(s, in); else release(s); break;
      case 9: if (s.p) do_heap_realloc(s, in); break;
      case 10: if (s.p) release(s); break;
      case 11: if (s.p) inspect(s); break;
      case 12: lfh_trim(); break;
      case 13: if (s.p) { check_pattern(s.p, s, s.n, "pattern changed while live"); } break;
    }
    FUZZ_CHECK(lfh_validate());
  }

 private:
  bool room_for(std::size_t n) { return !is_absurd(n) && live_ + n <= kMaxLive; }

  // align 0: lfh's rule for plain blocks: 16-aligned when the request or the block size is a
  // multiple of 16, else 8 (lfh/bucket_table.h).
  void born(Slot &s, void *p, std::size_t n, int heap, std::size_t align) {
    FUZZ_CHECK(p != nullptr);
    if (!align) align = ((n && n % 16 == 0) || lfh_usable_size(p) % 16 == 0) ? 16 : 8;
    FUZZ_CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0, align, n);
    FUZZ_CHECK(lfh_usable_size(p) >= n, lfh_usable_size(p), n);
    FUZZ_CHECK(lfh_owns(p), n);
    FUZZ_CHECK(lfh_heap_of(p) == (heap ? heaps_[heap].h : lfh_process_heap()), n);
    for (const Slot &o : slots_)   // no two live blocks overlap
      if (o.p && &o != &s) {
        auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(o.p);
        FUZZ_CHECK(a + (n ? n : 1) <= b || b + (o.n ? o.n : 1) <= a, n, o.n);
      }
    s = Slot{p, n, heap, std::uint8_t(seed_++ * 77 + 1)};
    live_ += n;
    ++count_[heap];
    fill(s);
  }

  void release(Slot &s) {
    check_pattern(s.p, s, s.n, "pattern changed before free");
    if (s.heap && (s.seed & 2)) FUZZ_CHECK(lfh_heap_free(heaps_[s.heap].h, 0, s.p));
    else lfh_free(s.p);   // plain free() takes any heap's block
    forget(s);
  }
  void forget(Slot &s) {
    live_ -= s.n;
    --count_[s.heap];
    s.p = nullptr;
  }

  void do_malloc(Slot &s, std::size_t n) {
    if (!is_absurd(n) && !room_for(n)) return;
    errno = 0;
    void *p = lfh_malloc(n);
    if (is_absurd(n)) {
      FUZZ_CHECK(p == nullptr && errno == ENOMEM, n);
      return;
    }
    born(s, p, n, 0, 0);
  }

  void do_calloc(Slot &s, Input &in) {
    std::size_t a = decode_size(in), b = in.u8() % 4 == 0 ? decode_size(in) : in.u8() + 1;
    std::size_t n;
    const bool overflow = __builtin_mul_overflow(a, b, &n);
    if (!overflow && !is_absurd(n) && !room_for(n)) return;
    errno = 0;
    void *p = lfh_calloc(a, b);
    if (overflow || is_absurd(n)) {
      FUZZ_CHECK(p == nullptr && errno == ENOMEM, a, b);
      return;
    }
    FUZZ_CHECK(p != nullptr, a, b);
    check_zero(p, 0, n, "calloc block not zero");
    born(s, p, n, 0, 0);
  }

  void do_realloc(Slot &s, std::size_t n) {
    if (!is_absurd(n) && n > s.n && !room_for(n - s.n)) return;
    if (s.heap) return do_heap_realloc_n(s, n, 0);
    errno = 0;
    void *q = lfh_realloc(s.p, n);
    if (n == 0) {   // glibc's rule: realloc(p, 0) frees p and returns NULL
      FUZZ_CHECK(q == nullptr);
      forget(s);
      return;
    }
    if (is_absurd(n)) {
      FUZZ_CHECK(q == nullptr && errno == ENOMEM, n);
      check_pattern(s.p, s, s.n, "failed realloc changed the block");
      return;
    }
    FUZZ_CHECK(q != nullptr, n);
    check_pattern(q, s, n < s.n ? n : s.n, "realloc lost the contents");
    forget(s);
    born(s, q, n, 0, 0);
  }

  void do_aligned(Slot &s, Input &in) {
    const std::uint8_t a = in.u8();
    std::size_t align = std::size_t(1) << (a % 22);   // 1 B .. 2 MB
    if (a & 0x80) align += 8 * (a & 3) + 8;            // not a power of two (sometimes)
    const std::size_t n = decode_size(in);
    if (!is_absurd(n) && !room_for(n)) return;
    const bool pow2 = (align & (align - 1)) == 0;
    if ((a & 0x60) == 0x60) {   // memalign: a non-power-of-two alignment is rounded up
      errno = 0;
      void *p = lfh::libc::memalign(align, n);
      if (is_absurd(n)) {
        FUZZ_CHECK(p == nullptr && errno == ENOMEM, align, n);
        return;
      }
      std::size_t want = 1;
      while (want < align) want <<= 1;
      born(s, p, n, 0, want);
      return;
    }
    if (a & 0x40) {
      void *p = reinterpret_cast<void *>(0x1);
      const int r = lfh::libc::posix_memalign(&p, align, n);
      if (!pow2 || align % sizeof(void *)) {
        FUZZ_CHECK(r == EINVAL && p == reinterpret_cast<void *>(0x1), align, n);
        return;
      }
      if (is_absurd(n)) {
        FUZZ_CHECK(r == ENOMEM, align, n);
        return;
      }
      FUZZ_CHECK(r == 0, align, n);
      born(s, p, n, 0, align);
      return;
    }
    errno = 0;
    void *p = lfh_aligned_alloc(align, n);
    if (!pow2) {
      FUZZ_CHECK(p == nullptr && errno == EINVAL, align, n);
      return;
    }
    if (is_absurd(n)) {
      FUZZ_CHECK(p == nullptr && errno == ENOMEM, align, n);
      return;
    }
    born(s, p, n, 0, align);
  }

  void do_heap_create(Input &in) {
    int h = 1;
    while (h < kHeaps && heaps_[h].h) ++h;
    if (h == kHeaps) return;
    const std::uint8_t f = in.u8();
    unsigned flags = 0;
    if (f & 1) flags |= LFH_HEAP_NO_SERIALIZE;
    if (f & 2) flags |= LFH_HEAP_ZERO_MEMORY;
    if (f & 4) flags |= LFH_HEAP_SECURE_FREE;
    const std::size_t maximum = (f & 8) ? std::size_t(1 + (f >> 4)) << 20 : 0;   // 1–16 MB fixed
    errno = 0;
    lfh_heap_t *hp = lfh_heap_create(flags, 0, maximum);
    FUZZ_CHECK(hp != nullptr, flags, maximum);
    FUZZ_CHECK(lfh_heap_validate(hp, 0, nullptr));
    heaps_[h] = Heap{hp, flags, maximum};
    count_[h] = 0;
  }

  void destroy(int h) {
    if (!heaps_[h].h) return;
    for (Slot &s : slots_)
      if (s.p && s.heap == h) {
        check_pattern(s.p, s, s.n, "pattern changed before heap destroy");
        forget(s);
      }
    FUZZ_CHECK(lfh_heap_destroy(heaps_[h].h));
    heaps_[h].h = nullptr;
  }

  int pick_heap(Input &in) {
    int h = 1 + in.u8() % (kHeaps - 1);
    return heaps_[h].h ? h : 0;
  }

  void do_heap_alloc(Slot &s, Input &in) {
    const int h = pick_heap(in);
    const unsigned flags = (in.u8() & 1) ? LFH_HEAP_ZERO_MEMORY : 0;
    const std::size_t n = decode_size(in);
    if (!is_absurd(n) && !room_for(n)) return;
    lfh_heap_t *hp = h ? heaps_[h].h : lfh_process_heap();
    errno = 0;
    void *p = lfh_heap_alloc(hp, flags, n);
    if (!p) {
      // Only an absurd size, or a fixed heap that is full, may fail.
      FUZZ_CHECK(errno == ENOMEM, n);
      FUZZ_CHECK(is_absurd(n) || (h && heaps_[h].maximum), n);
      return;
    }
    FUZZ_CHECK(!is_absurd(n), n);
    const bool zero = (flags | (h ? heaps_[h].flags : 0)) & LFH_HEAP_ZERO_MEMORY;
    if (zero) check_zero(p, 0, n, "zeroing heap gave a dirty block");
    FUZZ_CHECK(lfh_heap_size(hp, 0, p) >= n, n);
    born(s, p, n, h, 8);
  }

  void do_heap_realloc(Slot &s, Input &in) {
    const unsigned flags = in.u8() & (LFH_HEAP_REALLOC_IN_PLACE_ONLY | LFH_HEAP_ZERO_MEMORY);
    std::size_t n = decode_size(in);
    if (!is_absurd(n) && n > s.n && !room_for(n - s.n)) return;
    do_heap_realloc_n(s, n, flags);
  }

  void do_heap_realloc_n(Slot &s, std::size_t n, unsigned flags) {
    lfh_heap_t *hp = s.heap ? heaps_[s.heap].h : lfh_process_heap();
    const std::size_t old_usable = lfh_heap_size(hp, 0, s.p);
    errno = 0;
    void *q = lfh_heap_realloc(hp, flags, s.p, n);
    if (n == 0) {   // frees the block
      FUZZ_CHECK(q == nullptr);
      forget(s);
      return;
    }
    if (!q) {
      FUZZ_CHECK(errno == ENOMEM, n);
      FUZZ_CHECK(is_absurd(n) || (flags & LFH_HEAP_REALLOC_IN_PLACE_ONLY) || (s.heap && heaps_[s.heap].maximum), n);
      check_pattern(s.p, s, s.n, "failed heap realloc changed the block");
      return;
    }
    FUZZ_CHECK(!is_absurd(n), n);
    if (flags & LFH_HEAP_REALLOC_IN_PLACE_ONLY) FUZZ_CHECK(q == s.p, n);
    const std::size_t keep = n < s.n ? n : s.n;
    check_pattern(q, s, keep, "heap realloc lost the contents");
    // Zeroing: the bytes past the old block's usable size (all of which the program may have
    // written) are zero.
    const bool zero = (flags | (s.heap ? heaps_[s.heap].flags : 0)) & LFH_HEAP_ZERO_MEMORY;
    if (zero && n > old_usable) check_zero(q, old_usable, n, "zeroing realloc left dirty bytes");
    const int h = s.heap;
    forget(s);
    born(s, q, n, h, 8);
  }

  void inspect(const Slot &s) {
    lfh_heap_t *hp = s.heap ? heaps_[s.heap].h : lfh_process_heap();
    FUZZ_CHECK(lfh_heap_validate(hp, 0, s.p), s.n);
    FUZZ_CHECK(lfh_heap_size(hp, 0, s.p) >= s.n, s.n);
    FUZZ_CHECK(lfh_owns(s.p), s.n);
    FUZZ_CHECK(lfh::libc::malloc_usable_size(s.p) >= s.n, s.n);
    // A block of another heap is not one of that heap's.
    for (int h = 0; h < kHeaps; ++h)
      if (h != s.heap && (h == 0 || heaps_[h].h))
        FUZZ_CHECK(lfh_heap_size(h ? heaps_[h].h : lfh_process_heap(), 0, s.p) == ~std::size_t(0), s.n);
  }

  // A walk of each heap finds exactly the blocks the model holds in it.
  void check_walks() {
    for (int h = 0; h < kHeaps; ++h) {
      lfh_heap_t *hp = h ? heaps_[h].h : lfh_process_heap();
      if (!hp) continue;
      std::size_t in_use = 0;
      FUZZ_CHECK(lfh_heap_walk(hp, [](const lfh_heap_entry_t *e, void *arg) {
                   if (e->in_use) ++*static_cast<std::size_t *>(arg);
                   return 1;
                 }, &in_use));
      FUZZ_CHECK(in_use == count_[h], in_use, count_[h]);
    }
  }

  Slot slots_[kSlots] = {};
  Heap heaps_[kHeaps] = {};
  std::size_t count_[kHeaps] = {};
  std::size_t live_ = 0;
  std::uint8_t seed_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  Input in(data, size);
  Model m;
  for (int ops = 0; !in.empty() && ops < 256; ++ops) m.step(in);
  return 0;
}
