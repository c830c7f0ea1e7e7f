// debug/checked.cpp — checked blocks (see checked.h).
#include "debug/checked.h"

#include <bit>
#include <cstring>

#include "base/bits.h"
#include "base/format.h"
#include "debug/config.h"
#include "debug/patterns.h"
#include "debug/quarantine.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "heap/runtime.h"
#include "lfh/free_link.h"
#include "os/os.h"
#include "os/signals.h"

namespace lfh::debug {
namespace {

constinit std::uint64_t g_secret = 0;

// Blocks above this are not kept in the free queue (they go straight back to the heap).
constexpr std::size_t kMaxQuarantined = std::size_t(1) << 20;

// Flags in meta bits 16..23.
enum : std::uint32_t { kFlagFilled = 1, kFlagReported = 2, kFlagFreeCheck = 4 };

// The distance from a block's base to its user bytes: 48 (code 0) or a power of two ≥ 64.
inline std::uint32_t off_code(std::size_t off) { return off == kHeaderBytes ? 0 : std::uint32_t(std::bit_width(off) - 1); }
inline std::size_t off_decode(std::uint32_t code) { return code == 0 ? kHeaderBytes : std::size_t(1) << code; }
inline std::size_t off_of(std::uint32_t meta) { return off_decode(meta & 0xff); }
inline std::size_t orig_off_of(std::uint32_t meta) { return off_decode((meta >> 8) & 0xff); }
inline std::uint32_t flags_of(std::uint32_t meta) { return (meta >> 16) & 0xff; }

std::uint64_t seal(const CheckedHeader *h, bool freed) {
  std::uint64_t x = addr(h) ^ (h->size * 0x9e3779b97f4a7c15ull) ^ ((std::uint64_t(h->meta) << 32) | h->extent) ^ g_secret;
  if (freed) x ^= 0x5ee5f4eed0b10c4full;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 32;
  return x | 1;   // never zero: a zeroed header is never sealed
}

// The first word of a live (or freshly freed) header at the start of an LFH block must not read
// as a free-list link (lfh/free_link.h): make it decode to 1, which no link is.
inline std::uint64_t live_link(const void *at) { return 1 ^ g_link_key ^ addr(at); }

LineBuf &bytes_word(LineBuf &l, std::uint64_t n) { return l.dec(n).str(n == 1 ? " byte" : " bytes"); }

BlockInfo info_of(const CheckedHeader *h, const void *user, bool freed) {
  BlockInfo i;
  i.user = user;
  i.size = std::size_t(h->size);
  i.alloc_stack = h->alloc_stack;
  i.free_stack = h->free_stack;
  i.alloc_tid = h->alloc_tid;
  i.free_tid = h->free_tid;
  i.freed = freed;
  return i;
}

// Check a live checked block's gap and tail. False after a report.
bool check_live(CheckedHeader *h, const char *suffix, const void *entry_cfa, bool print_only) {
  // The seal as this check began: heap validation reads blocks that other threads own, and one
  // of them may be freeing this block meanwhile (free takes the seal first, then fills).
  const std::uint64_t sealed = __atomic_load_n(&h->check, __ATOMIC_ACQUIRE);
  if (sealed != seal(h, false)) return true;   // no longer a live block: nothing to judge
  if (flags_of(h->meta) & kFlagReported) return false;
  const unsigned char *user = reinterpret_cast<const unsigned char *>(h) + kHeaderBytes;
  const std::size_t off = off_of(h->meta);
  const unsigned char *base = user - off;
  const unsigned char *end = user + h->size;
  const unsigned char *bad;
  LineBuf what, extra;
  ErrorKind kind;
  if ((bad = first_mismatch(end, h->extent, kTailFill)) != nullptr) {
    kind = ErrorKind::kBufferOverrun;
    what.str("of block ").ptr(user).str(" (size ").dec(h->size).str("): tail byte at offset ").dec(std::uint64_t(bad - user));
    what.str(" (");
    bytes_word(what, std::uint64_t(bad - end) + 1).str(" past the end) changed").str(suffix).chr('\n');
    extra.str("lfh:   bytes from there:");
    hex_bytes(extra, bad, end + h->extent);
    extra.str(" (expected ab)\n");
  } else if (off > kHeaderBytes && (bad = first_mismatch(base, off - kHeaderBytes, kTailFill)) != nullptr) {
    kind = ErrorKind::kBufferUnderrun;
    what.str("of block ").ptr(user).str(" (size ").dec(h->size).str("): byte at offset -").dec(std::uint64_t(user - bad)).str(" (");
    bytes_word(what, std::uint64_t(user - bad)).str(" before the start) changed").str(suffix).chr('\n');
    extra.str("lfh:   bytes from there:");
    hex_bytes(extra, bad, user - kHeaderBytes);
    extra.str(" (expected ab)\n");
  } else {
    return true;
  }
  // A mismatch seen while the block changed hands is no evidence: the owner freed it (the seal
  // is gone) or freed and reallocated it (a new seal, unless size and layout are the same, and
  // then the tail was rewritten with the same bytes). Only a block still sealed as it was is
  // reported.
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(&h->check, __ATOMIC_ACQUIRE) != sealed) return true;
  BlockInfo bi = info_of(h, user, false);
  // Report it once: mark it (resealed), and the program keeps it (leaked) if it goes on.
  h->meta |= kFlagReported << 16;
  h->check = seal(h, false);
  if (print_only) print_report(kind, what, &extra, &bi, nullptr, 0);
  else report_error(kind, what, &extra, &bi, entry_cfa);
  return false;
}

const void *q_minus(const void *p, std::size_t n) { return static_cast<const char *>(p) - n; }

void report_simple(ErrorKind kind, const LineBuf &what, const LineBuf *extra, const BlockInfo *bi, const void *entry_cfa) {
  report_error(kind, what, extra, bi, entry_cfa);
}

}  // namespace

void checked_init() {
  std::uint64_t s = 0;
  os::random_bytes(&s, sizeof s);
  g_secret = s | 1;
}

void *checked_alloc(Heap &h, std::size_t n, std::size_t align, bool zero, unsigned flags, const void *entry_cfa) {
  const std::size_t a = align > 16 ? align : 16;
  const std::size_t off = align_up(kHeaderBytes, a);
  std::size_t total;
  if (add_overflows(n, off + 16, &total) || total > (std::size_t(1) << 46)) return nullptr;
  char *base = static_cast<char *>(h.alloc_aligned(a, total));
  if (!base) return nullptr;
  std::size_t usable = lfh::usable_size(base);
  if (usable < total) usable = total;
  char *user = base + off;
  auto *hd = reinterpret_cast<CheckedHeader *>(user - kHeaderBytes);
  if (off > kHeaderBytes) std::memset(base, kTailFill, off - kHeaderBytes);
  std::size_t tail = usable - off - n;
  if (tail > 4096 + 16 && usable > lfh_buckets::kMaxSize) tail = 4096 + 16;   // big blocks: a page of tail is plenty
  void *frames[kMaxFrames];
  int nf = capture_stack(frames, int(g_cfg.backtrace), entry_cfa);
  hd->link = live_link(hd);
  hd->alloc_stack = depot_put(frames, nf);
  hd->free_stack = 0;
  hd->alloc_tid = self_tid();
  hd->free_tid = 0;
  hd->size = n;
  hd->meta = off_code(off) | (off_code(off) << 8) |
             ((flags & kCheckFree) ? std::uint32_t(kFlagFreeCheck) << 16 : 0u);
  hd->extent = std::uint32_t(tail);
  if (zero) std::memset(user, 0, n);
  else if (flags & kFillAlloc) std::memset(user, kAllocFill, n);
  std::memset(user + n, kTailFill, tail);
  // The seal goes last, with release: a validation running on another thread (checked_validate)
  // that sees it sealed also sees its gap and tail written.
  __atomic_store_n(&hd->check, seal(hd, false), __ATOMIC_RELEASE);
  return user;
}

void *plain_alloc(Heap &h, std::size_t n, std::size_t align, bool zero) {
  if (align > 8) {
    void *p = h.alloc_aligned(align, n);
    if (p && zero) std::memset(p, 0, n);
    return p;
  }
  return zero ? h.alloc_zeroed(n) : h.alloc(n);
}

Found checked_find(const void *p, vm::OwnerHeader *o) {
  Found f;
  const std::uintptr_t a = addr(p);
  if (!o || (a & 15) != 0) return f;
  switch (o->kind) {
    case vm::OwnerKind::kLfhSubsegment: {
      const auto *s = reinterpret_cast<const Subsegment *>(o);
      if (a < addr(s->first) + kHeaderBytes || a >= addr(s->end())) return f;
      break;
    }
    case vm::OwnerKind::kDirectBlock: {
      const auto *d = reinterpret_cast<const DirectBlock *>(o);
      if (a < addr(d->base) + kHeaderBytes || a >= addr(d->base) + d->committed) return f;
      break;
    }
    case vm::OwnerKind::kPageHeapBlock: return f;
    default: {
      // Another tier (the core heap): only read where the heap vouches for a block around p.
      bool ok = false;
      for (std::size_t off = kHeaderBytes; off <= (std::size_t(1) << 20) && !ok; off = off == kHeaderBytes ? 64 : off * 2)
        ok = a > off && lfh::usable_size(ptr(a - off)) >= off;
      if (!ok) return f;
      break;
    }
  }
  auto *h = reinterpret_cast<CheckedHeader *>(a - kHeaderBytes);
  const std::uint64_t c = h->check;
  if (c == seal(h, false)) f.h = h;
  else if (c == seal(h, true)) {
    f.h = h;
    f.freed = true;
  }
  return f;
}

std::size_t checked_size(const CheckedHeader *h) { return std::size_t(h->size); }

void checked_free(CheckedHeader *h, void *p, const void *entry_cfa) {
  if (!check_live(h, " (found at free)", entry_cfa, false)) return;   // reported (and kept)
  const std::size_t n = std::size_t(h->size);
  const std::size_t off = off_of(h->meta);
  char *user = static_cast<char *>(p);
  char *base = user - off;
  void *frames[kMaxFrames];
  int nf = capture_stack(frames, int(g_cfg.backtrace), entry_cfa);
  const std::uint32_t free_stack = depot_put(frames, nf);
  const std::uint32_t alloc_stack = h->alloc_stack, alloc_tid = h->alloc_tid;
  const std::uint32_t meta = h->meta;
  const std::size_t usable = lfh::usable_size(base);
  // Claim the block: of two threads freeing it at once, one wins and the other reports.
  std::uint64_t sealed = seal(h, false);
  if (!__atomic_compare_exchange_n(&h->check, &sealed, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    LineBuf what;
    what.str("of ").ptr(p).str(" (passed to free): the block was freed by another thread at the same time\n");
    BlockInfo bi = info_of(h, p, true);
    report_simple(ErrorKind::kDoubleFree, what, nullptr, &bi, entry_cfa);
    return;
  }
  if (!(flags_of(meta) & kFlagFreeCheck) || usable > kMaxQuarantined || usable < off + n) {
    // No free checking (or a block too big to keep): straight back to the heap, which judges
    // any later free of the pointer itself. A direct block's region is its own (nothing else is
    // ever laid out over it): an unfilled freed header there lets a second free be named.
    const vm::OwnerHeader *o = vm::pagemap_lookup(base);
    if (o && o->kind == vm::OwnerKind::kDirectBlock) {
      auto *f = reinterpret_cast<CheckedHeader *>(base);
      f->link = 0;
      f->alloc_stack = alloc_stack;
      f->free_stack = free_stack;
      f->alloc_tid = alloc_tid;
      f->free_tid = self_tid();
      f->size = n;
      f->meta = off_code(kHeaderBytes) | ((meta & 0xff) << 8);
      f->extent = 0;
      f->check = seal(f, true);
    }
    lfh::free_block(base);
    return;
  }
  std::memset(base + kHeaderBytes, kFreeFill, usable - kHeaderBytes);
  auto *f = reinterpret_cast<CheckedHeader *>(base);
  f->link = 0;
  f->alloc_stack = alloc_stack;
  f->free_stack = free_stack;
  f->alloc_tid = alloc_tid;
  f->free_tid = self_tid();
  f->size = n;
  f->meta = off_code(kHeaderBytes) | ((meta & 0xff) << 8) | (std::uint32_t(kFlagFilled) << 16);
  f->extent = std::uint32_t(usable - kHeaderBytes);
  f->check = seal(f, true);
  quarantine_push(base, usable, entry_cfa);
}

bool checked_verify_freed(void *base, const void *entry_cfa, bool print_only) {
  auto *f = static_cast<CheckedHeader *>(base);
  if (flags_of(f->meta) & kFlagReported) return false;
  const std::size_t usable = lfh::usable_size(base);
  LineBuf what, extra;
  const unsigned char *from = static_cast<const unsigned char *>(base) + kHeaderBytes;
  const unsigned char *end = static_cast<const unsigned char *>(base) + usable;
  if (f->check != seal(f, true) || f->extent != usable - kHeaderBytes) {
    what.str("of ").ptr(from).str(": the header of a freed block (kept by free checking) was overwritten\n");
    if (print_only) print_report(ErrorKind::kHeapCorruption, what, nullptr, nullptr, nullptr, 0);
    else report_error(ErrorKind::kHeapCorruption, what, nullptr, nullptr, entry_cfa);
    return false;
  }
  const unsigned char *bad = first_mismatch(from, usable - kHeaderBytes, kFreeFill);
  if (!bad) return true;
  const unsigned char *user = static_cast<const unsigned char *>(base) + orig_off_of(f->meta);
  what.str("of block ").ptr(user).str(" (size ").dec(f->size).str("): byte at offset ").sdec(bad - user);
  what.str(" changed after the block was freed (found ").str(print_only ? "by heap validation" : "when it left the free queue").str(")\n");
  extra.str("lfh:   bytes from there:");
  hex_bytes(extra, bad, end);
  extra.str(" (expected f0)\n");
  BlockInfo bi = info_of(f, user, true);
  f->meta |= kFlagReported << 16;   // report it once
  f->check = seal(f, true);
  if (print_only) print_report(ErrorKind::kWriteAfterFree, what, &extra, &bi, nullptr, 0);
  else report_error(ErrorKind::kWriteAfterFree, what, &extra, &bi, entry_cfa);
  return false;
}

void checked_release(void *base) {
  static_cast<CheckedHeader *>(base)->check = 0;
  lfh::free_block(base);
}

bool checked_classify_plain(void *p, vm::OwnerHeader *o, Found found, const void *entry_cfa, const char *op) {
  const bool is_free = op[0] == 'f';
  LineBuf what, extra;
  if (found.h && found.freed) {
    const CheckedHeader *fh = found.h;
    const char *user = reinterpret_cast<const char *>(fh) + orig_off_of(fh->meta);
    BlockInfo bi = info_of(fh, user, true);
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): block of size ").dec(fh->size).str(" was already freed\n");
    report_simple(is_free ? ErrorKind::kDoubleFree : ErrorKind::kUseAfterFree, what, nullptr, &bi, entry_cfa);
    return false;
  }
  if (!o) {
    if (recently_released_direct(p) || (g_cfg.checked_blocks() && recently_released_direct(q_minus(p, kHeaderBytes)))) {
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): large block already freed (its region is gone)\n");
      report_simple(is_free ? ErrorKind::kDoubleFree : ErrorKind::kUseAfterFree, what, nullptr, nullptr, entry_cfa);
    } else {
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not a block lfh handed out (a stack, static or foreign address?)\n");
      report_simple(ErrorKind::kInvalidFree, what, nullptr, nullptr, entry_cfa);
    }
    return false;
  }
  char *base = nullptr;
  std::size_t block = 0;
  const char *q = static_cast<const char *>(p);
  if (o->kind == vm::OwnerKind::kLfhSubsegment) {
    auto *s = reinterpret_cast<Subsegment *>(o);
    if (q < s->first || q >= s->end()) {
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not a block (inside a subsegment's header)\n");
      report_simple(ErrorKind::kInvalidFree, what, nullptr, nullptr, entry_cfa);
      return false;
    }
    std::size_t idx = std::size_t(q - s->first) / s->block_size;
    base = s->first + idx * s->block_size;
    block = s->block_size;
    if (base == q) {
      if (idx >= s->bump.load(std::memory_order_acquire)) {
        what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not a block lfh handed out\n");
        report_simple(ErrorKind::kInvalidFree, what, nullptr, nullptr, entry_cfa);
        return false;
      }
      if (lfh_block_is_free(s, p)) {
        what.str("of ").ptr(p).str(" (passed to ").str(op).str("): block of size ").dec(block).str(" is already free\n");
        report_simple(is_free ? ErrorKind::kDoubleFree : ErrorKind::kUseAfterFree, what, nullptr, nullptr, entry_cfa);
        return false;
      }
      return true;   // a plain live block
    }
  } else if (o->kind == vm::OwnerKind::kDirectBlock) {
    auto *d = reinterpret_cast<DirectBlock *>(o);
    if (d->base == q) return true;
    base = d->base;
    block = d->committed;
    if (q >= base + block) {
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): past the end of a large block\n");
      report_simple(ErrorKind::kInvalidFree, what, nullptr, nullptr, entry_cfa);
      return false;
    }
  } else {
    return true;   // the core heap judges its own pointers (it reports what is wrong)
  }
  // p is inside a heap block, not at its start. A free LFH block: the pointer was freed before
  // (the block went back to the heap; nothing is known about it any more).
  if (o->kind == vm::OwnerKind::kLfhSubsegment && lfh_block_is_free(reinterpret_cast<Subsegment *>(o), base)) {
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): it lies in a free heap block of ").dec(block);
    what.str(" bytes: freed before\n");
    report_simple(is_free ? ErrorKind::kDoubleFree : ErrorKind::kUseAfterFree, what, nullptr, nullptr, entry_cfa);
    return false;
  }
  // Name the block if it is a checked one.
  if (block >= 64) {
    auto *hd = reinterpret_cast<CheckedHeader *>(base);
    const std::uint64_t c = hd->check;
    const bool live = c == seal(hd, false), freed = !live && c == seal(hd, true);
    if (live || freed) {
      const char *user = base + (live ? kHeaderBytes : orig_off_of(hd->meta));
      BlockInfo bi = info_of(hd, user, freed);
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not the start of a block: ");
      if (q >= user) bytes_word(what, std::uint64_t(q - user)).str(" into ");
      else bytes_word(what, std::uint64_t(user - q)).str(" before ");
      what.str(freed ? "freed block " : "block ").ptr(user).str(" (size ").dec(hd->size).str(")\n");
      if (q - user == 8 || q - user == 16)
        extra.str("lfh:   (a pointer just past an array cookie: delete of a new[] pointer, or free of one?)\n");
      report_simple(ErrorKind::kInvalidFree, what, extra.size() ? &extra : nullptr, &bi, entry_cfa);
      return false;
    }
    if (q - base == std::ptrdiff_t(kHeaderBytes) && g_cfg.checked_blocks()) {
      what.str("of ").ptr(p).str(" (passed to ").str(op).str("): the header before the block was overwritten");
      // An underrun of a few bytes reaches the seal (the header's last word) first: the size
      // field before it may well be intact.
      if (hd->size + kHeaderBytes + 16 <= block) what.str(" (block size ").dec(hd->size).str(", if that field survived)");
      what.str(": an underrun of it, or a stray write\n");
      report_simple(ErrorKind::kHeapCorruption, what, nullptr, nullptr, entry_cfa);
      return false;
    }
  }
  what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not the start of a block: ");
  bytes_word(what, std::uint64_t(q - base)).str(" into a heap block of ").dec(block).str(" bytes\n");
  report_simple(ErrorKind::kInvalidFree, what, nullptr, nullptr, entry_cfa);
  return false;
}

bool checked_validate(bool with_queue) {
  struct Ctx {
    bool ok = true;
  } ctx;
  for_each_heap(
      [](Heap &h, void *arg) {
        auto *c = static_cast<Ctx *>(arg);
        h.walk(
            [](const Heap::WalkEntry &e, void *a) -> int {
              auto *cx = static_cast<Ctx *>(a);
              if (e.size < 64) return 1;
              char *base = static_cast<char *>(e.address);
              auto *hd = reinterpret_cast<CheckedHeader *>(base);
              std::uint64_t c = __atomic_load_n(&hd->check, __ATOMIC_ACQUIRE);
              if (c == seal(hd, false)) {
                if (flags_of(hd->meta) & kFlagReported) return 1;   // reported before: once is enough
                if (!check_live(hd, " (found by heap validation)", nullptr, true)) cx->ok = false;
              } else if (c == seal(hd, true)) {
                return 1;   // in the free queue: quarantine_validate() checks it
              } else {
                // A block aligned beyond 16 bytes: its gap starts with the tail pattern.
                std::uint64_t w;
                std::memcpy(&w, base, 8);
                if (w != 0xababababababababull) return 1;
                for (std::size_t off = 64; off <= e.size && off <= 4096; off *= 2) {
                  auto *h2 = reinterpret_cast<CheckedHeader *>(base + off - kHeaderBytes);
                  if (h2->check == seal(h2, false) && off_of(h2->meta) == off) {
                    if (flags_of(h2->meta) & kFlagReported) break;
                    if (!check_live(h2, " (found by heap validation)", nullptr, true)) cx->ok = false;
                    break;
                  }
                }
              }
              return cx->ok ? 1 : 0;
            },
            c);
        return c->ok;
      },
      &ctx);
  return ctx.ok && (!with_queue || quarantine_validate());
}

}  // namespace lfh::debug
