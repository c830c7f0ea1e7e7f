#include "debug/config.h"

#include "base/format.h"
#include "base/options.h"
#include "os/os.h"

namespace lfh::debug {

constinit Config g_cfg;

namespace {

bool eq(const char *a, std::size_t n, const char *b) {
  std::size_t i = 0;
  for (; i < n && b[i]; ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return i == n && b[i] == 0;
}

void complain(const char *var, const char *value, const char *expected) {
  LineBuf l;
  l.str("lfh: ").str(var).chr('=').str(value).str(" not understood (expected ").str(expected).str("); ignored\n");
  os::write_all(2, l.data(), l.size());
}

}  // namespace

bool parse_size_range(const char *s, std::size_t *lo, std::size_t *hi) {
  char buf[64];
  std::size_t n = 0;
  const char *dash = nullptr;
  for (const char *p = s; *p; ++p)
    if (*p == '-') {
      if (dash) return false;
      dash = p;
    }
  if (!dash) return false;
  std::uint64_t v;
  *lo = 0;
  *hi = ~std::size_t(0);
  for (const char *p = s; p < dash && n < sizeof buf - 1; ++p) buf[n++] = *p;
  buf[n] = 0;
  if (n) {
    if (!parse_size(buf, &v)) return false;
    *lo = std::size_t(v);
  }
  if (dash[1]) {
    if (!parse_size(dash + 1, &v)) return false;
    *hi = std::size_t(v);
  }
  return *lo <= *hi;
}

void load_config() {
  Config c;
  if (const char *s = option_str(Opt::pageheap)) {
    std::size_t n = 0;
    while (s[n]) ++n;
    if (eq(s, n, "full")) c.pageheap = PageHeap::kFull;
    else if (eq(s, n, "normal")) c.pageheap = PageHeap::kNormal;
    else if (!(eq(s, n, "off") || eq(s, n, "0") || n == 0)) complain("LFH_PAGEHEAP", s, "off, normal or full");
  }
  std::uint64_t sample = option_u64(Opt::pageheap_sample);
  c.sample = sample == 0 ? 1 : (sample > 0xffffffffu ? 0xffffffffu : std::uint32_t(sample));
  c.underrun = option_bool(Opt::pageheap_underrun);
  if (const char *s = option_str(Opt::pageheap_sizes)) {
    if (*s && !parse_size_range(s, &c.size_min, &c.size_max)) {
      complain("LFH_PAGEHEAP_SIZES", s, "MIN-MAX, MIN- or -MAX");
      c.size_min = 0;
      c.size_max = ~std::size_t(0);
    }
  }
  c.free_delay = std::size_t(option_u64(Opt::pageheap_free_delay));
  std::uint64_t a = option_u64(Opt::pageheap_align);
  if (a == 0 || a > 4096 || (a & (a - 1)) != 0) {
    LineBuf v;
    v.dec(a).chr(0);
    complain("LFH_PAGEHEAP_ALIGN", v.data(), "a power of two from 1 to 4096");
    a = 16;
  }
  c.align = std::size_t(a);
  if (const char *s = option_str(Opt::debug_checks)) {
    // Comma (or space, '+', ':') separated words; one unknown word voids the whole variable.
    bool tail = false, free_fill = false, params = false, validate = false, ok = true;
    const char *p = s;
    while (*p && ok) {
      while (*p == ',' || *p == ' ' || *p == '+' || *p == ':') ++p;
      const char *w = p;
      while (*p && *p != ',' && *p != ' ' && *p != '+' && *p != ':') ++p;
      std::size_t n = std::size_t(p - w);
      if (!n) continue;
      if (eq(w, n, "tail")) tail = true;
      else if (eq(w, n, "free")) free_fill = true;
      else if (eq(w, n, "params")) params = true;
      else if (eq(w, n, "validate")) validate = true;
      else if (eq(w, n, "all")) tail = free_fill = params = validate = true;
      else if (!(eq(w, n, "off") || eq(w, n, "none") || eq(w, n, "0"))) ok = false;
    }
    if (ok) {
      c.tail = tail;
      c.free_fill = free_fill;
      c.params = params;
      c.validate = validate;
    } else {
      complain("LFH_DEBUG", s, "a comma list of tail, free, params, validate, all");
    }
  }
  c.alloc_fill = c.pageheap != PageHeap::kOff;
  if (const char *s = option_str(Opt::on_error)) {
    std::size_t n = 0;
    while (s[n]) ++n;
    if (eq(s, n, "report")) c.on_error = OnError::kReport;
    else if (eq(s, n, "ignore")) c.on_error = OnError::kIgnore;
    else if (!eq(s, n, "abort") && n) complain("LFH_ON_ERROR", s, "abort, report or ignore");
  }
  std::uint64_t bt = option_u64(Opt::backtrace);
  c.backtrace = bt > 64 ? 64 : std::uint32_t(bt);
  g_cfg = c;
}

}  // namespace lfh::debug
