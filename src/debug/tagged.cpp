// debug/tagged.cpp — tag mode: tagged blocks and the call-site module table (see tagged.h).
#include "debug/tagged.h"

#include <errno.h>

#include <atomic>
#include <bit>
#include <cstring>

#include "base/format.h"
#include "base/options.h"
#include "debug/config.h"
#include "debug/leaks.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "debug/tag_shard.h"
#include "debug/tag_table.h"
#include "debug/tags.h"
#include "heap/front.h"
#include "heap/runtime.h"
#include "os/mutex.h"
#include "os/os.h"
#include "os/signals.h"

namespace lfh::debug::tg {

constinit bool g_on = false;
constinit bool g_leaks = false;
constinit bool g_fast_alloc = false;
constinit std::uint64_t g_seal_word = std::uint64_t(0x9e3779) << kSealShift;   // drawn at init

namespace {

inline std::uint32_t off_code(std::size_t off) { return off == 16 ? 0 : std::uint32_t(std::bit_width(off) - 1); }
inline std::size_t off_decode(std::uint32_t code) { return code == 0 ? 16 : std::size_t(1) << code; }

inline void write_header(TagHeader *h, std::uint32_t tag, std::uint32_t site, std::uint64_t n, std::size_t off) {
  const std::uint64_t low = n | (std::uint64_t(off_code(off)) << kSizeBits);
  h->tag = tag;
  h->site = site;
  h->word = record_word(h, tag, site, low);
}

struct Found {
  TagHeader *h;
  char *base;         // the heap block
  std::size_t off;    // user - base
  std::uint64_t size; // requested bytes
};

// Is p the user pointer of a tagged block? Reads 16 bytes before p only where the owner's range
// says they are mapped (an LFH subsegment's blocks, a direct block's region, a core segment past
// its header); then the seal decides.
inline bool find(const void *p, vm::OwnerHeader *o, Found *f) {
  const std::uintptr_t a = addr(p);
  // User pointers keep their heap block's alignment: 16, or 8 for the LFH's 8-byte size classes.
  if (!o || (a & 7) != 0) return false;
  switch (o->kind) {
    case vm::OwnerKind::kLfhSubsegment: {
      const auto *s = reinterpret_cast<const Subsegment *>(o);
      if (a < addr(s->first) + 16 || a >= addr(s->end())) return false;
      break;
    }
    case vm::OwnerKind::kDirectBlock: {
      const auto *d = reinterpret_cast<const DirectBlock *>(o);
      if (a < addr(d->base) + 16 || a >= addr(d->base) + d->committed) return false;
      break;
    }
    case vm::OwnerKind::kCoreSegment:
      if (a < addr(o) + 64) return false;   // the segment's own header
      break;
    default: return false;
  }
  auto *h = reinterpret_cast<TagHeader *>(a - 16);
  const std::uint64_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
  const std::uint64_t low = w & kLowMask;
  if ((w >> kSealShift) != seal(h, h->tag, h->site, low)) return false;
  f->h = h;
  f->size = low & kMaxSize;
  f->off = off_decode(std::uint32_t(low >> kSizeBits) & 31);
  f->base = reinterpret_cast<char *>(a - f->off);
  if (o->kind == vm::OwnerKind::kCoreSegment) {
    // The core heap vouches for a block there (a seal is 19 bits: ask the heap too).
    if (f->off > a - addr(o) || lfh::usable_size(f->base) < f->off + f->size) return false;
  }
  return true;
}

// The thread's last tag and its slot (TagThread).
inline unsigned slot_of(std::uint32_t tag) {
  TagThread &c = t_tag_thread;
  if (LFH_LIKELY(c.last_tag == tag && tag != 0)) return counter_slot(c.last_off);
  const unsigned s = tag_slot(tag);
  if (!c.shard) tag_shard_slow();   // tag_fast.h reads the shard without a check once last_tag is set
  c.last_tag = tag;
  c.last_off = counter_off(s);
  return s;
}

inline void count_alloc(std::uint32_t tag, std::uint32_t site, std::uint64_t n) {
  tag_count_alloc(slot_of(tag), n);
  if (site) site_count(site, tag, 1, std::int64_t(n));
}
inline void count_free(const TagHeader *h, std::uint64_t n) {
  tag_count_free(slot_of(h->tag), n);
  if (h->site) site_count(h->site, h->tag, -1, -std::int64_t(n));
}

// ---- call-site modules --------------------------------------------------------------------------
struct ModRange {
  std::uintptr_t lo, hi;
  std::uint32_t tag;
};
constexpr int kMods = 256;
constinit ModRange g_mods[kMods] = {};
constinit std::atomic<int> g_nmods{0};   // entries [0, n) are complete (published with release)
constinit os::Mutex g_mod_lock;
constinit char g_maps[8192];
struct LastMod {
  std::uintptr_t lo, hi;
  std::uint32_t tag;
};
constinit thread_local LastMod t_last __attribute__((tls_model("initial-exec"))) = {0, 0, 0};

// The tag a module's path gives: its base name without "lib", up to 4 characters, stopping at
// '.', '-' or '_' ("libsqlite3.so.0" → "sqli", "python3.11" → "pyth", "libc.so.6" → "c   ").
std::uint32_t tag_of_path(const char *p, const char *end) {
  if (p >= end || *p != '/') return LFH_TAG_NONE;
  const char *name = p;
  for (const char *c = p; c < end; ++c)
    if (*c == '/') name = c + 1;
  if (end - name > 3 && std::memcmp(name, "lib", 3) == 0) name += 3;
  std::size_t n = 0;
  while (name + n < end && n < 4 && name[n] != '.' && name[n] != '-' && name[n] != '_' && name[n] != ' ') ++n;
  return n ? tag_from_text(name, n) : LFH_TAG_NONE;
}

// One maps line: if it covers pc, remember its range and its module's tag.
bool maps_line(const char *p, const char *end, std::uintptr_t pc, ModRange *out) {
  const std::uintptr_t lo = parse_hex(p, end);
  if (p < end && *p == '-') ++p;
  const std::uintptr_t hi = parse_hex(p, end);
  if (pc < lo || pc >= hi) return false;
  for (int field = 0; field < 4; ++field) {   // perms, offset, dev, inode
    while (p < end && *p == ' ') ++p;
    while (p < end && *p != ' ') ++p;
  }
  while (p < end && *p == ' ') ++p;
  *out = {lo, hi, tag_of_path(p, end)};
  return true;
}

bool read_maps_for(std::uintptr_t pc, ModRange *out) {
  const int fd = os::open_for_read("/proc/self/maps");
  if (fd < 0) return false;
  bool found = false;
  std::size_t have = 0;
  for (;;) {
    const long r = os::read_some(fd, g_maps + have, sizeof g_maps - have);
    if (r > 0) have += std::size_t(r);
    char *line = g_maps, *end = g_maps + have;
    for (;;) {
      char *nl = static_cast<char *>(std::memchr(line, '\n', std::size_t(end - line)));
      if (!nl) break;
      if (!found) found = maps_line(line, nl, pc, out);
      line = nl + 1;
    }
    std::size_t rest = std::size_t(end - line);
    if (r <= 0) {
      if (rest && !found) found = maps_line(line, end, pc, out);
      break;
    }
    if (rest == sizeof g_maps) rest = 0;   // a line longer than the buffer: drop it
    std::memmove(g_maps, line, rest);
    have = rest;
  }
  os::close_fd(fd);
  return found;
}

LFH_NOINLINE std::uint32_t module_tag_slow(std::uintptr_t pc) {
  os::LockGuard g(g_mod_lock);
  const int n = g_nmods.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (pc >= g_mods[i].lo && pc < g_mods[i].hi) {
      t_last = {g_mods[i].lo, g_mods[i].hi, g_mods[i].tag};
      return g_mods[i].tag;
    }
  ModRange m;
  if (!read_maps_for(pc, &m)) return LFH_TAG_NONE;
  // A mapping that is gone later (dlclose) and reused by another module keeps its first tag:
  // module tags are a hint for untagged allocations, not an identity.
  if (n < kMods) {
    g_mods[n] = m;
    g_nmods.store(n + 1, std::memory_order_release);
  }
  t_last = {m.lo, m.hi, m.tag};
  return m.tag;
}

inline std::uint32_t module_tag(std::uintptr_t pc) {
  // The thread's last module first: a call site is usually in the same module as the last one.
  if (pc - t_last.lo < t_last.hi - t_last.lo) return t_last.tag;
  const int n = g_nmods.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (pc >= g_mods[i].lo && pc < g_mods[i].hi) {
      t_last = {g_mods[i].lo, g_mods[i].hi, g_mods[i].tag};
      return g_mods[i].tag;
    }
  return module_tag_slow(pc);
}

// The tag and leak site of a new block.
inline void who(const void *cfa, std::uint32_t *tag, std::uint32_t *site) {
  *tag = thread_tag();
  *site = 0;
  if (LFH_UNLIKELY(g_leaks) && g_cfg.backtrace > 0) {
    void *frames[kMaxFrames];
    const int nf = capture_stack(frames, int(g_cfg.backtrace), cfa);
    *site = depot_put(frames, nf);
    if (*tag == kNoTag) *tag = nf ? module_tag(addr(frames[0])) : LFH_TAG_NONE;
    return;
  }
  if (*tag == kNoTag) {
    const std::uintptr_t ra = call_site(cfa);
    *tag = ra ? module_tag(ra) : LFH_TAG_NONE;
  }
}

// A heap block with a tag record for n bytes (not counted). `zero`: the n bytes are zero.
void *place(Heap &h, std::size_t align, std::size_t n, bool zero, std::uint32_t tag, std::uint32_t site) {
  if (n > kMaxSize) return nullptr;
  const std::size_t off = align > 16 ? align : 16;
  // At least one byte: a user pointer at its block's very end would be the next block's start.
  const std::size_t total = (n ? n : 1) + off;
  char *base;
  bool zeroed = false;
  if (align >= 16) {
    // (align 16 too: the record keeps the block's alignment, and an LFH block of 8-byte size
    // class may be only 8-aligned)
    base = static_cast<char *>(h.alloc_aligned(align, total));
  } else if (total <= lfh_buckets::kMaxSize && &h == &process_heap()) {
    base = static_cast<char *>(front_alloc(lfh_buckets::bucket_for_request(total)));   // the magazine
  } else if (zero && total > lfh_buckets::kMaxSize) {
    base = static_cast<char *>(h.alloc_zeroed(total));   // fresh large blocks are demand-zero
    zeroed = true;
  } else {
    base = static_cast<char *>(h.alloc(total));
  }
  if (!base) return nullptr;
  char *user = base + off;
  if (zero && !zeroed) std::memset(user, 0, n);
  write_header(reinterpret_cast<TagHeader *>(user - 16), tag, site, n, off);
  return user;
}

void free_found(const Found &f, vm::OwnerHeader *o) {
  count_free(f.h, f.size);
  __atomic_store_n(&f.h->word, 0, __ATOMIC_RELAXED);   // a second free of p is not taken for a live block
  // The record's block lies in p's owner (the record is inside it): no second page-map lookup.
  if (o->kind == vm::OwnerKind::kLfhSubsegment) front_free_lfh(reinterpret_cast<Subsegment *>(o), f.base);
  else front_free(f.base);
}

// Resize a tagged block: through its heap's realloc when the record sits at the block's start
// (in place, or moved with its bytes, the record included), else a new aligned block.
void *resize(Heap &h, const Found &f, std::size_t n, bool in_place_only, bool zero) {
  if (n > kMaxSize) return nullptr;
  const std::uint32_t tag = f.h->tag, site = f.h->site;
  const std::uint64_t old = f.size;
  char *user;
  if (f.off == 16) {
    // Clear the old record first: if the block moves, its old place must not look live.
    const std::uint64_t w = f.h->word;
    __atomic_store_n(&f.h->word, 0, __ATOMIC_RELAXED);
    char *nb = static_cast<char *>(h.realloc(f.base, n + 16, in_place_only));
    if (!nb) {
      __atomic_store_n(&f.h->word, w, __ATOMIC_RELAXED);
      return nullptr;
    }
    user = nb + 16;
    write_header(reinterpret_cast<TagHeader *>(nb), tag, site, n, 16);
  } else if (f.off + n <= lfh::usable_size(f.base)) {
    user = f.base + f.off;
    write_header(f.h, tag, site, n, f.off);
  } else {
    if (in_place_only) return nullptr;
    user = static_cast<char *>(place(h, f.off, n, false, tag, site));
    if (!user) return nullptr;
    std::memcpy(user, f.base + f.off, old < n ? old : n);
    __atomic_store_n(&f.h->word, 0, __ATOMIC_RELAXED);
    front_free(f.base);
  }
  if (zero && n > old) std::memset(user + old, 0, n - old);
  tag_count_resize(slot_of(tag), old, n);
  if (site) site_count(site, tag, 0, std::int64_t(n) - std::int64_t(old));
  return user;
}

// p is not a live tagged block. If its record's block was one and is free now, say "double free"
// as lfh does for its own blocks (its heap would call p an interior pointer): LFH and direct
// blocks here; the core heap judges its own.
LFH_NOINLINE void judge_freed(const void *p, vm::OwnerHeader *o) {
  const char *q = static_cast<const char *>(p) - 16;
  if (!o) {
    if (recently_released_direct(q)) fatal_error(ErrorKind::kDoubleFree, p, "large block already freed");
    return;
  }
  if (o->kind == vm::OwnerKind::kDirectBlock) {   // freed and kept in the direct-block cache
    const auto *d = reinterpret_cast<const DirectBlock *>(o);
    if (d->base == q && d->cached) fatal_error(ErrorKind::kDoubleFree, p, "large block already freed");
    return;
  }
  if (o->kind != vm::OwnerKind::kLfhSubsegment) return;
  auto *s = reinterpret_cast<Subsegment *>(o);
  if (q < s->first) return;
  const std::int64_t i = s->index_of(q);
  if (i >= 0 && std::uint32_t(i) < s->bump.load(std::memory_order_acquire) && lfh_block_is_free(s, q))
    fatal_error(ErrorKind::kDoubleFree, p, "block already free");
}

void fork_prepare() {
  g_mod_lock.lock();
  leaks_fork_prepare();
  tag_table_fork_prepare();
}
void fork_parent() {
  tag_table_fork_parent();
  leaks_fork_parent();
  g_mod_lock.unlock();
}
void fork_child() {
  tag_table_fork_child();
  leaks_fork_child();
  g_mod_lock.reset_after_fork();
}

}  // namespace

bool init(bool other_debug) {
  const char *leaks = option_str(Opt::leaks);
  const bool want_leaks = leaks && leaks[0] && !(leaks[0] == '0' && leaks[1] == 0);
  if (!option_bool(Opt::tags) && !want_leaks) return false;
  if (other_debug) {
    const char msg[] = "lfh: LFH_TAGS/LFH_LEAKS are not combined with LFH_DEBUG or LFH_PAGEHEAP yet: tags are off\n";
    os::write_all(2, msg, sizeof msg - 1);
    return false;
  }
  std::uint64_t r = 0;
  os::random_bytes(&r, sizeof r);
  g_seal_word = (r << kSealShift) | (std::uint64_t(1) << kSealShift);   // 19 random bits, never 0
  if (!tag_table_init()) return false;
  stack_init();
  if (want_leaks) g_leaks = leaks_init(leaks);
  os::at_fork(fork_prepare, fork_parent, fork_child);
  g_fast_alloc = !g_leaks;   // debug::init clears it again when fault injection is on
  g_on = true;
  return true;
}

void *alloc_site(std::size_t n, const void *ra, bool zero) {
  if (n > kFastMax) return nullptr;
  std::uint32_t tag = thread_tag();
  TagThread &t = t_tag_thread;
  if (tag == kNoTag) {
    SiteEntry &e = t.sites[addr(ra) & (kSiteEntries - 1)];
    if (e.ra != addr(ra)) {
      if (!outside_lfh_code(addr(ra))) return nullptr;
      const std::uint32_t m = module_tag(addr(ra));
      if (!t.shard) tag_shard_slow();   // as in slot_of: a filled entry implies a shard
      e = {addr(ra), m, counter_off(tag_slot(m))};
    }
    tag = e.tag;
  } else if (t.alloc_tag != tag) {
    const unsigned slot = tag_slot(tag);
    if (!t.shard) tag_shard_slow();   // as in slot_of: a filled entry implies a shard
    t.alloc_tag = tag;
    t.alloc_off = counter_off(slot);
  }
  void *p = place(process_heap(), 0, n, zero, tag, 0);
  if (p) count_alloc(tag, 0, n);   // slot_of: fills the last-slot cache (free uses it too)
  return p;
}

void *alloc(Heap &h, std::size_t align, std::size_t n, bool zero, const void *cfa) {
  std::uint32_t tag, site;
  who(cfa, &tag, &site);
  void *p = place(h, align, n, zero, tag, site);
  if (p) count_alloc(tag, site, n);
  return p;
}

void free(void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  if (LFH_LIKELY(o != nullptr && o->kind == vm::OwnerKind::kLfhSubsegment)) {
    // An LFH block: its free makes no system call (and the overflow path keeps errno itself).
    if (find(p, o, &f)) return free_found(f, o);
    judge_freed(p, o);
    front_free_lfh(reinterpret_cast<Subsegment *>(o), p);
    return;
  }
  const int saved = errno;
  if (find(p, o, &f)) {
    free_found(f, o);
  } else {
    judge_freed(p, o);
    front_free(p);   // a block from before tag mode (or not a block: its heap reports it)
  }
  errno = saved;
}

void *realloc(void *p, std::size_t n, const void *cfa) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  if (find(p, o, &f)) {
    Heap *h = lfh::owner_heap(f.base);
    return resize(h ? *h : process_heap(), f, n, false, false);
  }
  judge_freed(p, o);
  Heap *h = lfh::owner_heap(p);
  if (!h) {
    lfh::free_block(p);   // reports the invalid pointer
    return nullptr;
  }
  void *q = alloc(*h, 0, n, false, cfa);
  if (!q) return nullptr;
  const std::size_t old = lfh::usable_size(p);
  std::memcpy(q, p, old < n ? old : n);
  front_free(p);
  return q;
}

std::size_t usable_size(const void *p) {
  Found f;
  if (find(p, vm::pagemap_lookup(p), &f)) return lfh::usable_size(f.base) - f.off;
  return lfh::usable_size(p);
}

Heap *owner_heap(const void *p) {
  if (!p) return nullptr;
  Found f;
  return lfh::owner_heap(find(p, vm::pagemap_lookup(p), &f) ? f.base : p);
}

bool owns(const void *p) {
  if (!p) return false;
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  return find(p, o, &f) || block_is_live(p, o);
}

void *heap_alloc(Heap &h, std::size_t align, std::size_t n, bool zero, const void *cfa) {
  void *p = alloc(h, align, n, zero, cfa);
  if (!p) errno = ENOMEM;
  return p;
}

void *heap_realloc(Heap &h, void *p, std::size_t n, bool in_place_only, bool zero, const void *cfa) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  const bool tagged = find(p, o, &f);
  if (lfh::owner_heap(tagged ? f.base : p) != &h) {
    if (tagged || block_is_live(p, o)) {
      LineBuf l;
      l.str("lfh: block belongs to another heap: ").ptr(p).str(" passed to lfh_heap_realloc\n");
      os::write_all(2, l.data(), l.size());
      os::abort_process();
    }
    lfh::free_block(p);   // not a block: the heap reports it
    errno = EINVAL;
    return nullptr;
  }
  if (n == 0) {
    tg::free(p);
    return nullptr;
  }
  void *q;
  if (tagged) {
    q = resize(h, f, n, in_place_only, zero);
  } else if (in_place_only) {
    q = nullptr;   // a block from before tag mode has no record to keep: never in place
  } else {
    q = alloc(h, 0, n, zero, cfa);
    if (q) {
      const std::size_t old = lfh::usable_size(p);
      std::memcpy(q, p, old < n ? old : n);
      front_free(p);
    }
  }
  if (!q) errno = ENOMEM;
  return q;
}

bool heap_free(Heap &h, void *p) {
  const int saved = errno;
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  const bool tagged = find(p, o, &f);
  if (lfh::owner_heap(tagged ? f.base : p) != &h && (tagged || block_is_live(p, o))) {
    LineBuf l;
    l.str("lfh: block belongs to another heap: ").ptr(p).str(" passed to lfh_heap_free\n");
    os::write_all(2, l.data(), l.size());
    os::abort_process();
  }
  if (tagged) free_found(f, o);
  else front_free(p);
  errno = saved;
  return true;
}

std::size_t heap_size(Heap &h, const void *p) {
  vm::OwnerHeader *o = p ? vm::pagemap_lookup(p) : nullptr;
  Found f;
  if (p && find(p, o, &f) && lfh::owner_heap(f.base) == &h) return lfh::usable_size(f.base) - f.off;
  if (p && block_is_live(p, o) && lfh::owner_heap(p) == &h) return lfh::usable_size(p);
  errno = EINVAL;
  return static_cast<std::size_t>(-1);
}

bool heap_owns(Heap &h, const void *p) {
  vm::OwnerHeader *o = vm::pagemap_lookup(p);
  Found f;
  const bool tagged = find(p, o, &f);
  Heap *owner = (tagged || block_is_live(p, o)) ? lfh::owner_heap(tagged ? f.base : p) : nullptr;
  return owner_verdict(owner, &h, p);
}

bool block_record(void *base, std::size_t usable, std::uint32_t *tag, std::uint32_t *site, std::uint64_t *size) {
  char *b = static_cast<char *>(base);
  // The record is at base (off 16) or, for a block aligned beyond 16, at base + align - 16.
  for (std::size_t off = 16; off + 16 <= usable + 16 && off <= (std::size_t(1) << 20); off = off == 16 ? 32 : off * 2) {
    auto *h = reinterpret_cast<TagHeader *>(b + off - 16);
    const std::uint64_t w = __atomic_load_n(&h->word, __ATOMIC_ACQUIRE);
    const std::uint64_t low = w & kLowMask;
    if (w && (w >> kSealShift) == seal(h, h->tag, h->site, low) && off_decode(std::uint32_t(low >> kSizeBits) & 31) == off &&
        off + (low & kMaxSize) <= usable) {
      *tag = h->tag;
      *site = h->site;
      *size = low & kMaxSize;
      return true;
    }
  }
  return false;
}

void free_sited(Subsegment *s, TagHeader *h, std::uint64_t n) {
  count_free(h, n);
  __atomic_store_n(&h->word, 0, __ATOMIC_RELAXED);   // a second free is not taken for a live block
  front_free_lfh_checked(s, h);   // the seal vouched for a live block (tag_fast.h)
}

void heap_destroy(Heap &h) { leaks_heap_destroy(h); }

}  // namespace lfh::debug::tg
