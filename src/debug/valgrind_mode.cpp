// debug/valgrind_mode.cpp — memcheck mode (see valgrind_mode.h).
#include "debug/valgrind_mode.h"

#include <errno.h>

#include <cstdint>
#include <cstring>

#include "heap/runtime.h"
#include "os/mutex.h"
#include "os/os.h"
#include "os/valgrind.h"

namespace lfh::debug::vg {

constinit bool g_on = false;

namespace {

// Each block carries, at the end of its heap block, a trailer the program never sees:
//   [.. n ..][guard ≥ 8 bytes][size n][tag = p ^ kTagKey, ^ 1 once freed (in the quarantine)]
// The tag tells a block announced to memcheck from one handed out before memcheck mode started
// (during lfh's own initialisation), which memcheck knows nothing of, and a freed block waiting
// in the quarantine (lfh still counts it live) from a live one.
constexpr std::size_t kTrailer = 2 * sizeof(std::uintptr_t);
constexpr std::size_t kExtra = 8 + kTrailer;
constexpr std::uintptr_t kTagKey = 0x6c66682d76676d63ull;   // "lfh-vgmc"

// lfh's own code runs between these: memcheck reports nothing it does.
struct Quiet {
  Quiet() { os::vg::quiet_begin(); }
  ~Quiet() { os::vg::quiet_end(); }
  Quiet(const Quiet &) = delete;
  Quiet &operator=(const Quiet &) = delete;
};

// Is p the start of a live block (any heap)? Reads lfh's metadata and p's first word: quietly.
bool live(const void *p) {
  if (!p) return false;
  Quiet q;
  bool r = block_is_live(p, vm::pagemap_lookup(p));
  // The answer is read from bytes memcheck calls undefined (a free block's link word): declare it
  // defined, or memcheck flags the caller's branch on it.
  os::vg::defined(&r, sizeof r);
  return r;
}

// The heap's view of a block (quietly: a core block's header lies in memory memcheck was told is
// not the program's).
std::size_t heap_usable(const void *p) {
  Quiet q;
  return lfh::usable_size(p);
}
Heap *heap_of(const void *p) {
  Quiet q;
  return lfh::owner_heap(p);
}

std::uintptr_t *trailer(const void *p, std::size_t usable) {
  return reinterpret_cast<std::uintptr_t *>(static_cast<char *>(const_cast<void *>(p)) + usable - kTrailer);
}

// What p is, for memcheck mode. *n: the size the program asked for (kAnnounced, kQuarantined).
enum class State { kNotLive, kPreVg, kAnnounced, kQuarantined };
State classify(const void *p, std::size_t *n = nullptr) {
  if (!live(p)) return State::kNotLive;
  const std::size_t u = heap_usable(p);
  if (u < kExtra) return State::kPreVg;
  std::uintptr_t *t = trailer(p, u);
  os::vg::defined(t, kTrailer);   // lfh's own words: readable for a moment
  const std::uintptr_t size = t[0], tag = t[1] ^ reinterpret_cast<std::uintptr_t>(p) ^ kTagKey;
  os::vg::noaccess(t, kTrailer);
  if (tag > 1 || size > u - kExtra) return State::kPreVg;   // memcheck never saw it
  if (n) *n = size;
  return tag == 0 ? State::kAnnounced : State::kQuarantined;
}
bool usable(State s) { return s == State::kAnnounced || s == State::kPreVg; }

void set_tag(void *p, std::uintptr_t freed) {
  std::uintptr_t *t = trailer(p, heap_usable(p));
  os::vg::defined(t, kTrailer);
  t[1] = reinterpret_cast<std::uintptr_t>(p) ^ kTagKey ^ freed;
  os::vg::noaccess(t, kTrailer);
}

// Hand p (a heap block of at least n + kExtra bytes) to the program as an n-byte block.
void *announce(void *p, std::size_t n, bool zeroed) {
  if (!p) return nullptr;
  const std::size_t u = heap_usable(p);
  os::vg::malloclike(p, n, zeroed);
  std::uintptr_t *t = trailer(p, u);
  os::vg::defined(t, kTrailer);
  t[0] = n;
  t[1] = reinterpret_cast<std::uintptr_t>(p) ^ kTagKey;
  os::vg::noaccess(static_cast<char *>(p) + n, u - n);   // guard and trailer
  return p;
}

// Freed blocks wait here (FIFO, bounded in blocks and bytes) before lfh reuses their memory, as
// in memcheck's own allocator (--freelist-vol): a read through a stale pointer finds the block
// still no-access, and memcheck names the free that made it so.
constexpr unsigned kQuarantineBlocks = 8192;
constexpr std::size_t kQuarantineBytes = std::size_t(32) << 20;
struct Quarantine {
  os::Mutex lock;
  void *ring[kQuarantineBlocks];
  std::size_t size[kQuarantineBlocks];
  unsigned head, count;
  std::size_t bytes;
};
constinit Quarantine g_q{};

void quarantine(void *p, std::size_t n) {
  void *out[8];
  unsigned k = 0;
  {
    os::LockGuard g(g_q.lock);
    g_q.ring[(g_q.head + g_q.count) % kQuarantineBlocks] = p;
    g_q.size[(g_q.head + g_q.count) % kQuarantineBlocks] = n;
    ++g_q.count;
    g_q.bytes += n;
    while (k < 8 && (g_q.count == kQuarantineBlocks || g_q.bytes > kQuarantineBytes)) {
      out[k++] = g_q.ring[g_q.head];
      g_q.ring[g_q.head] = nullptr;   // no stale copy: memcheck's leak check would follow it
      g_q.bytes -= g_q.size[g_q.head];
      g_q.head = (g_q.head + 1) % kQuarantineBlocks;
      --g_q.count;
    }
  }
  Quiet q;
  for (unsigned i = 0; i < k; ++i) lfh::free_block(out[i]);
}

void fork_prepare() { g_q.lock.lock(); }
void fork_parent() { g_q.lock.unlock(); }
void fork_child() { g_q.lock.reset_after_fork(); }

// Give a block back (state kAnnounced or kPreVg): memcheck first (it makes the block no-access),
// then the quarantine; a block memcheck never saw goes straight back to lfh.
void release(void *p, State st, std::size_t n) {
  if (st != State::kAnnounced) {
    Quiet q;
    lfh::free_block(p);
    return;
  }
  os::vg::freelike(p);
  set_tag(p, 1);
  quarantine(p, n);
}

}  // namespace

bool init() {
  if (!os::vg::memcheck()) return false;
  os::at_fork(fork_prepare, fork_parent, fork_child);
  g_on = true;
  return true;
}

void *alloc(Heap &h, std::size_t align, std::size_t n, bool zero) {
  std::size_t a;
  if (n > std::size_t(PTRDIFF_MAX) || __builtin_add_overflow(n, kExtra, &a)) return nullptr;
  void *p;
  {
    Quiet q;
    p = align > 8 ? h.alloc_aligned(align, a) : (zero ? h.alloc_zeroed(a) : h.alloc(a));
    if (p && zero && align > 8) std::memset(p, 0, n);
  }
  return announce(p, n, zero);
}

void free(void *p) {
  std::size_t n = 0;
  const State st = classify(p, &n);
  if (!usable(st)) {
    os::vg::freelike(p);   // memcheck reports the invalid or double free; lfh leaves it alone
    return;
  }
  release(p, st, n);
}

void *realloc(void *p, std::size_t n) {
  std::size_t old = 0;
  const State st = classify(p, &old);
  if (!usable(st)) {
    os::vg::freelike(p);
    return nullptr;
  }
  if (st == State::kPreVg) old = heap_usable(p);
  Heap *h = heap_of(p);
  void *q = alloc(h ? *h : process_heap(), 0, n, false);
  if (!q) return nullptr;   // the old block stays as it was
  std::memcpy(q, p, old < n ? old : n);   // the program's bytes, definedness and all
  release(p, st, old);
  return q;
}

std::size_t usable_size(const void *p) {
  std::size_t n = 0;
  const State st = classify(p, &n);
  return st == State::kAnnounced ? n : st == State::kPreVg ? heap_usable(p) : 0;
}

Heap *owner_heap(const void *p) { return usable(classify(p)) ? heap_of(p) : nullptr; }
bool owns(const void *p) { return usable(classify(p)); }

void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero) {
  std::size_t old = 0;
  const State st = classify(p, &old);
  if (!usable(st) || heap_of(p) != &h) {
    os::vg::freelike(p);
    errno = EINVAL;
    return nullptr;
  }
  if (n == 0) {
    release(p, st, old);
    return nullptr;
  }
  if (st == State::kPreVg) old = heap_usable(p);
  if (in_place_only) {   // only when the block already has room
    const std::size_t u = heap_usable(p);
    if (st != State::kAnnounced || n > std::size_t(PTRDIFF_MAX) || n + kExtra > u) {
      errno = ENOMEM;
      return nullptr;
    }
    os::vg::resized(p, old, n);
    if (zero && n > old) std::memset(static_cast<char *>(p) + old, 0, n - old);
    std::uintptr_t *t = trailer(p, u);
    os::vg::defined(t, kTrailer);
    t[0] = n;
    os::vg::noaccess(static_cast<char *>(p) + n, u - n);
    return p;
  }
  void *q = alloc(h, 0, n, false);
  if (!q) {
    errno = ENOMEM;
    return nullptr;
  }
  std::memcpy(q, p, old < n ? old : n);
  if (zero && n > old) std::memset(static_cast<char *>(q) + old, 0, n - old);
  release(p, st, old);
  return q;
}

bool heap_free(Heap &h, void *p) {
  if (usable(classify(p)) && heap_of(p) != &h) return false;   // another heap's: the caller reports
  free(p);
  return true;
}

std::size_t heap_size(Heap &h, const void *p) {
  std::size_t n = 0;
  const State st = classify(p, &n);
  if (!usable(st) || heap_of(p) != &h) return ~std::size_t(0);
  return st == State::kAnnounced ? n : heap_usable(p);
}

bool heap_owns(Heap &h, const void *p) { return usable(classify(p)) && heap_of(p) == &h; }

// lfh_heap_destroy frees every block at once: tell memcheck about each one still live, and take
// the heap's blocks out of the quarantine (their memory goes with the heap).
void heap_destroy(Heap &h) {
  {
    os::LockGuard g(g_q.lock);
    Quiet q;
    unsigned kept = 0;
    for (unsigned i = 0; i < g_q.count; ++i) {
      const unsigned from = (g_q.head + i) % kQuarantineBlocks;
      if (lfh::owner_heap(g_q.ring[from]) == &h) {
        g_q.bytes -= g_q.size[from];
        continue;
      }
      const unsigned to = (g_q.head + kept++) % kQuarantineBlocks;
      g_q.ring[to] = g_q.ring[from];
      g_q.size[to] = g_q.size[from];
    }
    for (unsigned i = kept; i < g_q.count; ++i) g_q.ring[(g_q.head + i) % kQuarantineBlocks] = nullptr;
    g_q.count = kept;
  }
  Quiet q;
  h.walk([](const Heap::WalkEntry &e, void *) {
    if (e.in_use && classify(e.address) == State::kAnnounced) os::vg::freelike(e.address);
    return 1;
  }, nullptr);
}

bool validate_all() {
  Quiet q;
  return for_each_heap([](Heap &h, void *) { return h.validate(); }, nullptr);
}

}  // namespace lfh::debug::vg
