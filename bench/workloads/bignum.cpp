// bignum — many small, short-lived objects from a real algorithm: big-number arithmetic (in the
// spirit of the cfrac benchmark, which factors numbers with continued fractions).
//
// For each non-square d in a range, the program expands sqrt(d) as a continued fraction and
// computes the convergents h_n / k_n with arbitrary-precision integers (h_n = a_n h_{n-1} +
// h_{n-2}, likewise k_n). Every operation returns a new number (a heap-allocated vector of 32-bit
// limbs) and the old ones die at once: a stream of small allocations of slowly growing sizes.
// Every 8th step it checks Pell's identity h_n^2 - d k_n^2 = (-1)^(n+1) Q_{n+1}, where Q is the
// integer denominator of the expansion — bigger temporaries, and an exact check of the whole
// computation. The d range is split over the threads.
#include <algorithm>

#include "common.h"

namespace {

// Unsigned big integer, little-endian base-2^32 limbs, no leading zero limbs (0 = empty).
class Big {
 public:
  Big() = default;
  explicit Big(std::uint64_t v) {
    while (v) {
      limbs_.push_back(static_cast<std::uint32_t>(v));
      v >>= 32;
    }
  }
  std::size_t size() const { return limbs_.size(); }

  friend Big operator+(const Big &a, const Big &b) {
    const Big &x = a.size() >= b.size() ? a : b;
    const Big &y = a.size() >= b.size() ? b : a;
    Big r;
    r.limbs_.reserve(x.size() + 1);
    std::uint64_t carry = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      carry += static_cast<std::uint64_t>(x.limbs_[i]) + (i < y.size() ? y.limbs_[i] : 0);
      r.limbs_.push_back(static_cast<std::uint32_t>(carry));
      carry >>= 32;
    }
    if (carry) r.limbs_.push_back(static_cast<std::uint32_t>(carry));
    return r;
  }
  friend Big operator*(const Big &a, std::uint32_t m) {
    Big r;
    if (m == 0 || a.limbs_.empty()) return r;
    r.limbs_.reserve(a.size() + 1);
    std::uint64_t carry = 0;
    for (std::uint32_t l : a.limbs_) {
      carry += static_cast<std::uint64_t>(l) * m;
      r.limbs_.push_back(static_cast<std::uint32_t>(carry));
      carry >>= 32;
    }
    if (carry) r.limbs_.push_back(static_cast<std::uint32_t>(carry));
    return r;
  }
  friend Big operator*(const Big &a, const Big &b) {
    Big r;
    if (a.limbs_.empty() || b.limbs_.empty()) return r;
    std::vector<std::uint32_t> t(a.size() + b.size(), 0);
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::uint64_t carry = 0;
      for (std::size_t j = 0; j < b.size(); ++j) {
        carry += static_cast<std::uint64_t>(a.limbs_[i]) * b.limbs_[j] + t[i + j];
        t[i + j] = static_cast<std::uint32_t>(carry);
        carry >>= 32;
      }
      t[i + b.size()] = static_cast<std::uint32_t>(carry);
    }
    while (!t.empty() && t.back() == 0) t.pop_back();
    r.limbs_ = std::move(t);
    return r;
  }
  friend bool operator==(const Big &a, const Big &b) { return a.limbs_ == b.limbs_; }
  std::uint32_t low() const { return limbs_.empty() ? 0 : limbs_[0]; }

 private:
  std::vector<std::uint32_t> limbs_;
};

std::uint64_t isqrt(std::uint64_t d) {
  auto r = static_cast<std::uint64_t>(__builtin_sqrt(static_cast<double>(d)));
  while (r * r > d) --r;
  while ((r + 1) * (r + 1) <= d) ++r;
  return r;
}

// One cache line per thread's counters, so that the threads do not share a written line.
struct alignas(64) Stats {
  std::uint64_t steps = 0, checks = 0, digest = 0;
};

// Expands sqrt(d) for `terms` terms; false if Pell's identity fails.
bool expand(std::uint64_t d, int terms, Stats &st) {
  const std::uint64_t a0 = isqrt(d);
  std::uint64_t m = 0, q = 1, a = a0;  // the expansion's state: (m + sqrt d) / q, a = floor of it
  Big h_prev(1), h(a0), k_prev(0), k(1);  // h_{-1}, h_0, k_{-1}, k_0
  const Big dd(d);
  for (int n = 0; n < terms; ++n) {
    // next partial quotient
    m = q * a - m;
    q = (d - m * m) / q;  // Q_{n+1}
    a = (a0 + m) / q;
    if (n % 8 == 7) {  // h_n^2 - d k_n^2 = (-1)^(n+1) Q_{n+1}
      Big lhs = h * h, rhs = dd * (k * k);
      bool ok = (n % 2 == 1) ? lhs == rhs + Big(q) : rhs == lhs + Big(q);
      if (!ok) return false;
      ++st.checks;
    }
    Big h_next = h * static_cast<std::uint32_t>(a) + h_prev;
    Big k_next = k * static_cast<std::uint32_t>(a) + k_prev;
    h_prev = std::move(h);
    h = std::move(h_next);
    k_prev = std::move(k);
    k = std::move(k_next);
    ++st.steps;
  }
  st.digest = st.digest * 31 + h.low() + (static_cast<std::uint64_t>(k.size()) << 32);
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t count = o.work(6'000);  // how many d
  const int terms = 600;
  const std::uint64_t d_first = 1'000'003;
  wl::Check check;
  std::vector<Stats> stats(static_cast<std::size_t>(o.threads));

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    Stats &st = stats[static_cast<std::size_t>(t)];
    // interleave the d values over the threads: every thread gets a similar mix
    for (std::uint64_t i = static_cast<std::uint64_t>(t); i < count; i += static_cast<std::uint64_t>(o.threads)) {
      std::uint64_t d = d_first + i;
      std::uint64_t r = isqrt(d);
      if (r * r == d) continue;
      if (!expand(d, terms, st)) check.fail("Pell identity failed for d=%" PRIu64, d);
    }
  });
  double secs = timer.seconds();

  std::uint64_t steps = 0, checks = 0;
  for (auto &s : stats) {
    steps += s.steps;
    checks += s.checks;
  }
  return wl::report("bignum", o, secs, check, wl::kv("steps", steps) + wl::kv("identity_checks", checks));
}
