// debug/debug.cpp — the debug layer's entry points: which kind of block each request gets, and
// the dispatch of every pointer that comes back (see debug.h).
//
// A request becomes one of:
//   full     — a page-heap block (page_heap.h): LFH_PAGEHEAP=full, chosen by the sampler and
//              the size range;
//   normal   — a checked block with free checking and fill (checked.h): LFH_PAGEHEAP=normal,
//              chosen likewise;
//   checked  — a checked block: LFH_DEBUG=tail or free, for blocks the page heap did not take;
//   plain    — an ordinary heap block.
// A pointer coming back is recognised in that order: the page map says page-heap block; a
// sealed header right before it says checked block; anything else is judged as a plain block
// (parameter checking: invalid, interior, double and foreign frees are reported, not followed).
#include "debug/debug.h"

#include <errno.h>

#include <cstring>

#include "base/bits.h"
#include "base/format.h"
#include "base/options.h"
#include "debug/checked.h"
#include "debug/config.h"
#include "debug/fault.h"
#include "debug/page_heap.h"
#include "debug/quarantine.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "debug/tagged.h"
#include "debug/valgrind_mode.h"
#include "heap/runtime.h"
#include "lfh/bucket_table.h"
#include "os/os.h"
#include "os/signals.h"
#include "vm/page_map.h"

namespace lfh::debug {

constinit bool g_active = false;
constinit std::size_t g_malloc_gate = lfh_buckets::kRequestTableMax + 1;

namespace {

// Turn the debug layer on: close malloc's and free's gates (debug.h), then publish g_active.
void activate() {
  __atomic_store_n(&g_malloc_gate, std::size_t(0), __ATOMIC_RELAXED);
  vm::pagemap_close_gate();
  __atomic_store_n(&g_active, true, __ATOMIC_RELEASE);
}

constinit bool g_handles_all = false;
constinit bool g_validate_failed = false;

enum class Mode { kPlain, kChecked, kNormal, kFull };

// The sampler: a per-thread countdown drawn from a per-thread generator, mean LFH_PAGEHEAP_SAMPLE.
thread_local std::uint32_t t_countdown __attribute__((tls_model("initial-exec"))) = 0;
thread_local std::uint64_t t_rng __attribute__((tls_model("initial-exec"))) = 0;

LFH_NOINLINE std::uint32_t next_gap() {
  if (t_rng == 0) {
    std::uint64_t seed = 0;
    os::random_bytes(&seed, sizeof seed);
    t_rng = seed | 1;
  }
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  const std::uint64_t span = 2 * std::uint64_t(g_cfg.sample) - 1;   // uniform 1..2N-1: mean N
  return std::uint32_t(1 + t_rng % span);
}

inline bool sampled() {
  if (g_cfg.sample <= 1) return true;
  std::uint32_t c = t_countdown;
  if (LFH_LIKELY(c > 1)) {
    t_countdown = c - 1;
    return false;
  }
  t_countdown = next_gap();
  return c == 1;
}

// A size the page heap takes: none when it is off (fault injection alone turns the layer on).
inline bool in_range(std::size_t n) {
  return g_cfg.pageheap != PageHeap::kOff && n >= g_cfg.size_min && n <= g_cfg.size_max;
}

Mode choose(std::size_t n) {
  if (g_cfg.pageheap != PageHeap::kOff && in_range(n) && sampled())
    return g_cfg.pageheap == PageHeap::kFull ? Mode::kFull : Mode::kNormal;
  return (g_cfg.tail || g_cfg.free_fill) ? Mode::kChecked : Mode::kPlain;
}

void *alloc_in(Heap &h, std::size_t n, std::size_t align, bool zero, const void *cfa) {
  Mode m = choose(n);
  if (m == Mode::kFull) {
    void *p = nullptr;
    PhResult r = ph_alloc(h, n, align, zero, cfa, &p);
    if (r == PhResult::kOk) return p;
    if (r == PhResult::kNoMemory) return nullptr;
    m = (g_cfg.tail || g_cfg.free_fill) ? Mode::kChecked : Mode::kPlain;   // out of guard budget
  }
  if (m == Mode::kNormal) return checked_alloc(h, n, align, zero, kCheckFree | kFillAlloc, cfa);
  if (m == Mode::kChecked)
    return checked_alloc(h, n, align, zero, (g_cfg.free_fill ? unsigned(kCheckFree) : 0u) | (g_cfg.alloc_fill ? unsigned(kFillAlloc) : 0u), cfa);
  return plain_alloc(h, n, align > 8 ? align : 0, zero);
}

// Every heap's structures and every live debug block's guard bytes, before each call. (Blocks
// in the free queue are checked as they leave it, at exit and by lfh_validate(): re-reading the
// whole queue — up to LFH_PAGEHEAP_FREE_DELAY bytes — on every call would cost too much.)
bool validate_heaps(bool with_queue) {
  bool ok = for_each_heap([](Heap &h, void *) { return h.validate(); }, nullptr);
  if (ok) ok = ph_validate();
  if (ok) ok = checked_validate(with_queue);
  return ok;
}

void validate_each_call() {
  if (g_validate_failed) return;
  if (validate_heaps(false)) return;
  g_validate_failed = g_cfg.on_error != OnError::kAbort;   // report it once, then stop looking
  report_line("heap corruption: heap validation failed (LFH_DEBUG=validate), see above");
  after_report();
}

inline void maybe_validate() {
  if (LFH_UNLIKELY(g_cfg.validate)) validate_each_call();
}

// free() of p owned by o (any kind). `op` names the call for reports.
void free_any(void *p, vm::OwnerHeader *o, const void *cfa) {
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    ph_free(reinterpret_cast<PageBlock *>(o), p, cfa, "free");
    return;
  }
  Found f = checked_find(p, o);
  if (f.h && !f.freed) {
    checked_free(f.h, p, cfa);
    return;
  }
  if (checked_classify_plain(p, o, f, cfa, "free")) lfh::free_block(p);
}

// The debug view of a pointer: its live size, or false (nothing reported) when it is not a live
// block's start.
bool live_size(const void *p, vm::OwnerHeader *o, std::size_t *size) {
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    auto *b = reinterpret_cast<PageBlock *>(o);
    if (__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) != kPhLive || b->user != p) return false;
    *size = b->size;
    return true;
  }
  Found f = checked_find(p, o);
  if (f.h) {
    if (f.freed) return false;
    *size = checked_size(f.h);
    return true;
  }
  if (!owns(p)) return false;
  *size = lfh::usable_size(p);
  return true;
}

Heap *heap_of_live(const void *p, vm::OwnerHeader *o) {
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    auto *b = reinterpret_cast<PageBlock *>(o);
    return (__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == kPhLive && b->user == p) ? b->heap : nullptr;
  }
  Found f = checked_find(p, o);
  if (f.h) return f.freed ? nullptr : lfh::owner_heap(p);
  return owns(p) ? lfh::owner_heap(p) : nullptr;
}

// A pointer given to a private-heap call must be a live block of h: report it otherwise.
bool check_heap_owner(Heap &h, void *p, const void *cfa, const char *op) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Heap *owner = heap_of_live(p, o);
  if (owner == &h) return true;
  if (owner) {
    LineBuf what;
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): the block belongs to heap ").ptr(owner);
    what.str(", not ").ptr(&h).chr('\n');
    report_error(ErrorKind::kWrongHeap, what, nullptr, nullptr, cfa);
    return false;
  }
  // Not a live block at all: say what it is (double free, interior, foreign…).
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    ph_check_live(reinterpret_cast<PageBlock *>(o), p, cfa, op);
    return false;
  }
  if (checked_classify_plain(p, o, checked_find(p, o), cfa, op)) {
    LineBuf what;
    what.str("of ").ptr(p).str(" (passed to ").str(op).str("): not a live block\n");
    report_error(ErrorKind::kInvalidFree, what, nullptr, nullptr, cfa);
  }
  return false;
}

void fork_prepare() {
  quarantine_fork_prepare();
  stack_fork_prepare();
  ph_fork_prepare();
}
void fork_parent() {
  ph_fork_parent();
  stack_fork_parent();
  quarantine_fork_parent();
}
void fork_child() {
  ph_fork_child();
  stack_fork_child();
  quarantine_fork_child();
  report_fork_child();
}

// Initialise lfh (and so the debug layer) before main and before other constructors: the call
// that initialises lfh has already passed its debug check, so without this the first block of a
// statically linked program (whose first malloc is often main's own) would be a plain one.
__attribute__((constructor(101))) void init_early() { (void)process_heap(); }

// At exit: the blocks still in the free queue are checked one last time (a write after free
// late in the run is still caught). A destructor: it runs after main's atexit handlers.
__attribute__((destructor)) void check_queue_at_exit() {
  if (!active()) return;
  if (g_cfg.checked_blocks()) quarantine_drain();
  if (g_cfg.pageheap == PageHeap::kFull && option_bool(Opt::verbose)) {
    PhStats st = ph_stats();
    LineBuf l;
    l.str("lfh: page heap: ").dec(st.guarded_total).str(" blocks guarded, ").dec(st.live_blocks).str(" live (");
    l.size(st.live_bytes).str("), ").dec(st.fifo_blocks).str(" freed waiting (").size(st.fifo_bytes).str(" of pages), ");
    l.dec(st.cached_runs).str(" runs cached, ").dec(st.fallbacks).str(" left unguarded (map-count budget)\n");
    os::write_all(2, l.data(), l.size());
  }
}

void print_config() {
  LineBuf l;
  static const char *const ph[] = {"off", "normal", "full"};
  static const char *const oe[] = {"abort", "report", "ignore"};
  l.str("lfh: debug: pageheap=").str(ph[int(g_cfg.pageheap)]);
  if (g_cfg.pageheap != PageHeap::kOff) {
    l.str(" sample=").dec(g_cfg.sample).str(" sizes=").dec(g_cfg.size_min).chr('-');
    if (g_cfg.size_max == ~std::size_t(0)) l.str("max");
    else l.dec(g_cfg.size_max);
  }
  if (g_cfg.pageheap == PageHeap::kFull) {
    l.str(g_cfg.underrun ? " guard=before" : " guard=after").str(" align=").dec(g_cfg.align);
    l.str(" free_delay=").size(g_cfg.free_delay);
  }
  l.str(" checks=");
  if (g_cfg.tail) l.str("tail,");
  if (g_cfg.free_fill) l.str("free,");
  if (g_cfg.params) l.str("params,");
  if (g_cfg.validate) l.str("validate,");
  l.str(" on_error=").str(oe[int(g_cfg.on_error)]).str(" backtrace=").dec(g_cfg.backtrace).chr('\n');
  os::write_all(2, l.data(), l.size());
}

}  // namespace

void init() {
  const bool faults = fault_init();   // LFH_FAULT_* (fault.h): alone or with anything below
  if (vg::init()) {   // memcheck mode (valgrind_mode.h): every call goes there
    activate();
    return;
  }
  load_config();
  if (tg::init(g_cfg.any())) {   // tag mode (tagged.h): every call goes there
    if (faults) tg::g_fast_alloc = false;   // fault injection must see every request (tag_fast.h)
    activate();
    return;
  }
  if (!g_cfg.any() && !faults) return;
  checked_init();
  quarantine_init();
  stack_init();
  if (g_cfg.pageheap == PageHeap::kFull) {
    ph_init();
    if (!os::install_fault_handler(ph_fault)) report_line("page heap: cannot install the SIGSEGV handler; faults will not be explained");
  }
  g_handles_all = g_cfg.handles_all();
  os::at_fork(fork_prepare, fork_parent, fork_child);
  if (option_bool(Opt::verbose) && g_cfg.any()) print_config();
  activate();
}

LFH_NOINLINE bool on_malloc(std::size_t n, void **out) {
  if (fault_inject(n, __builtin_dwarf_cfa())) return *out = nullptr, true;   // LFH_FAULT_* (fault.h)
  if (LFH_UNLIKELY(vg::g_on)) return *out = vg::alloc(process_heap(), 0, n, false), true;
  const void *cfa = __builtin_dwarf_cfa();
  if (LFH_UNLIKELY(tg::g_on)) return *out = tg::alloc(process_heap(), 0, n, false, cfa), true;
  maybe_validate();
  if (!g_handles_all) {   // the sampled full page heap alone: plain blocks take the normal path
    if (!in_range(n) || !sampled()) return false;
    void *p = nullptr;
    PhResult r = ph_alloc(process_heap(), n, 0, false, cfa, &p);
    if (r == PhResult::kFallBack) return false;
    *out = p;
    return true;
  }
  *out = alloc_in(process_heap(), n, 0, false, cfa);
  return true;
}

LFH_NOINLINE bool on_calloc(std::size_t n, void **out) {
  if (fault_inject(n, __builtin_dwarf_cfa())) return *out = nullptr, true;
  if (LFH_UNLIKELY(vg::g_on)) return *out = vg::alloc(process_heap(), 0, n, true), true;
  const void *cfa = __builtin_dwarf_cfa();
  if (LFH_UNLIKELY(tg::g_on)) return *out = tg::alloc(process_heap(), 0, n, true, cfa), true;
  maybe_validate();
  if (!g_handles_all) {
    if (!in_range(n) || !sampled()) return false;
    void *p = nullptr;
    PhResult r = ph_alloc(process_heap(), n, 0, true, cfa, &p);
    if (r == PhResult::kFallBack) return false;
    *out = p;
    return true;
  }
  *out = alloc_in(process_heap(), n, 0, true, cfa);
  return true;
}

LFH_NOINLINE bool on_free(void *p) {
  if (LFH_UNLIKELY(vg::g_on)) {
    const int saved = errno;
    vg::free(p);
    errno = saved;
    return true;
  }
  if (LFH_UNLIKELY(tg::g_on)) return tg::free(p), true;
  const void *cfa = __builtin_dwarf_cfa();
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  const bool page_block = o && o->kind == vm::OwnerKind::kPageHeapBlock;
  if (!page_block && !g_handles_all) return false;
  int saved = errno;
  maybe_validate();
  free_any(p, o, cfa);
  errno = saved;
  return true;
}

LFH_NOINLINE bool on_realloc(void *p, std::size_t n, void **out) {
  if (fault_inject(n, __builtin_dwarf_cfa())) return *out = nullptr, true;   // p stays as it was
  if (LFH_UNLIKELY(vg::g_on)) return *out = vg::realloc(p, n), true;
  const void *cfa = __builtin_dwarf_cfa();
  if (LFH_UNLIKELY(tg::g_on)) return *out = tg::realloc(p, n, cfa), true;
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  *out = nullptr;
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    maybe_validate();
    auto *b = reinterpret_cast<PageBlock *>(o);
    if (!ph_check_live(b, p, cfa, "realloc")) return true;
    void *q = g_handles_all ? alloc_in(*b->heap, n, 0, false, cfa) : nullptr;
    if (!g_handles_all) {
      if (in_range(n) && sampled() && ph_alloc(*b->heap, n, 0, false, cfa, &q) == PhResult::kNoMemory) return true;
      if (!q) q = b->heap->alloc(n);
    }
    if (!q) return true;
    std::memcpy(q, p, b->size < n ? b->size : n);
    ph_free(b, p, cfa, "realloc");
    *out = q;
    return true;
  }
  if (!g_handles_all) return false;
  maybe_validate();
  Found f = checked_find(p, o);
  std::size_t old;
  if (f.h && !f.freed) {
    old = checked_size(f.h);
  } else {
    if (!checked_classify_plain(p, o, f, cfa, "realloc")) return true;
    old = lfh::usable_size(p);
  }
  Heap *h = lfh::owner_heap(p);
  if (!h) h = &process_heap();
  void *q = alloc_in(*h, n, 0, false, cfa);
  if (!q) return true;   // the old block stays as it was
  std::memcpy(q, p, old < n ? old : n);
  if (f.h && !f.freed) checked_free(f.h, p, cfa);
  else lfh::free_block(p);
  *out = q;
  return true;
}

LFH_NOINLINE void *aligned_alloc(std::size_t align, std::size_t n) {
  if (fault_inject(n, __builtin_dwarf_cfa())) return nullptr;
  if (LFH_UNLIKELY(vg::g_on)) return vg::alloc(process_heap(), align, n, false);
  const void *cfa = __builtin_dwarf_cfa();
  if (LFH_UNLIKELY(tg::g_on)) return tg::alloc(process_heap(), align, n, false, cfa);
  maybe_validate();
  if (!g_handles_all) {
    if (in_range(n) && sampled()) {
      void *p = nullptr;
      PhResult r = ph_alloc(process_heap(), n, align, false, cfa, &p);
      if (r != PhResult::kFallBack) return p;
    }
    return process_heap().alloc_aligned(align, n);
  }
  return alloc_in(process_heap(), n, align, false, cfa);
}

LFH_NOINLINE std::size_t usable_size(const void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::usable_size(p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::usable_size(p);
  const void *cfa = tail_entry(__builtin_dwarf_cfa());   // api/ may tail-call it
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  std::size_t n = 0;
  if (live_size(p, o, &n)) return n;
  if (!g_cfg.params) {
    // Not a live block: what lfh says without the debug layer (0 for a pointer it does not own).
    if (o && o->kind == vm::OwnerKind::kPageHeapBlock) return 0;
    return checked_find(p, o).h ? 0 : lfh::usable_size(p);
  }
  if (o && o->kind == vm::OwnerKind::kPageHeapBlock) {
    ph_check_live(reinterpret_cast<PageBlock *>(o), p, cfa, "malloc_usable_size");
    return 0;
  }
  if (checked_classify_plain(const_cast<void *>(p), o, checked_find(p, o), cfa, "malloc_usable_size"))
    return lfh::usable_size(p);
  return 0;
}

Heap *owner_heap(const void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::owner_heap(p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::owner_heap(p);
  return p ? heap_of_live(p, vm::pagemap_lookup(p)) : nullptr;
}

bool owns(const void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::owns(p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::owns(p);
  if (!p) return false;
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (!o) return false;
  switch (o->kind) {
    case vm::OwnerKind::kPageHeapBlock: {
      auto *b = reinterpret_cast<PageBlock *>(o);
      return __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == kPhLive && b->user == p;
    }
    case vm::OwnerKind::kLfhSubsegment: {
      if (Found f = checked_find(p, o); f.h) return !f.freed;
      auto *s = reinterpret_cast<Subsegment *>(o);
      std::int64_t i = s->index_of(p);
      return i >= 0 && std::uint32_t(i) < s->bump.load(std::memory_order_acquire) && !lfh_block_is_free(s, p);
    }
    case vm::OwnerKind::kDirectBlock:
      if (Found f = checked_find(p, o); f.h) return !f.freed;
      return reinterpret_cast<DirectBlock *>(o)->base == p;
    default:
      if (Found f = checked_find(p, o); f.h) return !f.freed;
      return lfh::usable_size(p) != 0;
  }
}

// ---- private heaps ---------------------------------------------------------------------------

LFH_NOINLINE void *heap_alloc(Heap &h, std::size_t align, std::size_t n, bool zero) {
  if (fault_inject(n, tail_entry(__builtin_dwarf_cfa()))) return nullptr;
  if (LFH_UNLIKELY(vg::g_on)) {
    void *p = vg::alloc(h, align, n, zero);
    if (!p) errno = ENOMEM;
    return p;
  }
  const void *cfa = tail_entry(__builtin_dwarf_cfa());   // api/ may tail-call it
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_alloc(h, align, n, zero, cfa);
  maybe_validate();
  void *p = alloc_in(h, n, align > 8 ? align : 0, zero, cfa);
  if (!p) errno = ENOMEM;
  return p;
}

LFH_NOINLINE void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero) {
  if (n && fault_inject(n, tail_entry(__builtin_dwarf_cfa()))) return nullptr;   // n == 0 frees: never fails
  if (LFH_UNLIKELY(vg::g_on)) return vg::heap_realloc(h, p, n, in_place_only, zero);
  const void *cfa = tail_entry(__builtin_dwarf_cfa());   // api/ may tail-call it
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_realloc(h, p, n, in_place_only, zero, cfa);
  maybe_validate();
  if (!check_heap_owner(h, p, cfa, "lfh_heap_realloc")) {
    errno = EINVAL;
    return nullptr;
  }
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  if (n == 0) {
    free_any(p, o, cfa);
    return nullptr;
  }
  std::size_t old = 0;
  live_size(p, o, &old);
  const bool plain = !(o && o->kind == vm::OwnerKind::kPageHeapBlock) && !checked_find(p, o).h;
  if (in_place_only || (plain && !g_handles_all)) {
    // A debug block is never resized (its guard bytes and recorded size would move); a plain one
    // may be, as the heap allows — and when the layer handles only page-heap blocks (or is on for
    // fault injection alone) a plain block is resized as lfh_heap_realloc does without it.
    void *q = plain ? h.realloc(p, n, in_place_only) : (n == old ? p : nullptr);
    if (!q) {
      errno = ENOMEM;
    } else if (zero && plain) {
      const std::size_t now = lfh::usable_size(q);   // the bytes past the old block are new
      if (now > old) std::memset(static_cast<char *>(q) + old, 0, now - old);
    }
    return q;
  }
  void *q = alloc_in(h, n, 0, false, cfa);
  if (!q) {
    errno = ENOMEM;
    return nullptr;
  }
  std::memcpy(q, p, old < n ? old : n);
  if (zero && n > old) std::memset(static_cast<char *>(q) + old, 0, n - old);
  free_any(p, o, cfa);
  return q;
}

LFH_NOINLINE bool heap_free(Heap &h, void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::heap_free(h, p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_free(h, p);
  const void *cfa = tail_entry(__builtin_dwarf_cfa());   // api/ may tail-call it
  int saved = errno;
  maybe_validate();
  if (check_heap_owner(h, p, cfa, "lfh_heap_free")) free_any(p, vm::pagemap_lookup(p), cfa);
  errno = saved;
  return true;
}

std::size_t heap_size(Heap &h, const void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::heap_size(h, p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_size(h, p);
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  std::size_t n = 0;
  if (!p || heap_of_live(p, o) != &h || !live_size(p, o, &n)) {
    errno = EINVAL;
    return static_cast<std::size_t>(-1);
  }
  return n;
}

bool heap_owns(Heap &h, const void *p) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::heap_owns(h, p);
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_owns(h, p);
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  return owner_verdict(heap_of_live(p, o), &h, p);
}

void heap_destroy(Heap &h) {
  if (LFH_UNLIKELY(vg::g_on)) return vg::heap_destroy(h);
  if (LFH_UNLIKELY(tg::g_on)) return tg::heap_destroy(h);
  ph_release_heap(h);
  quarantine_drop_heap(h);
}

bool validate_all() {
  if (LFH_UNLIKELY(vg::g_on)) return vg::validate_all();
  return validate_heaps(true);
}

}  // namespace lfh::debug
