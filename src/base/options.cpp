#include "base/options.h"

namespace lfh {
namespace {

constexpr OptionInfo kTable[] = {
#define LFH_OPT_ROW(id, env, kind, def, help) {#id, "LFH_" #env, OptKind::kind, std::uint64_t(def), help},
    LFH_OPTIONS(LFH_OPT_ROW)
#undef LFH_OPT_ROW
};
constexpr std::size_t kN = static_cast<std::size_t>(Opt::kCount);
static_assert(sizeof(kTable) / sizeof(kTable[0]) == kN);

// Parsed values; constinit so they are valid (defaults) before any constructor runs.
constinit std::uint64_t g_values[kN] = {
#define LFH_OPT_DEF(id, env, kind, def, help) std::uint64_t(def),
    LFH_OPTIONS(LFH_OPT_DEF)
#undef LFH_OPT_DEF
};
constinit const char *g_strings[kN] = {};
constinit bool g_parsed = false;

// String values are copied here: the environment's own strings may be overwritten after lfh read
// them (programs that set their process title reuse that memory: redis-server, nginx, …).
constexpr std::size_t kTextBytes = 8192;
constinit char g_text[kTextBytes] = {};
constinit std::size_t g_text_used = 0;

const char *keep(const char *v) {
  std::size_t n = 0;
  while (v[n]) ++n;
  if (g_text_used + n + 1 > kTextBytes) return v;   // no room left: point at the environment
  char *d = g_text + g_text_used;
  for (std::size_t k = 0; k <= n; ++k) d[k] = v[k];
  g_text_used += n + 1;
  return d;
}

bool eq_nocase(const char *a, const char *b) {
  for (; *a && *b; ++a, ++b) {
    char x = *a, y = *b;
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return *a == *b;
}

// If `entry` is "NAME=value", return value.
const char *match(const char *entry, const char *name) {
  while (*name && *entry == *name) ++entry, ++name;
  return (*name == 0 && *entry == '=') ? entry + 1 : nullptr;
}

}  // namespace

const OptionInfo &option_info(Opt o) { return kTable[static_cast<std::size_t>(o)]; }

bool parse_size(const char *s, std::uint64_t *out) {
  if (!s || !*s) return false;
  std::uint64_t v = 0;
  const char *p = s;
  if (*p < '0' || *p > '9') return false;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, std::uint64_t(*p - '0'), &v)) return false;
  }
  std::uint64_t mul = 1;
  switch (*p) {
    case 0: break;
    case 'k': case 'K': mul = 1ull << 10; ++p; break;
    case 'm': case 'M': mul = 1ull << 20; ++p; break;
    case 'g': case 'G': mul = 1ull << 30; ++p; break;
    case 't': case 'T': mul = 1ull << 40; ++p; break;
    default: return false;
  }
  if (*p == 'i' || *p == 'I') ++p;       // accept KiB/MiB
  if (*p == 'b' || *p == 'B') ++p;
  if (*p) return false;
  return !__builtin_mul_overflow(v, mul, out);
}

bool parse_bool(const char *s, std::uint64_t *out) {
  if (!s) return false;
  if (eq_nocase(s, "1") || eq_nocase(s, "on") || eq_nocase(s, "yes") || eq_nocase(s, "true")) { *out = 1; return true; }
  if (eq_nocase(s, "0") || eq_nocase(s, "off") || eq_nocase(s, "no") || eq_nocase(s, "false") || !*s) { *out = 0; return true; }
  return false;
}

void options_init(char **envp, bool force) {
  if (g_parsed && !force) return;
  g_text_used = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    g_values[i] = kTable[i].def;
    g_strings[i] = nullptr;
  }
  for (char **e = envp; e && *e; ++e) {
    if ((*e)[0] != 'L' || (*e)[1] != 'F' || (*e)[2] != 'H' || (*e)[3] != '_') continue;
    for (std::size_t i = 0; i < kN; ++i) {
      const char *v = match(*e, kTable[i].env);
      if (!v) continue;
      std::uint64_t parsed = 0;
      bool ok = true;
      switch (kTable[i].kind) {
        case OptKind::kBool: ok = parse_bool(v, &parsed); break;
        case OptKind::kInt:
        case OptKind::kSize: ok = parse_size(v, &parsed); break;
        case OptKind::kString: g_strings[i] = keep(v); parsed = *v ? 1 : 0; break;
      }
      if (ok) g_values[i] = parsed;   // malformed values keep the default (documented)
    }
  }
  g_parsed = true;
}

std::uint64_t option_u64(Opt o) { return g_values[static_cast<std::size_t>(o)]; }
void option_set(Opt o, std::uint64_t v) { __atomic_store_n(&g_values[static_cast<std::size_t>(o)], v, __ATOMIC_RELAXED); }
const char *option_str(Opt o) { return g_strings[static_cast<std::size_t>(o)]; }

}  // namespace lfh
