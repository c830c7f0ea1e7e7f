// stress_common.h — what the stress programs share: a fast RNG, a heavy-tailed size distribution,
// a block fill pattern derived from the block's address and size (whole block for small blocks,
// a sparse layout touching every page for large ones), and the check that lfh is really loaded.
#pragma once
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace stress {

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  std::uint64_t next() {   // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
};

// 1 B – 4 MB, mostly small: ~70 % ≤ 128 B, ~20 % ≤ 1 KB, ~9.4 % ≤ 16 KB (the LFH), the rest
// above, thinning out: 0.55 % up to 128 KB, 0.04 % up to 1 MB, 0.01 % up to 4 MB (direct blocks).
inline std::size_t heavy_tailed_size(Rng &r) {
  std::uint64_t x = r.below(10000);
  if (x < 7000) return r.between(1, 128);
  if (x < 9000) return r.between(129, 1024);
  if (x < 9940) return r.between(1025, 16384);
  if (x < 9995) return r.between(16385, 131072);
  if (x < 9999) return r.between(131073, 1 << 20);
  return r.between((1 << 20) + 1, 4 << 20);
}

// Resident set size now (VmRSS) and its peak (VmHWM), in bytes, from /proc/self/status; 0 when
// unreadable.
inline std::uint64_t proc_status_kb(const char *key) {
  std::FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  std::uint64_t kb = 0;
  const std::size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') {
      kb = std::strtoull(line + n + 1, nullptr, 10);
      break;
    }
  std::fclose(f);
  return kb;
}
inline std::uint64_t rss_bytes() { return proc_status_kb("VmRSS") << 10; }
inline std::uint64_t peak_rss_bytes() { return proc_status_kb("VmHWM") << 10; }

inline std::uint64_t seed_for(const void *p, std::size_t n) {
  std::uint64_t x = reinterpret_cast<std::uintptr_t>(p) ^ (std::uint64_t(n) * 0xff51afd7ed558ccdull);
  x ^= x >> 29;
  return x * 0xc4ceb9fe1a85ec53ull;
}

inline std::uint64_t word_at(std::uint64_t seed, std::size_t wi) { return seed ^ (wi * 0x9e3779b97f4a7c15ull); }

// Bytes [from, to) of the pattern: whole words where aligned, single bytes at the edges.
inline void fill_range(unsigned char *p, std::size_t from, std::size_t to, std::uint64_t seed) {
  std::size_t i = from;
  for (; i < to && (i & 7); ++i) p[i] = static_cast<unsigned char>(word_at(seed, i / 8) >> ((i & 7) * 8));
  for (; i + 8 <= to; i += 8) {
    std::uint64_t w = word_at(seed, i / 8);
    std::memcpy(p + i, &w, 8);
  }
  for (; i < to; ++i) p[i] = static_cast<unsigned char>(word_at(seed, i / 8) >> ((i & 7) * 8));
}

inline bool check_range(const unsigned char *p, std::size_t from, std::size_t to, std::uint64_t seed) {
  std::size_t i = from;
  for (; i < to && (i & 7); ++i)
    if (p[i] != static_cast<unsigned char>(word_at(seed, i / 8) >> ((i & 7) * 8))) return false;
  for (; i + 8 <= to; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w != word_at(seed, i / 8)) return false;
  }
  for (; i < to; ++i)
    if (p[i] != static_cast<unsigned char>(word_at(seed, i / 8) >> ((i & 7) * 8))) return false;
  return true;
}

// The parts of an n-byte block that carry the pattern, clipped to [0, limit): everything up to
// 4 KB; above, the first and last KB and one word per page (so every page is touched).
template <class F> bool for_each_range(std::size_t n, std::size_t limit, F &&f) {
  auto clip = [&](std::size_t a, std::size_t b) { return a < limit ? f(a, b < limit ? b : limit) : true; };
  if (n <= 4096) return clip(0, n);
  if (!clip(0, 1024)) return false;
  for (std::size_t off = 4096; off + 8 <= n - 1024; off += 4096)
    if (!clip(off, off + 8)) return false;
  return clip(n - 1024, n);
}

inline void fill_block(void *p, std::size_t n, std::uint64_t seed) {
  auto *b = static_cast<unsigned char *>(p);
  for_each_range(n, n, [&](std::size_t a, std::size_t e) { return fill_range(b, a, e, seed), true; });
}
// Check the pattern of an n-byte block in its first `limit` bytes (limit ≤ n).
inline bool check_block(const void *p, std::size_t n, std::uint64_t seed, std::size_t limit) {
  auto *b = static_cast<const unsigned char *>(p);
  return for_each_range(n, limit, [&](std::size_t a, std::size_t e) { return check_range(b, a, e, seed); });
}
inline bool zero_block(const void *p, std::size_t n) {
  auto *b = static_cast<const unsigned char *>(p);
  return for_each_range(n, n, [&](std::size_t a, std::size_t e) {
    for (std::size_t i = a; i < e; ++i)
      if (b[i]) return false;
    return true;
  });
}

using OwnsFn = int (*)(const void *);
// lfh_owns when lfh is in the process, else nullptr.
inline OwnsFn lfh_owns_fn() { return reinterpret_cast<OwnsFn>(dlsym(RTLD_DEFAULT, "lfh_owns")); }

// lfh_validate() when lfh is in the process: 1 clean, 0 corrupt (lfh printed why), -1 not loaded.
inline int validate_lfh() {
  using ValidateFn = int (*)();
  auto fn = reinterpret_cast<ValidateFn>(dlsym(RTLD_DEFAULT, "lfh_validate"));
  return fn ? (fn() ? 1 : 0) : -1;
}
inline const char *validate_text(int v) { return v > 0 ? "clean" : v == 0 ? "FAILED" : "not run (no lfh)"; }

// With --require-lfh a program refuses to run (and fails) without lfh loaded.
inline bool require_lfh(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--require-lfh") == 0 && !lfh_owns_fn()) {
      std::fprintf(stderr, "FAILED: --require-lfh but lfh is not loaded (LD_PRELOAD?)\n");
      return false;
    }
  }
  return true;
}

}  // namespace stress
