// larson — server-like random lifetimes across threads (the Larson & Krishnan benchmark pattern).
//
// Each of T lanes (T = --threads) owns an array of 4000 live blocks of 8..1000 bytes. A lane is
// worked by a succession of short-lived threads ("generations", 40 per lane, one after the other):
// each one repeatedly picks a random slot, checks and frees the block there and puts a new block of
// a random size in its place; then it exits and a fresh thread takes over the same array — so most
// frees are of blocks allocated by a thread that no longer exists, as in a server whose worker
// threads come and go while the objects they made live on. The lanes run in parallel.
//
// The total number of replacements is fixed (split over the lanes), so `seconds` should halve from
// 1 to 2 threads on 2 free cores; ops_per_sec = replacements per second, all lanes together.
// Check: every block carries a stamp checked before it is freed, and the sum of the sizes freed
// must equal the one replayed without any allocation.
//
// Own options: --generations G (threads per lane, default 40; 1 = one persistent thread per lane,
// as in a thread pool); --sharing 1 prints, after the measured phase, how many 64-byte cache lines
// hold live blocks of two lanes or more (`shared_lines`, `shared_pct`): lines that two threads
// write, false sharing the allocator made. It is a count, not a time, so it does not depend on how
// the machine's vCPUs happen to share caches during the run. It prints the same by 4 KB page too:
// `lane_pages`, the pages a lane's live blocks lie on (its TLB footprint, averaged over lanes), and
// `shared_pages_pct`, the pages holding live blocks of two lanes or more. (It allocates its own
// table, so the peak RSS printed with it is not comparable.)
#include <algorithm>

#include "common.h"

namespace {

constexpr std::size_t kSlots = 4000;
constexpr std::uint64_t kMin = 8, kMax = 1000;

struct Slot {
  void *p;
  std::uint32_t size;
  std::uint64_t tag;
};

// One cache line (or more) per lane: a lane's rng, serial and freed_bytes are written on every
// replacement, and two lanes sharing a line would measure the benchmark's own false sharing.
struct alignas(64) Lane {
  std::vector<Slot> slots;
  wl::Rng rng{0};
  std::uint64_t serial = 0;
  std::uint64_t freed_bytes = 0;
  int id = 0;
};

void replace_many(Lane &lane, std::uint64_t n, wl::Check &check) {
  for (std::uint64_t i = 0; i < n; ++i) {
    Slot &s = lane.slots[lane.rng.below(kSlots)];
    if (!wl::stamp_ok(s.p, s.size, s.tag)) check.fail("lane %d: block %p (%u bytes) overwritten", lane.id, s.p, s.size);
    lane.freed_bytes += s.size;
    std::free(s.p);
    s.size = static_cast<std::uint32_t>(lane.rng.range(kMin, kMax));
    s.tag = wl::mix(static_cast<std::uint64_t>(lane.id), ++lane.serial);
    s.p = std::malloc(s.size);
    if (!s.p) {
      check.fail("malloc(%u) returned NULL", s.size);
      std::abort();
    }
    wl::stamp(s.p, s.size, s.tag);
  }
}

// The same random sequence without allocating: the sum of the sizes freed.
std::uint64_t replay(std::uint64_t seed, std::uint64_t ops) {
  wl::Rng rng(seed);
  std::vector<std::uint32_t> size(kSlots);
  for (auto &z : size) z = static_cast<std::uint32_t>(rng.range(kMin, kMax));
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto &z = size[rng.below(kSlots)];
    sum += z;
    z = static_cast<std::uint32_t>(rng.range(kMin, kMax));
  }
  return sum;
}

}  // namespace

int main(int argc, char **argv) {
  std::uint64_t generations = 40, sharing = 0;
  wl::Options o = wl::parse_options(argc, argv, "  --generations G   threads per lane, one after the other (default 40)\n"
                                                "  --sharing 1       count cache lines holding live blocks of two lanes\n",
                                    {{"--generations", &generations}, {"--sharing", &sharing}});
  if (generations < 1) {
    std::fprintf(stderr, "%s: --generations must be at least 1\n", argv[0]);
    return 2;
  }
  const int kGenerations = static_cast<int>(generations);
  const std::uint64_t total_ops = o.work(30'000'000);
  wl::Check check;

  // Set-up (not timed): the main thread fills every lane, so the first generation frees blocks
  // of another thread too.
  std::vector<Lane> lanes(static_cast<std::size_t>(o.threads));
  for (int l = 0; l < o.threads; ++l) {
    Lane &lane = lanes[static_cast<std::size_t>(l)];
    lane.id = l;
    lane.rng = wl::Rng(o.seed + static_cast<std::uint64_t>(l));
    lane.slots.resize(kSlots);
    for (auto &s : lane.slots) {
      s.size = static_cast<std::uint32_t>(lane.rng.range(kMin, kMax));
      s.tag = wl::mix(static_cast<std::uint64_t>(l), ++lane.serial);
      s.p = std::malloc(s.size);
      wl::stamp(s.p, s.size, s.tag);
    }
  }

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int l) {
    Lane &lane = lanes[static_cast<std::size_t>(l)];
    std::uint64_t ops = wl::share(total_ops, o.threads, l);
    for (int g = 0; g < kGenerations; ++g) {
      std::thread t(replace_many, std::ref(lane), wl::share(ops, kGenerations, g), std::ref(check));
      t.join();
    }
  });
  double secs = timer.seconds();

  std::string shared_kv;
  if (sharing) {
    // Every (line, lane) pair of the live blocks, sorted: a line listed under two lanes is shared.
    std::vector<std::pair<std::uintptr_t, int>> lines;
    for (int l = 0; l < o.threads; ++l)
      for (const Slot &s : lanes[static_cast<std::size_t>(l)].slots) {
        const auto a = reinterpret_cast<std::uintptr_t>(s.p);
        for (std::uintptr_t c = a >> 6; c <= (a + s.size - 1) >> 6; ++c) lines.emplace_back(c, l);
      }
    std::sort(lines.begin(), lines.end());
    lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
    // The same by 4 KB page: pages a lane reaches (its TLB footprint) and pages holding live
    // blocks of two lanes or more.
    std::vector<std::pair<std::uintptr_t, int>> pages;
    for (const auto &[line, lane] : lines) pages.emplace_back(line >> 6, lane);
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    // Of sorted, distinct (unit, lane) pairs: the units, and those listed under two lanes or more.
    auto count_shared = [](const std::vector<std::pair<std::uintptr_t, int>> &v, std::uint64_t *shared) {
      std::uint64_t total = 0;
      *shared = 0;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i > 0 && v[i].first == v[i - 1].first) continue;
        ++total;
        if (i + 1 < v.size() && v[i + 1].first == v[i].first) ++*shared;
      }
      return total;
    };
    std::uint64_t shared = 0, page_shared = 0;
    const std::uint64_t total = count_shared(lines, &shared), page_total = count_shared(pages, &page_shared);
    shared_kv = wl::kv("shared_lines", shared) + wl::kv("shared_pct", 100.0 * static_cast<double>(shared) / static_cast<double>(total)) +
                wl::kv("lane_pages", static_cast<double>(pages.size()) / o.threads) + wl::kv("shared_pages_pct", 100.0 * static_cast<double>(page_shared) / static_cast<double>(page_total));
  }

  for (int l = 0; l < o.threads; ++l) {
    Lane &lane = lanes[static_cast<std::size_t>(l)];
    std::uint64_t want = replay(o.seed + static_cast<std::uint64_t>(l), wl::share(total_ops, o.threads, l));
    if (lane.freed_bytes != want)
      check.fail("lane %d: freed %" PRIu64 " bytes, expected %" PRIu64, l, lane.freed_bytes, want);
    for (auto &s : lane.slots) {
      if (!wl::stamp_ok(s.p, s.size, s.tag)) check.fail("lane %d: block %p overwritten", l, s.p);
      std::free(s.p);
    }
  }
  return wl::report("larson", o, secs, check,
                    wl::kv("ops", total_ops) + wl::kv("ops_per_sec", static_cast<double>(total_ops) / secs) + shared_kv);
}
