// debug/fault.cpp — the low-resources simulation (see fault.h): options, the per-thread
// counter-based generator, the filters, and the module lookup behind LFH_FAULT_CALLERS.
#include "debug/fault.h"

#include <errno.h>
#include <link.h>

#include <atomic>
#include <cstring>

#include "base/format.h"
#include "base/options.h"
#include "debug/config.h"
#include "debug/stack.h"
#include "debug/tags.h"
#include "os/os.h"

namespace lfh::debug {

constinit bool g_fault_on = false;

namespace {

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;
constexpr int kMaxTags = 16;
constexpr int kMaxCallers = 16;
constexpr std::size_t kCallerChars = 64;

// The settings, written once by fault_init before g_fault_on (and the debug layer's g_active,
// released after it) is set; read-only afterwards.
struct FaultConfig {
  std::uint64_t threshold = 0;   // a call fails when (draw >> 1) < threshold: rate · 2^63
  std::uint64_t seed = 0;
  std::uint64_t delay_ns = 0;
  std::size_t size_min = 0, size_max = ~std::size_t(0);
  std::uint32_t tags[kMaxTags] = {};
  int ntags = 0;                 // 0: every allocation, tagged or not
  char callers[kMaxCallers][kCallerChars] = {};
  std::size_t caller_len[kMaxCallers] = {};
  int ncallers = 0;              // 0: every caller
};
constinit FaultConfig g_fc;

constinit std::uint64_t g_start_ns = 0;
// Set once the delay has passed (then the clock is never read again). Relaxed: a thread that sees
// it late reads the clock once more.
constinit std::atomic<bool> g_armed{false};
constinit std::atomic<std::uint64_t> g_injected{0};
// Thread ordinals are handed out in the order threads first allocate, from 1.
constinit std::atomic<std::uint32_t> g_next_ordinal{0};

// Per-thread generator state. Initial-exec TLS, zero-initialised: valid before main, in any
// thread, and (copied) in a fork child, whose forking thread goes on with its own sequence.
// Invariant: t_ordinal != 0 ⇔ t_key has been derived from (seed, t_ordinal).
constinit thread_local std::uint32_t t_ordinal __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local std::uint64_t t_key __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local std::uint64_t t_next __attribute__((tls_model("initial-exec"))) = 0;   // index of the next call

inline std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + kGolden;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void complain(const char *var, const char *value, const char *expected) {
  LineBuf l;
  l.str("lfh: ").str(var).chr('=').str(value).str(" not understood (expected ").str(expected).str("); ignored\n");
  os::write_all(2, l.data(), l.size());
}

// "0.05", ".05", "1", "5%", "0.5%" → rate · 2^63 in *out. False when malformed or above 1.
bool parse_rate(const char *s, std::uint64_t *out) {
  std::uint64_t num = 0, den = 1;
  bool digits = false, dot = false, percent = false;
  for (const char *p = s; *p; ++p) {
    if (*p >= '0' && *p <= '9') {
      digits = true;
      if (dot && den >= 100000000000000000ull) continue;   // digits past 10^-17: below resolution
      if (num > 100000000000000000ull) return false;       // an integer part that large is > 1
      num = num * 10 + std::uint64_t(*p - '0');
      if (dot) den *= 10;
    } else if (*p == '.' && !dot && !percent) {
      dot = true;
    } else if (*p == '%' && !percent && p[1] == 0) {
      percent = true;
    } else {
      return false;
    }
  }
  if (!digits) return false;
  if (percent) {
    if (den > ~std::uint64_t(0) / 100) return false;
    den *= 100;
  }
  if (num > den) return false;
  *out = std::uint64_t((static_cast<unsigned __int128>(num) << 63) / den);
  return true;
}

// Decimal, or hexadecimal with 0x.
bool parse_seed(const char *s, std::uint64_t *out) {
  std::uint64_t v = 0;
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (!*s) return false;
  for (; *s; ++s) {
    unsigned d;
    if (*s >= '0' && *s <= '9') d = unsigned(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f') d = unsigned(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F') d = unsigned(*s - 'A' + 10);
    else return false;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
  }
  *out = v;
  return true;
}

// Calls fn(word, length) for each comma-separated word (spaces around words are dropped); stops
// and returns false as soon as fn does.
template <class Fn>
bool each_word(const char *s, Fn fn) {
  const char *p = s;
  while (*p) {
    while (*p == ',' || *p == ' ') ++p;
    const char *w = p;
    while (*p && *p != ',') ++p;
    const char *e = p;
    while (e > w && e[-1] == ' ') --e;
    if (e > w && !fn(w, std::size_t(e - w))) return false;
  }
  return true;
}

// ---- LFH_FAULT_CALLERS: which module a return address lies in --------------------------------
// A cache of module ranges ([lo, hi): the span of a loaded object's PT_LOAD segments) and whether
// the module is targeted. Lock-free and never waiting, so it is safe in a fork child and in a
// signal-interrupted thread: a slot is claimed with a fetch_add, filled, then published by its
// `ready` flag (release); readers skip slots not ready. Two threads missing on one module at once
// may both add it (a wasted slot, same answer). When full, lookups fall back to dl_iterate_phdr.
// (A module unloaded with dlclose keeps its slot: another one loaded at the same address later
// inherits its answer — rare enough, and only a targeting error, never a crash.)
struct ModuleSlot {
  std::uintptr_t lo, hi;
  bool targeted;
  std::atomic<bool> ready;
};
constexpr std::uint32_t kModuleSlots = 128;
constinit ModuleSlot g_modules[kModuleSlots] = {};
constinit std::atomic<std::uint32_t> g_module_count{0};

bool name_targeted(const char *path) {
  const char *base = path;
  for (const char *p = path; *p; ++p)
    if (*p == '/') base = p + 1;
  for (int i = 0; i < g_fc.ncallers; ++i)
    if (std::strncmp(base, g_fc.callers[i], g_fc.caller_len[i]) == 0) return true;
  return false;
}

struct FindModule {
  std::uintptr_t pc;
  std::uintptr_t lo, hi;
  bool found, targeted;
};

int find_module_cb(struct dl_phdr_info *info, std::size_t, void *arg) {
  auto *f = static_cast<FindModule *>(arg);
  std::uintptr_t lo = ~std::uintptr_t(0), hi = 0;
  bool inside = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    std::uintptr_t a = info->dlpi_addr + ph.p_vaddr, b = a + ph.p_memsz;
    if (a < lo) lo = a;
    if (b > hi) hi = b;
    if (f->pc >= a && f->pc < b) inside = true;
  }
  if (!inside) return 0;
  f->lo = lo;
  f->hi = hi;
  f->found = true;
  // The main program has no name here: the path it was started by.
  const char *name = info->dlpi_name;
  if (!name || !name[0]) name = os::exe_path();
  f->targeted = name && name_targeted(name);
  return 1;
}

bool module_targeted(std::uintptr_t pc) {
  std::uint32_t n = g_module_count.load(std::memory_order_acquire);
  if (n > kModuleSlots) n = kModuleSlots;
  for (std::uint32_t i = 0; i < n; ++i) {
    const ModuleSlot &m = g_modules[i];
    if (m.ready.load(std::memory_order_acquire) && pc >= m.lo && pc < m.hi) return m.targeted;
  }
  FindModule f{pc, 0, 0, false, false};
  dl_iterate_phdr(find_module_cb, &f);   // the loader's lock (recursive); does not allocate
  if (!f.found) return false;            // not in any loaded object (generated code): not targeted
  std::uint32_t slot = g_module_count.fetch_add(1, std::memory_order_acq_rel);
  if (slot < kModuleSlots) {
    ModuleSlot &m = g_modules[slot];
    m.lo = f.lo;
    m.hi = f.hi;
    m.targeted = f.targeted;
    m.ready.store(true, std::memory_order_release);
  }
  return f.targeted;
}

bool caller_targeted(const void *entry_cfa) {
  void *pc = nullptr;
  // The first return address outside lfh: the program's call into malloc (or new, …).
  if (capture_stack(&pc, 1, entry_cfa) != 1) return false;
  return module_targeted(addr(pc));
}

bool tag_targeted() {
  const std::uint32_t t = thread_tag();
  for (int i = 0; i < g_fc.ntags; ++i)
    if (g_fc.tags[i] == t) return true;
  return false;
}

void print_settings(const char *rate) {
  LineBuf l;
  l.str("lfh: fault injection: rate=").str(rate).str(" seed=").dec(g_fc.seed);
  l.str(" delay=").dec(g_fc.delay_ns / 1000000).str("ms");
  if (g_fc.size_min != 0 || g_fc.size_max != ~std::size_t(0)) {
    l.str(" sizes=").dec(g_fc.size_min).chr('-');
    if (g_fc.size_max == ~std::size_t(0)) l.str("max");
    else l.dec(g_fc.size_max);
  }
  if (g_fc.ntags) {
    l.str(" tags=");
    for (int i = 0; i < g_fc.ntags; ++i) {
      char t[5];
      tag_text(g_fc.tags[i], t);
      l.str(i ? "," : "").str(t);
    }
  }
  if (g_fc.ncallers) {
    l.str(" callers=");
    for (int i = 0; i < g_fc.ncallers; ++i) l.str(i ? "," : "").str(g_fc.callers[i]);
  }
  l.chr('\n');
  os::write_all(2, l.data(), l.size());
}

}  // namespace

bool fault_init() {
  const char *rate = option_str(Opt::fault_rate);
  if (!rate || !*rate) return false;
  FaultConfig c;
  if (!parse_rate(rate, &c.threshold)) {
    complain("LFH_FAULT_RATE", rate, "a fraction from 0 to 1 such as 0.05, or a percentage such as 5%");
    return false;
  }
  if (c.threshold == 0) return false;
  const char *seed = option_str(Opt::fault_seed);
  if (seed && *seed && !parse_seed(seed, &c.seed)) {
    complain("LFH_FAULT_SEED", seed, "a number");
    seed = nullptr;
  }
  if (!seed || !*seed) c.seed = splitmix64(os::now_ns() ^ (std::uint64_t(os::pid()) << 32));   // printed with LFH_VERBOSE
  c.delay_ns = option_u64(Opt::fault_delay_ms) * 1000000;
  if (const char *s = option_str(Opt::fault_sizes); s && *s && !parse_size_range(s, &c.size_min, &c.size_max)) {
    complain("LFH_FAULT_SIZES", s, "MIN-MAX, MIN- or -MAX");
    c.size_min = 0;
    c.size_max = ~std::size_t(0);
  }
  if (const char *s = option_str(Opt::fault_tags); s && *s) {
    const bool ok = each_word(s, [&](const char *w, std::size_t n) {
      if (n > 4 || c.ntags == kMaxTags) return false;
      c.tags[c.ntags++] = tag_from_text(w, n);
      return true;
    });
    if (!ok || c.ntags == 0) {
      complain("LFH_FAULT_TAGS", s, "a comma list of up to 16 tags of 1 to 4 characters");
      c.ntags = 0;
    }
  }
  if (const char *s = option_str(Opt::fault_callers); s && *s) {
    const bool ok = each_word(s, [&](const char *w, std::size_t n) {
      if (n >= kCallerChars || c.ncallers == kMaxCallers) return false;
      std::memcpy(c.callers[c.ncallers], w, n);
      c.callers[c.ncallers][n] = 0;
      c.caller_len[c.ncallers++] = n;
      return true;
    });
    if (!ok || c.ncallers == 0) {
      complain("LFH_FAULT_CALLERS", s, "a comma list of up to 16 module names such as libsqlite3.so,python3");
      c.ncallers = 0;
    }
  }
  g_fc = c;
  g_start_ns = os::now_ns();
  g_armed.store(c.delay_ns == 0, std::memory_order_relaxed);
  if (c.ncallers) stack_init();   // lfh's own text range, for the first frame outside lfh (idempotent)
  if (option_bool(Opt::verbose)) print_settings(rate);
  g_fault_on = true;   // published to other threads by the debug layer's release of g_active
  return true;
}

LFH_NOINLINE bool fault_decide(std::size_t n, const void *entry_cfa) {
  if (os::in_lfh_libc_call()) return false;   // lfh's own (os.h): no failure, no index
  if (LFH_UNLIKELY(t_ordinal == 0)) {
    t_ordinal = g_next_ordinal.fetch_add(1, std::memory_order_relaxed) + 1;
    t_key = splitmix64(g_fc.seed ^ splitmix64(t_ordinal));
  }
  const std::uint64_t i = t_next++;
  if ((splitmix64(t_key + i * kGolden) >> 1) >= g_fc.threshold) return false;
  // Picked by the draw: now the filters, cheapest first.
  if (!g_armed.load(std::memory_order_relaxed)) {
    if (os::now_ns() - g_start_ns < g_fc.delay_ns) return false;
    g_armed.store(true, std::memory_order_relaxed);
  }
  if (n < g_fc.size_min || n > g_fc.size_max) return false;
  if (g_fc.ntags && !tag_targeted()) return false;
  if (g_fc.ncallers && !caller_targeted(entry_cfa)) return false;
  g_injected.fetch_add(1, std::memory_order_relaxed);
  errno = ENOMEM;
  return true;
}

std::uint64_t faults_injected() { return g_injected.load(std::memory_order_relaxed); }

}  // namespace lfh::debug
