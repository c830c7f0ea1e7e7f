// debug/page_heap.cpp — the full page heap (see page_heap.h for the layout).
#include "debug/page_heap.h"

#include <cstring>

#include "base/bits.h"
#include "base/format.h"
#include "debug/config.h"
#include "debug/patterns.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "os/mutex.h"
#include "os/os.h"
#include "os/signals.h"
#include "vm/meta_pool.h"
#include "vm/vm.h"

namespace lfh::debug {
namespace {

constexpr std::size_t kPage = os::kPageSize;
constexpr std::size_t kGran = os::kGranularity;
constexpr std::uint32_t kMaxCachedGranules = 16;
constexpr std::size_t kChunk = std::size_t(64) << 20;   // runs are carved from reservations this big

constinit vm::MetaPool g_pool(sizeof(PageBlock));
constinit os::Mutex g_lock;   // every list and counter below
constinit PageBlock *g_live = nullptr;
constinit PageBlock *g_fifo_head = nullptr;
constinit PageBlock *g_fifo_tail = nullptr;
// Cached runs: those still holding the pages of a block of `p` pages, at the place a block of p
// pages gets them (reused with one mprotect), by p; and those holding none, by granule count.
constexpr std::uint32_t kMaxHeldPages = kMaxCachedGranules * (kGran / kPage) - 1;
constinit PageBlock *g_held[kMaxHeldPages + 1] = {};
constinit PageBlock *g_bare[kMaxCachedGranules + 1] = {};
constinit char *g_bump = nullptr;
constinit char *g_bump_end = nullptr;
constinit std::uint64_t g_live_blocks = 0, g_live_bytes = 0, g_fifo_blocks = 0, g_fifo_bytes = 0;
constinit std::uint64_t g_cached = 0, g_fallbacks = 0, g_total = 0;
constinit std::uint64_t g_cached_held = 0;                 // bytes of pages cached runs hold
// Pages cached runs may keep for reuse: half the free delay, at most 32 MB (so all freed pages
// held stay within 1.5 × LFH_PAGEHEAP_FREE_DELAY).
constinit std::uint64_t g_cache_held_budget = std::uint64_t(32) << 20;
constinit std::uint64_t g_budget = 30000;   // live guarded blocks (from vm.max_map_count)
constinit bool g_budget_warned = false;

void push(PageBlock *&head, PageBlock *b) {
  b->prev = nullptr;
  b->next = head;
  if (head) head->prev = b;
  head = b;
}

void unlink(PageBlock *&head, PageBlock *b) {
  if (b->prev) b->prev->next = b->next;
  else head = b->next;
  if (b->next) b->next->prev = b->prev;
  b->prev = b->next = nullptr;
}

std::size_t run_bytes(const PageBlock *b) { return std::size_t(b->granules) * kGran; }
char *data_end(const PageBlock *b) { return b->data + b->data_bytes; }

void warn_budget() {
  if (g_budget_warned) return;
  g_budget_warned = true;
  LineBuf l;
  l.str("lfh: page heap: ").dec(g_budget).str(
      " blocks guarded at once (two mappings each; vm.max_map_count allows no more); further blocks get ");
  l.str(g_cfg.checked_blocks() ? "tail checks" : "no guard").str(" until some are freed\n");
  os::write_all(2, l.data(), l.size());
}

// Where a block of `pages` pages (alignment ≤ a page) has its pages in a run of `granules`.
char *canonical_data(char *run, std::uint32_t granules, std::size_t pages) {
  return g_cfg.underrun ? run + kPage : run + std::size_t(granules) * kGran - kPage - pages * kPage;
}

// A cached run of `granules`, preferring one that holds the pages of a `pages`-page block.
// Called under the lock.
PageBlock *take_cached(std::uint32_t granules, std::size_t pages) {
  if (pages && pages <= kMaxHeldPages)
    if (PageBlock *b = g_held[pages]; b && b->granules == granules) {
      unlink(g_held[pages], b);
      return b;
    }
  if (PageBlock *b = g_bare[granules]) {
    unlink(g_bare[granules], b);
    return b;
  }
  // A run of the right size holding other pages (they are dropped and committed anew).
  for (std::size_t p = (granules - 1) * (kGran / kPage); p < granules * (kGran / kPage) && p <= kMaxHeldPages; ++p)
    if (PageBlock *b = p ? g_held[p] : nullptr; b && b->granules == granules) {
      unlink(g_held[p], b);
      return b;
    }
  return nullptr;
}

// A run of `granules` for a new block of `pages` pages (0: not a page-aligned layout), with its
// descriptor; nullptr when the map-count budget or the address space is exhausted.
PageBlock *take_run(std::uint32_t granules, std::size_t run_align, std::size_t pages) {
  const bool cacheable = run_align <= kGran && granules <= kMaxCachedGranules;
  const std::size_t bytes = std::size_t(granules) * kGran;
  char *run = nullptr;
  {
    os::LockGuard g(g_lock);
    if (g_live_blocks >= g_budget) {
      ++g_fallbacks;
      warn_budget();
      return nullptr;
    }
    if (cacheable) {
      if (PageBlock *b = take_cached(granules, pages)) {
        --g_cached;
        g_cached_held -= b->held_bytes;
        return b;
      }
      if (!g_bump || bytes > std::size_t(g_bump_end - g_bump)) {
        char *c = static_cast<char *>(vm::reserve(kChunk));
        if (!c) return nullptr;
        g_bump = c;
        g_bump_end = c + kChunk;
      }
      run = g_bump;
      g_bump += bytes;
    }
  }
  if (!run) {
    run = static_cast<char *>(vm::reserve(bytes, run_align));
    if (!run) return nullptr;
  }
  auto *b = static_cast<PageBlock *>(g_pool.alloc());
  if (b && !vm::pagemap_set(run, bytes, b)) {
    g_pool.free(b);
    b = nullptr;
  }
  if (!b) {
    if (!cacheable) vm::release(run, bytes);   // a chunk's granules are simply not used again
    return nullptr;
  }
  b->hdr.kind = vm::OwnerKind::kPageHeapBlock;
  b->run = run;
  b->granules = granules;
  b->cacheable = cacheable;
  return b;
}

// A run whose block is gone (FIFO exit, failed commit, heap destroy): cache it or release it.
// Its pages are decommitted already. Called without the lock.
void recycle(PageBlock *b) {
  if (b->poisoned) return;   // a fault was let through on it: keep its pages out of circulation
  if (b->cacheable) {
    const std::size_t pages = b->held_bytes / kPage;
    // Pages are kept only where the next block of that many pages would have them.
    bool keep = pages && pages <= kMaxHeldPages && b->held == canonical_data(b->run, b->granules, pages);
    if (keep) {
      os::LockGuard g(g_lock);
      keep = g_cached_held + b->held_bytes <= g_cache_held_budget;
      if (keep) g_cached_held += b->held_bytes;
    }
    if (!keep && b->held_bytes) {
      vm::decommit(b->held, b->held_bytes);
      b->held_bytes = 0;
    }
    os::LockGuard g(g_lock);
    b->state = kPhCached;   // keeps its stacks: a stale access still names the last block
    if (b->held_bytes) push(g_held[pages], b);
    else push(g_bare[b->granules], b);
    ++g_cached;
    return;
  }
  vm::pagemap_clear(b->run, run_bytes(b));
  vm::release_committed(b->run, run_bytes(b), b->held_bytes);
  g_pool.free(b);
}

// Give block b the pages [data, data + bytes), accessible. Reuses the pages the run holds when
// they are exactly those (one mprotect); otherwise drops them and commits anew.
bool take_pages(PageBlock *b, char *data, std::size_t bytes) {
  if (b->held_bytes && b->held == data && b->held_bytes == bytes) {
    if (os::protect(data, bytes, true, true)) return true;
  }
  if (b->held_bytes) {
    vm::decommit(b->held, b->held_bytes);
    b->held_bytes = 0;
  }
  if (!vm::commit(data, bytes)) return false;
  b->held = data;
  b->held_bytes = bytes;
  return true;
}

BlockInfo info_of(const PageBlock *b) {
  BlockInfo i;
  i.user = b->user;
  i.size = b->size;
  i.alloc_stack = b->alloc_stack;
  i.free_stack = b->free_stack;
  i.alloc_tid = b->alloc_tid;
  i.free_tid = b->free_tid;
  i.freed = b->state != kPhLive;
  return i;
}

LineBuf &bytes_word(LineBuf &l, std::uint64_t n) { return l.dec(n).str(n == 1 ? " byte" : " bytes"); }

// Check the slack bytes around a live block. On damage: a report (ending with `suffix`), and
// false. Returns true when intact.
bool check_slack(PageBlock *b, const char *suffix, const void *entry_cfa, bool print_only) {
  const unsigned char *lo = reinterpret_cast<const unsigned char *>(b->data);
  const unsigned char *user = reinterpret_cast<const unsigned char *>(b->user);
  const unsigned char *end = user + b->size;
  const unsigned char *hi = reinterpret_cast<const unsigned char *>(data_end(b));
  ErrorKind kind;
  const unsigned char *bad = first_mismatch(end, std::size_t(hi - end), kTailFill);
  LineBuf what, extra;
  if (bad) {
    kind = ErrorKind::kBufferOverrun;
    what.str("of block ").ptr(b->user).str(" (size ").dec(b->size).str("): slack byte at offset ");
    what.dec(std::uint64_t(bad - user)).str(" (");
    bytes_word(what, std::uint64_t(bad - end) + 1).str(" past the end) changed").str(suffix).chr('\n');
    extra.str("lfh:   bytes from there:");
    hex_bytes(extra, bad, hi);
    extra.str(" (expected ab)\n");
  } else if ((bad = first_mismatch(lo, std::size_t(user - lo), kTailFill)) != nullptr) {
    kind = ErrorKind::kBufferUnderrun;
    what.str("of block ").ptr(b->user).str(" (size ").dec(b->size).str("): byte at offset -").dec(std::uint64_t(user - bad)).str(" (");
    bytes_word(what, std::uint64_t(user - bad)).str(" before the start) changed").str(suffix).chr('\n');
    extra.str("lfh:   bytes from there:");
    hex_bytes(extra, bad, user);
    extra.str(" (expected ab)\n");
  } else {
    return true;
  }
  BlockInfo bi = info_of(b);
  if (print_only) {
    print_report(kind, what, &extra, &bi, nullptr, 0);
  } else {
    report_error(kind, what, &extra, &bi, entry_cfa);
  }
  return false;
}

}  // namespace

bool ph_init() {
  char buf[32];
  std::uint64_t limit = 65530;
  if (os::read_small_file("/proc/sys/vm/max_map_count", buf, sizeof buf) > 0) {
    std::uint64_t v = 0;
    for (const char *p = buf; *p >= '0' && *p <= '9'; ++p) v = v * 10 + std::uint64_t(*p - '0');
    if (v) limit = v;
  }
  g_budget = limit > 8192 ? (limit - 4096) / 2 : limit / 4;
  const std::uint64_t half = g_cfg.free_delay / 2;
  if (half < g_cache_held_budget) g_cache_held_budget = half;
  return true;
}

PhResult ph_alloc(Heap &h, std::size_t n, std::size_t align, bool zero, const void *entry_cfa, void **out) {
  const std::size_t a = align > g_cfg.align ? align : g_cfg.align;
  if (n > (std::size_t(1) << 46) || a > (std::size_t(1) << 30)) return PhResult::kNoMemory;
  std::size_t bytes;
  if (!g_cfg.underrun) {
    std::size_t need = align_up(n, a);
    if (a <= kPage) bytes = align_up(align_up(need ? need : 1, kPage) + kPage, kGran);
    else bytes = align_up(need + kPage + a, kGran);
  } else {
    std::size_t front = a > kPage ? a : kPage;
    std::size_t len = n > kPage ? align_up(n, kPage) : kPage;
    bytes = align_up(front + len, kGran);
  }
  std::size_t pages = 0;   // the block's page count, where its pages sit at the canonical place
  if (a <= kPage) {
    std::size_t len = g_cfg.underrun ? n : align_up(n, a);
    pages = len > kPage ? align_up(len, kPage) / kPage : 1;
  }
  PageBlock *b = take_run(std::uint32_t(bytes / kGran), a > kGran ? a : kGran, pages);
  if (!b) return PhResult::kFallBack;
  char *user, *data;
  std::size_t data_bytes;
  if (!g_cfg.underrun) {
    char *end = b->run + bytes - kPage;
    user = static_cast<char *>(ptr(align_down(addr(end) - n, a)));
    std::uintptr_t d = align_down(addr(user), kPage);
    if (d > addr(end) - kPage) d = addr(end) - kPage;
    data = static_cast<char *>(ptr(d));
    data_bytes = std::size_t(end - data);
  } else {
    user = b->run + (a > kPage ? a : kPage);
    data = user;
    data_bytes = n > kPage ? align_up(n, kPage) : kPage;
  }
  const bool reused = b->held_bytes != 0;
  if (!take_pages(b, data, data_bytes)) {
    recycle(b);
    return PhResult::kNoMemory;
  }
  std::memset(data, kTailFill, std::size_t(user - data));
  std::memset(user + n, kTailFill, std::size_t(data + data_bytes - (user + n)));
  // Fresh pages are zero; pages a run kept from an earlier block are not.
  if (zero) {
    if (reused) std::memset(user, 0, n);
  } else if (g_cfg.alloc_fill) {
    std::memset(user, kAllocFill, n);
  }
  void *frames[kMaxFrames];
  int nf = capture_stack(frames, int(g_cfg.backtrace), entry_cfa);
  b->alloc_stack = depot_put(frames, nf);
  b->free_stack = 0;
  b->alloc_tid = self_tid();
  b->free_tid = 0;
  b->heap = &h;
  b->user = user;
  b->size = n;
  b->data = data;
  b->data_bytes = data_bytes;
  b->poisoned = 0;
  {
    os::LockGuard g(g_lock);
    b->state = kPhLive;
    push(g_live, b);
    ++g_live_blocks;
    g_live_bytes += n;
    ++g_total;
  }
  *out = user;
  return PhResult::kOk;
}

bool ph_check_live(PageBlock *b, const void *p, const void *entry_cfa, const char *op) {
  const std::uint8_t st = __atomic_load_n(&b->state, __ATOMIC_ACQUIRE);
  if (st == kPhLive && p == b->user) return true;
  const bool is_free = op[0] == 'f';
  LineBuf what, extra;
  ErrorKind kind;
  BlockInfo bi = info_of(b);
  const char *u = b->user;
  const char *q = static_cast<const char *>(p);
  if (st == kPhLive || (st == kPhFreed && p != b->user) || (st == kPhCached && p != b->user)) {
    kind = ErrorKind::kInvalidFree;
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not the start of a block: ");
    if (q >= u && q < u + (b->size ? b->size : 1)) {
      bytes_word(what, std::uint64_t(q - u)).str(" into");
    } else if (q < u) {
      bytes_word(what, std::uint64_t(u - q)).str(" before");
    } else {
      bytes_word(what, std::uint64_t(q - u) - b->size).str(" past the end of");
    }
    what.str(st == kPhLive ? " block " : " freed block ").ptr(u).str(" (size ").dec(b->size).str(")\n");
    if (q - u == 8 || q - u == 16)
      extra.str("lfh:   (a pointer just past an array cookie: delete of a new[] pointer, or free of one?)\n");
  } else {
    kind = is_free ? ErrorKind::kDoubleFree : ErrorKind::kUseAfterFree;
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): block of size ").dec(b->size).str(" was already freed");
    if (st == kPhCached) what.str(" (its pages have been reused since)");
    what.chr('\n');
  }
  report_error(kind, what, extra.size() ? &extra : nullptr, &bi, entry_cfa);
  return false;
}

void ph_free(PageBlock *b, void *p, const void *entry_cfa, const char *op) {
  if (!ph_check_live(b, p, entry_cfa, op)) return;
  if (!check_slack(b, " (found at free)", entry_cfa, false)) {
    b->poisoned = 1;   // reported and kept (LFH_ON_ERROR=report|ignore): leak it
    return;
  }
  void *frames[kMaxFrames];
  int nf = capture_stack(frames, int(g_cfg.backtrace), entry_cfa);
  std::uint32_t stack = depot_put(frames, nf);
  {
    os::LockGuard g(g_lock);
    if (b->state != kPhLive) {   // lost a race with another free of the same block
      g_lock.unlock();
      ph_check_live(b, p, entry_cfa, op);
      g_lock.lock();
      return;
    }
    b->state = kPhFreed;
    b->free_stack = stack;
    b->free_tid = self_tid();
    unlink(g_live, b);
    --g_live_blocks;
    g_live_bytes -= b->size;
  }
  os::protect(b->held, b->held_bytes, false, false);   // from here on every access faults
  PageBlock *out = nullptr;
  {
    os::LockGuard g(g_lock);
    b->next = nullptr;
    b->prev = g_fifo_tail;
    if (g_fifo_tail) g_fifo_tail->next = b;
    else g_fifo_head = b;
    g_fifo_tail = b;
    ++g_fifo_blocks;
    g_fifo_bytes += b->data_bytes;
    while (g_fifo_bytes > g_cfg.free_delay && g_fifo_head) {
      PageBlock *o = g_fifo_head;
      g_fifo_head = o->next;
      if (g_fifo_head) g_fifo_head->prev = nullptr;
      else g_fifo_tail = nullptr;
      --g_fifo_blocks;
      g_fifo_bytes -= o->data_bytes;
      o->next = out;
      out = o;
    }
  }
  while (out) {
    PageBlock *o = out;
    out = o->next;
    o->next = o->prev = nullptr;
    recycle(o);
  }
}

bool ph_validate() {
  os::LockGuard g(g_lock);
  for (PageBlock *b = g_live; b; b = b->next) {
    if (b->poisoned) continue;
    if (!check_slack(b, " (found by heap validation)", nullptr, true)) {
      b->poisoned = 1;   // report it once (and never reuse its pages)
      return false;
    }
  }
  return true;
}

void ph_release_heap(Heap &h) {
  PageBlock *mine = nullptr;
  {
    os::LockGuard g(g_lock);
    for (PageBlock *b = g_live, *next; b; b = next) {
      next = b->next;
      if (b->heap != &h) continue;
      unlink(g_live, b);
      --g_live_blocks;
      g_live_bytes -= b->size;
      b->state = kPhFreed;
      b->poisoned = 0;   // the heap is going: its pages are decommitted below like any other
      b->next = mine;
      mine = b;
    }
    for (PageBlock *b = g_fifo_head, *next; b; b = next) {
      next = b->next;
      if (b->heap != &h) continue;
      if (b->prev) b->prev->next = b->next;
      else g_fifo_head = b->next;
      if (b->next) b->next->prev = b->prev;
      else g_fifo_tail = b->prev;
      --g_fifo_blocks;
      g_fifo_bytes -= b->data_bytes;
      b->next = mine;
      mine = b;
    }
  }
  while (mine) {
    PageBlock *b = mine;
    mine = b->next;
    b->next = b->prev = nullptr;
    if (b->held_bytes) vm::decommit(b->held, b->held_bytes);
    b->held_bytes = 0;
    recycle(b);
  }
}

os::FaultAction ph_fault(const os::FaultInfo &fi) {
  vm::OwnerHeader *o = vm::pagemap_lookup(fi.addr);
  if (!o || o->kind != vm::OwnerKind::kPageHeapBlock) return os::FaultAction::kNotMine;
  auto *r = reinterpret_cast<PageBlock *>(o);
  const char *a = static_cast<const char *>(fi.addr);
  // Which block is it about? Past the committed pages of a block: an overrun of it. Before them:
  // an underrun of it, or (overrun layout) an overrun of the block in the run below — whichever
  // block end is nearer.
  PageBlock *b = r;
  const bool r_has_block = r->state != kPhCached;
  if (r_has_block && a >= r->data && a < data_end(r) && r->state == kPhLive)
    return os::FaultAction::kNotMine;   // not a guard page (a block changing state under us)
  if (!r_has_block || a < r->data) {
    vm::OwnerHeader *po = vm::pagemap_lookup(r->run - 1);
    PageBlock *prev = (po && po->kind == vm::OwnerKind::kPageHeapBlock) ? reinterpret_cast<PageBlock *>(po) : nullptr;
    if (prev && prev->state == kPhCached) prev = nullptr;
    if (prev && a < prev->user + prev->size) prev = nullptr;   // cannot be an overrun of it
    if (prev && (!r_has_block || std::uintptr_t(a - (prev->user + prev->size)) < std::uintptr_t(r->user - a))) {
      b = prev;
    } else if (!r_has_block) {
      b = nullptr;
    }
  }
  LineBuf what;
  ErrorKind kind;
  const char *access = fi.access == 2 ? "write" : fi.access == 1 ? "read" : "access";
  if (!b) {
    kind = ErrorKind::kUseAfterFree;
    what.str("at ").ptr(fi.addr).str(" (").str(access).str("): page-heap memory of a block freed and recycled\n");
  } else {
    const char *u = b->user;
    const bool freed = b->state != kPhLive;
    if (freed) kind = ErrorKind::kUseAfterFree;
    else kind = a < u ? ErrorKind::kBufferUnderrun : ErrorKind::kBufferOverrun;
    what.str("at ").ptr(fi.addr).str(" (").str(access).str("): ");
    if (a >= u + b->size) {
      bytes_word(what, std::uint64_t(a - (u + b->size)) + 1).str(" past the end of");
    } else if (a < u) {
      bytes_word(what, std::uint64_t(u - a)).str(" before the start of");
    } else {
      what.str("offset ").dec(std::uint64_t(a - u)).str(" in");
    }
    what.str(freed ? " freed block " : " block ").ptr(u).str(" (size ").dec(b->size).str(")\n");
  }
  void *here[kMaxFrames];
  int n = g_cfg.on_error == OnError::kIgnore ? 0 : capture_from_context(fi.pc, fi.sp, fi.fp, here, 32);
  BlockInfo bi;
  if (b) bi = info_of(b);
  print_report(kind, what, nullptr, b ? &bi : nullptr, here, n, "faulting access", true);
  if (g_cfg.on_error == OnError::kAbort || !b) {
    if (g_cfg.on_error != OnError::kIgnore) {
      LineBuf l;
      l.str("lfh:   re-raising ").str(fi.signo == 7 ? "SIGBUS" : "SIGSEGV").str(" at the faulting instruction\n");
      os::write_all(2, l.data(), l.size());
    }
    return os::FaultAction::kDie;
  }
  // Keep going: open the page, and never reuse this block's pages.
  b->poisoned = 1;
  os::protect(ptr(align_down(addr(fi.addr), kPage)), kPage, true, true);
  return os::FaultAction::kResume;
}

PhStats ph_stats() {
  os::LockGuard g(g_lock);
  return {g_live_blocks, g_live_bytes, g_fifo_blocks, g_fifo_bytes, g_cached, g_fallbacks, g_total};
}

void ph_fork_prepare() {
  g_lock.lock();
  g_pool.lock();
}
void ph_fork_parent() {
  g_pool.unlock();
  g_lock.unlock();
}
void ph_fork_child() {
  g_pool.reset_after_fork();
  g_lock.reset_after_fork();
}

}  // namespace lfh::debug
