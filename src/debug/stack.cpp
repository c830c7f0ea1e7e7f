// debug/stack.cpp — stack capture (cached CFI unwinder, libgcc fallback) and the stack depot.
#include "debug/stack.h"

#include <link.h>
#include <unwind.h>

#include <atomic>
#include <cstring>

#include "base/bits.h"
#include "os/mutex.h"
#include "os/signals.h"
#include "vm/vm.h"

// libgcc's FDE lookup (exported by libgcc_s since GCC 3.0 and present in libgcc_eh): the
// frame-description entry covering pc, and in bases->func the start of its function.
struct dwarf_eh_bases {
  void *tbase;
  void *dbase;
  void *func;
};
extern "C" const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

namespace lfh::debug {
namespace {

thread_local bool t_in_capture __attribute__((tls_model("initial-exec"))) = false;
thread_local std::uint32_t t_tid __attribute__((tls_model("initial-exec"))) = 0;
constinit bool g_force_slow = false;

// lfh's own code when it is a shared object (LD_PRELOAD): return addresses there are skipped.
constinit std::uintptr_t g_self_lo = 0, g_self_hi = 0;

// Is the return address `pc`, stored at cfa-8, one of lfh's own (skipped at the top of a
// stack)? `entry` is the CFA of the debug entry point, with bit 0 set when that entry may have
// been reached by a tail call (its return address is then the program's). As a shared object,
// lfh knows its text range and nothing else is needed; linked statically, frames up to the
// entry are lfh's, and so is the entry's return address unless it was tail-called.
inline bool is_lfh_frame(std::uintptr_t pc, std::uintptr_t cfa, std::uintptr_t entry) {
  if (g_self_hi) return (pc >= g_self_lo && pc < g_self_hi) || cfa < (entry & ~std::uintptr_t(1));
  if (entry & 1) return cfa < (entry & ~std::uintptr_t(1));
  return cfa <= entry;
}

// ---- the rule cache ---------------------------------------------------------------------------
// A rule, packed in 64 bits:
//   bit 0 valid; bits 1-2 CFA kind (0 rsp+off, 1 rbp+off, 2 *(rbp+off), 3 not expressible);
//   bit 3 outermost frame (return address undefined); bit 4 caller's rbp saved;
//   bits 8-15 return-address offset from CFA / 8 (signed); bits 16-31 rbp save offset / 8 (signed);
//   bits 32-63 CFA offset (signed).
using Rule = std::uint64_t;
constexpr Rule kValid = 1, kOutermost = 8, kRbpSaved = 16;
constexpr unsigned kKindRsp = 0, kKindRbp = 1, kKindRbpDeref = 2, kKindComplex = 3;

constexpr Rule make_rule(unsigned kind, std::int32_t cfa_off, bool rbp_saved, std::int32_t rbp_off,
                         std::int32_t ra_off, bool outermost) {
  return kValid | (Rule(kind) << 1) | (outermost ? kOutermost : 0) | (rbp_saved ? kRbpSaved : 0) |
         (Rule(std::uint8_t(std::int8_t(ra_off / 8))) << 8) | (Rule(std::uint16_t(std::int16_t(rbp_off / 8))) << 16) |
         (Rule(std::uint32_t(cfa_off)) << 32);
}
inline unsigned rule_kind(Rule r) { return unsigned(r >> 1) & 3; }
inline std::int32_t rule_cfa_off(Rule r) { return std::int32_t(std::uint32_t(r >> 32)); }
inline std::int32_t rule_rbp_off(Rule r) { return std::int32_t(std::int16_t(std::uint16_t(r >> 16))) * 8; }
inline std::int32_t rule_ra_off(Rule r) { return std::int32_t(std::int8_t(std::uint8_t(r >> 8))) * 8; }
constexpr Rule kComplex = kValid | (Rule(kKindComplex) << 1);
constexpr Rule kNoInfo = kValid | kOutermost;   // no CFI: the stack ends here

struct CacheEntry {
  std::atomic<std::uintptr_t> pc;
  std::atomic<Rule> rule;
};
constexpr std::size_t kCacheEntries = std::size_t(1) << 15;   // 512 KB, touched as used
constexpr int kCacheProbes = 16;
constinit CacheEntry *g_cache = nullptr;

#if defined(__x86_64__)
constexpr unsigned kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

struct Cursor {
  const std::uint8_t *p;
  const std::uint8_t *end;
  bool ok = true;
  std::uint8_t u8() {
    if (p >= end) {
      ok = false;
      return 0;
    }
    return *p++;
  }
  std::uint64_t uleb() {
    std::uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
      std::uint8_t b = u8();
      if (!ok) return 0;
      if (shift < 64) v |= std::uint64_t(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) return v;
    }
  }
  std::int64_t sleb() {
    std::int64_t v = 0;
    unsigned shift = 0;
    std::uint8_t b;
    do {
      b = u8();
      if (!ok) return 0;
      if (shift < 64) v |= std::int64_t(b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -(std::int64_t(1) << shift);
    return v;
  }
  std::uint64_t fixed(unsigned bytes) {
    if (std::size_t(end - p) < bytes) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    std::memcpy(&v, p, bytes);
    p += bytes;
    return v;
  }
  // A pointer in DW_EH_PE encoding `enc` (only its value format matters: callers add bases).
  std::uint64_t encoded(std::uint8_t enc) {
    if (enc == 0xff) return 0;   // DW_EH_PE_omit
    const std::uint8_t *at = p;
    std::uint64_t v;
    switch (enc & 0x0f) {
      case 0x00: v = fixed(8); break;                                      // absptr
      case 0x01: v = uleb(); break;                                        // uleb128
      case 0x02: v = fixed(2); break;                                      // udata2
      case 0x03: v = fixed(4); break;                                      // udata4
      case 0x04: v = fixed(8); break;                                      // udata8
      case 0x09: v = std::uint64_t(sleb()); break;                         // sleb128
      case 0x0a: v = std::uint64_t(std::int64_t(std::int16_t(fixed(2)))); break;
      case 0x0b: v = std::uint64_t(std::int64_t(std::int32_t(fixed(4)))); break;
      case 0x0c: v = fixed(8); break;
      default: ok = false; return 0;
    }
    if ((enc & 0x70) == 0x10) v += std::uint64_t(addr(at));   // pcrel
    return v;
  }
};

// The CFI state the unwinder needs.
struct Row {
  unsigned cfa_kind = kKindRsp;
  std::int64_t cfa_off = 8;
  int rbp_rule = 0;   // 0 same value, 1 saved at CFA+rbp_off, 2 not expressible
  std::int64_t rbp_off = 0;
  int ra_rule = 1;    // 1 saved at CFA+ra_off, 0 undefined (outermost), 2 not expressible
  std::int64_t ra_off = -8;
};

struct Cie {
  std::uint64_t code_align = 1;
  std::int64_t data_align = -8;
  std::uint64_t ra_reg = kRegRa;
  std::uint8_t fde_enc = 0;
  bool has_z = false;
  bool signal_frame = false;
  const std::uint8_t *insns = nullptr, *insns_end = nullptr;
};

bool parse_cie(const std::uint8_t *at, Cie *c) {
  std::uint32_t len;
  std::memcpy(&len, at, 4);
  if (len == 0 || len == 0xffffffffu) return false;
  Cursor cur{at + 4, at + 4 + len};
  if (cur.fixed(4) != 0) return false;   // CIE id in .eh_frame
  std::uint8_t version = cur.u8();
  const char *aug = reinterpret_cast<const char *>(cur.p);
  while (cur.p < cur.end && *cur.p) ++cur.p;
  cur.u8();
  if (aug[0] && aug[0] != 'z') return false;   // "eh" and other ancient forms
  c->code_align = cur.uleb();
  c->data_align = cur.sleb();
  c->ra_reg = version == 1 ? cur.u8() : cur.uleb();
  if (aug[0] == 'z') {
    c->has_z = true;
    std::uint64_t alen = cur.uleb();
    const std::uint8_t *aend = cur.p + alen;
    for (const char *a = aug + 1; *a && cur.ok; ++a) {
      if (*a == 'R') c->fde_enc = cur.u8();
      else if (*a == 'P') cur.encoded(cur.u8());
      else if (*a == 'L') cur.u8();
      else if (*a == 'S') c->signal_frame = true;
      else if (*a == 'B') {
      } else break;
    }
    cur.p = aend;
  }
  c->insns = cur.p;
  c->insns_end = cur.end;
  return cur.ok && cur.p <= cur.end;
}

// Run CFA instructions [p, end) from location `loc` while loc <= target. `initial` is the row
// after the CIE's instructions (for DW_CFA_restore). Returns false when something is not
// expressible in a Rule.
bool run_cfa(const std::uint8_t *p, const std::uint8_t *end, const Cie &cie, std::uintptr_t *loc,
             std::uintptr_t target, Row *row, const Row &initial, bool stop_at_target) {
  Cursor c{p, end};
  Row stack[8];
  int depth = 0;
  auto set_reg_offset = [&](std::uint64_t reg, std::int64_t off) {
    if (reg == kRegRbp) {
      row->rbp_rule = 1;
      row->rbp_off = off;
    } else if (reg == cie.ra_reg) {
      row->ra_rule = 1;
      row->ra_off = off;
    }
  };
  auto reg_complex = [&](std::uint64_t reg) {
    if (reg == kRegRbp) row->rbp_rule = 2;
    else if (reg == cie.ra_reg) row->ra_rule = 2;
  };
  auto restore_reg = [&](std::uint64_t reg) {
    if (reg == kRegRbp) {
      row->rbp_rule = initial.rbp_rule;
      row->rbp_off = initial.rbp_off;
    } else if (reg == cie.ra_reg) {
      row->ra_rule = initial.ra_rule;
      row->ra_off = initial.ra_off;
    }
  };
  auto advance = [&](std::uint64_t delta) {
    *loc += delta * cie.code_align;
    return !(stop_at_target && *loc > target);
  };
  while (c.p < c.end && c.ok) {
    std::uint8_t op = c.u8();
    std::uint8_t hi = op & 0xc0, lo = op & 0x3f;
    if (hi == 0x40) {
      if (!advance(lo)) return true;
      continue;
    }
    if (hi == 0x80) {
      set_reg_offset(lo, std::int64_t(c.uleb()) * cie.data_align);
      continue;
    }
    if (hi == 0xc0) {
      restore_reg(lo);
      continue;
    }
    switch (op) {
      case 0x00: break;                                                         // nop
      case 0x01: *loc = std::uintptr_t(c.encoded(cie.fde_enc)); if (stop_at_target && *loc > target) return true; break;
      case 0x02: if (!advance(c.u8())) return true; break;                      // advance_loc1
      case 0x03: if (!advance(c.fixed(2))) return true; break;
      case 0x04: if (!advance(c.fixed(4))) return true; break;
      case 0x05: { std::uint64_t r = c.uleb(); set_reg_offset(r, std::int64_t(c.uleb()) * cie.data_align); break; }
      case 0x06: restore_reg(c.uleb()); break;                                  // restore_extended
      case 0x07: {                                                              // undefined
        std::uint64_t r = c.uleb();
        if (r == cie.ra_reg) row->ra_rule = 0;
        else if (r == kRegRbp) row->rbp_rule = 2;
        break;
      }
      case 0x08: {                                                              // same_value
        std::uint64_t r = c.uleb();
        if (r == kRegRbp) row->rbp_rule = 0;
        else if (r == cie.ra_reg) row->ra_rule = 2;
        break;
      }
      case 0x09: { std::uint64_t r = c.uleb(); c.uleb(); reg_complex(r); break; }   // register
      case 0x0a:                                                                // remember_state
        if (depth == 8) return false;
        stack[depth++] = *row;
        break;
      case 0x0b:                                                                // restore_state
        if (depth == 0) return false;
        *row = stack[--depth];   // the CFA rule too, as GCC's unwinder does (epilogues rely on it)
        break;
      case 0x0c: {                                                              // def_cfa
        std::uint64_t r = c.uleb();
        std::int64_t off = std::int64_t(c.uleb());
        row->cfa_kind = r == kRegRsp ? kKindRsp : r == kRegRbp ? kKindRbp : kKindComplex;
        row->cfa_off = off;
        break;
      }
      case 0x0d: {                                                              // def_cfa_register
        std::uint64_t r = c.uleb();
        row->cfa_kind = r == kRegRsp ? kKindRsp : r == kRegRbp ? kKindRbp : kKindComplex;
        break;
      }
      case 0x0e: row->cfa_off = std::int64_t(c.uleb()); break;                  // def_cfa_offset
      case 0x0f: {                                                              // def_cfa_expression
        std::uint64_t n = c.uleb();
        const std::uint8_t *e = c.p;
        c.p += n;
        // GCC's DRAP frames: DW_OP_breg6 <off>; DW_OP_deref  →  CFA = *(rbp + off).
        Cursor x{e, e + n};
        if (n >= 3 && x.u8() == 0x76) {
          std::int64_t off = x.sleb();
          if (x.ok && x.p + 1 == x.end && *x.p == 0x06) {
            row->cfa_kind = kKindRbpDeref;
            row->cfa_off = off;
            break;
          }
        }
        row->cfa_kind = kKindComplex;
        break;
      }
      case 0x10: { std::uint64_t r = c.uleb(); c.p += c.uleb(); reg_complex(r); break; }   // expression
      case 0x11: { std::uint64_t r = c.uleb(); set_reg_offset(r, c.sleb() * cie.data_align); break; }
      case 0x12: {                                                              // def_cfa_sf
        std::uint64_t r = c.uleb();
        std::int64_t off = c.sleb() * cie.data_align;
        row->cfa_kind = r == kRegRsp ? kKindRsp : r == kRegRbp ? kKindRbp : kKindComplex;
        row->cfa_off = off;
        break;
      }
      case 0x13: row->cfa_off = c.sleb() * cie.data_align; break;               // def_cfa_offset_sf
      case 0x14: { std::uint64_t r = c.uleb(); c.uleb(); reg_complex(r); break; }    // val_offset
      case 0x15: { std::uint64_t r = c.uleb(); c.sleb(); reg_complex(r); break; }    // val_offset_sf
      case 0x16: { std::uint64_t r = c.uleb(); c.p += c.uleb(); reg_complex(r); break; }   // val_expression
      case 0x2e: c.uleb(); break;                                               // GNU_args_size
      case 0x2f: { std::uint64_t r = c.uleb(); set_reg_offset(r, -std::int64_t(c.uleb()) * cie.data_align); break; }
      default: return false;
    }
  }
  return c.ok;
}

// Compute the rule for `pc`: `is_return` pcs are looked up at pc-1 (inside the call).
Rule compute_rule(std::uintptr_t pc, bool is_return) {
  dwarf_eh_bases bases{};
  std::uintptr_t look = is_return ? pc - 1 : pc;
  const auto *fde = static_cast<const std::uint8_t *>(_Unwind_Find_FDE(ptr(look), &bases));
  if (!fde) return kNoInfo;
  std::uint32_t len, cie_off;
  std::memcpy(&len, fde, 4);
  if (len == 0 || len == 0xffffffffu) return kComplex;
  std::memcpy(&cie_off, fde + 4, 4);
  Cie cie;
  if (!parse_cie(fde + 4 - cie_off, &cie)) return kComplex;
  if (cie.signal_frame) return kComplex;
  Cursor cur{fde + 8, fde + 4 + len};
  cur.encoded(cie.fde_enc);                        // pc_begin (bases.func has it decoded)
  cur.encoded(std::uint8_t(cie.fde_enc & 0x0f));   // pc_range
  if (cie.has_z) cur.p += cur.uleb();
  if (!cur.ok) return kComplex;
  Row row;
  std::uintptr_t loc = addr(bases.func);
  if (!run_cfa(cie.insns, cie.insns_end, cie, &loc, look, &row, row, false)) return kComplex;
  Row initial = row;
  loc = addr(bases.func);
  if (!run_cfa(cur.p, cur.end, cie, &loc, look, &row, initial, true)) return kComplex;
  if (row.cfa_kind == kKindComplex || row.rbp_rule == 2 || row.ra_rule == 2) return kComplex;
  if (row.ra_rule == 0) return kValid | kOutermost;
  if (row.cfa_off < INT32_MIN || row.cfa_off > INT32_MAX || row.rbp_off % 8 || row.ra_off % 8 ||
      row.rbp_off < -32768 * 8 || row.rbp_off > 32767 * 8 || row.ra_off < -128 * 8 || row.ra_off > 127 * 8)
    return kComplex;
  return make_rule(row.cfa_kind, std::int32_t(row.cfa_off), row.rbp_rule == 1, std::int32_t(row.rbp_off),
                   std::int32_t(row.ra_off), false);
}

Rule rule_for(std::uintptr_t pc, bool is_return) {
  if (!g_cache) return compute_rule(pc, is_return);
  std::size_t h = std::size_t((pc * 0x9e3779b97f4a7c15ull) >> 49) & (kCacheEntries - 1);
  for (int i = 0; i < kCacheProbes; ++i) {
    CacheEntry &e = g_cache[(h + std::size_t(i)) & (kCacheEntries - 1)];
    std::uintptr_t k = e.pc.load(std::memory_order_acquire);
    if (k == pc) {
      Rule r = e.rule.load(std::memory_order_acquire);
      if (r) return r;
      return compute_rule(pc, is_return);   // being filled in by another thread
    }
    if (k == 0) {
      Rule r = compute_rule(pc, is_return);
      std::uintptr_t expected = 0;
      if (e.pc.compare_exchange_strong(expected, pc, std::memory_order_acq_rel)) {
        e.rule.store(r, std::memory_order_release);
        return r;
      }
      if (expected == pc) return r;
    }
  }
  return compute_rule(pc, is_return);   // the neighbourhood is full: do not cache
}

// One unwinding step. False at the end of the stack or when the rule is not expressible
// (*complex set then).
inline bool step(std::uintptr_t *pc, std::uintptr_t *sp, std::uintptr_t *bp, std::uintptr_t *cfa_out,
                 bool is_return, bool *complex) {
  Rule r = rule_for(*pc, is_return);
  if (rule_kind(r) == kKindComplex) {
    *complex = true;
    return false;
  }
  if (r & kOutermost) return false;
  std::uintptr_t cfa;
  switch (rule_kind(r)) {
    case kKindRsp: cfa = *sp + std::uintptr_t(std::intptr_t(rule_cfa_off(r))); break;
    case kKindRbp: cfa = *bp + std::uintptr_t(std::intptr_t(rule_cfa_off(r))); break;
    default: {
      std::uintptr_t at = *bp + std::uintptr_t(std::intptr_t(rule_cfa_off(r)));
      if (at < *sp || (at & 7)) return false;
      cfa = *reinterpret_cast<const std::uintptr_t *>(at);
      break;
    }
  }
  // The CFA lies above the frame's stack pointer, on the same stack, 8-byte aligned.
  if (cfa <= *sp || cfa - *sp > (std::uintptr_t(1) << 28) || (cfa & 7)) return false;
  std::uintptr_t ra = *reinterpret_cast<const std::uintptr_t *>(cfa + std::uintptr_t(std::intptr_t(rule_ra_off(r))));
  if (r & kRbpSaved) *bp = *reinterpret_cast<const std::uintptr_t *>(cfa + std::uintptr_t(std::intptr_t(rule_rbp_off(r))));
  *sp = cfa;
  *pc = ra;
  *cfa_out = cfa;
  return ra != 0;
}
#endif  // __x86_64__

// ---- libgcc fallback --------------------------------------------------------------------------
struct SlowState {
  void **out;
  int n, max;
  std::uintptr_t entry_cfa;
};

_Unwind_Reason_Code slow_cb(struct _Unwind_Context *ctx, void *arg) {
  auto *s = static_cast<SlowState *>(arg);
  std::uintptr_t ip = _Unwind_GetIP(ctx);
  // libgcc's context for a frame F carries the CFA its callee computed — where the return
  // address into F (this ip) was stored, plus 8: the same pairing the cached unwinder uses.
  std::uintptr_t stored_at = _Unwind_GetCFA(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  if (s->n == 0 && is_lfh_frame(ip, stored_at, s->entry_cfa)) return _URC_NO_REASON;
  s->out[s->n++] = ptr(ip);
  return s->n >= s->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

__attribute__((noinline)) int slow_unwind(void **out, int max, std::uintptr_t entry_cfa) {
  SlowState s{out, 0, max, entry_cfa};
  _Unwind_Backtrace(slow_cb, &s);
  return s.n;
}

// ---- depot ------------------------------------------------------------------------------------
struct DepotRec {
  std::uint32_t hash;
  std::uint32_t n;
  void *frames[1];
};
constexpr std::size_t kDepotSlots = std::size_t(1) << 20;     // 4 MB of ids, touched as used
constexpr std::size_t kDepotReserve = std::size_t(1) << 30;   // 1 GB of address space for stacks
constexpr std::size_t kDepotCommitStep = std::size_t(1) << 20;
constinit std::atomic<std::uint32_t> *g_slots = nullptr;
constinit char *g_store = nullptr;
constinit std::size_t g_store_used = 8;   // offset 0 is never a record (id 0 means none)
constinit std::size_t g_store_committed = 0;
constinit os::Mutex g_depot_lock;

std::uint32_t hash_frames(void *const *f, int n) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ std::uint64_t(n);
  for (int i = 0; i < n; ++i) {
    h ^= addr(f[i]);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return std::uint32_t(h) | 1;
}

const DepotRec *rec_of(std::uint32_t id) {
  std::size_t off = std::size_t(id) * 8;
  // Ids come from block headers, which a wild write may have changed: bound them.
  if (!g_store || off >= __atomic_load_n(&g_store_used, __ATOMIC_ACQUIRE)) return nullptr;
  return reinterpret_cast<const DepotRec *>(g_store + off);
}

bool same(const DepotRec *r, std::uint32_t h, void *const *f, int n) {
  if (r->hash != h || r->n != std::uint32_t(n)) return false;
  for (int i = 0; i < n; ++i)
    if (r->frames[i] != f[i]) return false;
  return true;
}

}  // namespace

void stack_init() {
  // Where is lfh's code? If it is a shared object, its text range.
  struct Ctx {
    std::uintptr_t self;
    std::uintptr_t lo, hi;
  } ctx{addr(reinterpret_cast<const void *>(&stack_init)), 0, 0};
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, std::size_t, void *arg) -> int {
        auto *c = static_cast<Ctx *>(arg);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
          std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
          if (c->self >= lo && c->self < hi) {
            // The main program (name "") holds lfh when it is statically linked: no range then.
            if (info->dlpi_name && info->dlpi_name[0]) {
              c->lo = lo;
              c->hi = hi;
            }
            return 1;
          }
        }
        return 0;
      },
      &ctx);
  g_self_lo = ctx.lo;
  g_self_hi = ctx.hi;
#if defined(__x86_64__)
  if (!g_cache) g_cache = static_cast<CacheEntry *>(vm::reserve_committed(kCacheEntries * sizeof(CacheEntry)));
#endif
  if (!g_slots) {
    g_slots = static_cast<std::atomic<std::uint32_t> *>(vm::reserve_committed(kDepotSlots * 4));
    g_store = static_cast<char *>(vm::reserve(kDepotReserve));
    if (!g_slots || !g_store) g_slots = nullptr;
  }
}

void stack_force_slow_unwinder(bool on) { g_force_slow = on; }
void stack_fork_prepare() { g_depot_lock.lock(); }
void stack_fork_parent() { g_depot_lock.unlock(); }
void stack_fork_child() {
  g_depot_lock.reset_after_fork();
  t_tid = 0;   // the child's only thread has an id of its own
}

std::uint32_t self_tid() {
  if (LFH_UNLIKELY(t_tid == 0)) t_tid = os::kernel_tid();
  return t_tid;
}

__attribute__((noinline)) int capture_stack(void **out, int max, const void *entry_cfa) {
  if (max <= 0 || t_in_capture) return 0;
  t_in_capture = true;
  if (max > kMaxFrames) max = kMaxFrames;
  int n = 0;
  const std::uintptr_t entry = addr(entry_cfa);
#if defined(__x86_64__)
  if (!g_force_slow) {
    std::uintptr_t pc, sp, bp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(pc), "=r"(sp), "=r"(bp));
    bool complex = false, first = true;
    std::uintptr_t cfa = 0;
    int guard = 0;
    while (n < max && ++guard < 512) {
      if (!step(&pc, &sp, &bp, &cfa, !first, &complex)) break;
      first = false;
      // pc is now the return address stored at cfa-8 by the frame whose CFA is `cfa`.
      if (n == 0 && is_lfh_frame(pc, cfa, entry)) continue;
      out[n++] = ptr(pc);
    }
    if (!complex) {
      t_in_capture = false;
      return n;
    }
    n = 0;
  }
#endif
  n = slow_unwind(out, max, entry);
  t_in_capture = false;
  return n;
}

#if defined(__x86_64__)
// The thread's last call_site walk that took one step: from a return address `ra0` (into the
// api/ function that called the entry) the program's return address was `off` bytes above the
// entry's CFA. The step depends only on ra0's frame (a fixed CFA offset at a given pc), so a
// memo hit skips the rule lookup; what it finds is still checked to be outside lfh.
struct SiteMemo {
  std::uintptr_t ra0;
  std::uintptr_t off;
};
constinit thread_local SiteMemo t_site_memo __attribute__((tls_model("initial-exec"))) = {0, 0};
#endif

bool outside_lfh_code(std::uintptr_t pc) { return g_self_hi && (pc < g_self_lo || pc >= g_self_hi); }

std::uintptr_t call_site(const void *entry_cfa) {
#if defined(__x86_64__)
  if (!g_force_slow && !t_in_capture) {
    // Start at the entry's CFA: its return address is stored just below it. Only frames whose
    // CFA is rsp-based are stepped (the caller's rbp is not known here); anything else takes
    // the full capture below.
    const std::uintptr_t entry = addr(entry_cfa);
    std::uintptr_t cfa = entry & ~std::uintptr_t(1);
    std::uintptr_t pc = *reinterpret_cast<const std::uintptr_t *>(cfa - 8);
    const SiteMemo memo = t_site_memo;
    if (memo.ra0 == pc && pc) {
      const std::uintptr_t at = cfa + memo.off;
      const std::uintptr_t ra = *reinterpret_cast<const std::uintptr_t *>(at - 8);
      if (is_lfh_frame(pc, cfa, entry) && !is_lfh_frame(ra, at, entry)) return ra;
    }
    const std::uintptr_t ra0 = pc;
    for (int guard = 0; guard < 16 && pc; ++guard) {
      if (!is_lfh_frame(pc, cfa, entry)) {
        if (guard == 1) t_site_memo = {ra0, cfa - (entry & ~std::uintptr_t(1))};
        return pc;
      }
      const Rule r = rule_for(pc, true);
      if (rule_kind(r) != kKindRsp || (r & kOutermost)) break;
      const std::uintptr_t next = cfa + std::uintptr_t(std::intptr_t(rule_cfa_off(r)));
      if (next <= cfa || next - cfa > (std::uintptr_t(1) << 28) || (next & 7)) break;
      pc = *reinterpret_cast<const std::uintptr_t *>(next + std::uintptr_t(std::intptr_t(rule_ra_off(r))));
      cfa = next;
    }
  }
#endif
  void *ra = nullptr;
  return capture_stack(&ra, 1, entry_cfa) == 1 ? addr(ra) : 0;
}

int capture_from_context(void *pc_in, void *sp_in, void *fp_in, void **out, int max) {
  if (max <= 0) return 0;
  int n = 0;
  out[n++] = pc_in;
#if defined(__x86_64__)
  std::uintptr_t pc = addr(pc_in), sp = addr(sp_in), bp = addr(fp_in), cfa = 0;
  bool complex = false, first = true;
  while (n < max) {
    // The faulting pc is not a return address: its own row applies.
    if (!step(&pc, &sp, &bp, &cfa, !first, &complex)) break;
    first = false;
    out[n++] = ptr(pc);
  }
#else
  (void)sp_in;
  (void)fp_in;
#endif
  return n;
}

std::uint32_t depot_put(void *const *frames, int n) {
  if (n <= 0 || !g_slots) return 0;
  std::uint32_t h = hash_frames(frames, n);
  std::size_t i = h & (kDepotSlots - 1);
  for (int probe = 0; probe < 64; ++probe, i = (i + 1) & (kDepotSlots - 1)) {
    std::uint32_t id = g_slots[i].load(std::memory_order_acquire);
    if (id == 0) break;
    if (const DepotRec *r = rec_of(id); r && same(r, h, frames, n)) return id;
  }
  // Not there: insert under the lock (probing again from the start: another thread may have).
  os::LockGuard g(g_depot_lock);
  i = h & (kDepotSlots - 1);
  for (int probe = 0; probe < 64; ++probe, i = (i + 1) & (kDepotSlots - 1)) {
    std::uint32_t id = g_slots[i].load(std::memory_order_acquire);
    if (id != 0) {
      if (const DepotRec *r = rec_of(id); r && same(r, h, frames, n)) return id;
      continue;
    }
    std::size_t bytes = align_up(8 + std::size_t(n) * sizeof(void *), 8);
    if (g_store_used + bytes > kDepotReserve) return 0;
    while (g_store_used + bytes > g_store_committed) {
      if (!vm::commit(g_store + g_store_committed, kDepotCommitStep)) return 0;
      g_store_committed += kDepotCommitStep;
    }
    auto *r = reinterpret_cast<DepotRec *>(g_store + g_store_used);
    r->hash = h;
    r->n = std::uint32_t(n);
    std::memcpy(r->frames, frames, std::size_t(n) * sizeof(void *));
    std::uint32_t nid = std::uint32_t(g_store_used / 8);
    __atomic_store_n(&g_store_used, g_store_used + bytes, __ATOMIC_RELEASE);
    g_slots[i].store(nid, std::memory_order_release);
    return nid;
  }
  return 0;   // the table is locally full
}

int depot_get(std::uint32_t id, void *const **frames) {
  const DepotRec *r = id ? rec_of(id) : nullptr;
  if (!r) {
    *frames = nullptr;
    return 0;
  }
  *frames = r->frames;
  return int(r->n);
}

}  // namespace lfh::debug
