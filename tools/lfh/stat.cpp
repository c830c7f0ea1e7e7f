// tools/lfh/stat.cpp — `lfh stat PID`: a refreshing table of a live process's heaps, buckets and
// pool tags, read from its statistics segment (like poolmon for the Windows pools).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "model.h"
#include "verbs.h"

namespace lfh_tool {
namespace {

std::uint64_t at(const Row &r, const char *k) {
  auto it = r.find(k);
  return it == r.end() ? 0 : it->second;
}

void print_model(const Model &m, const std::string &sort, std::size_t rows) {
  const Row &t = m.totals;
  std::time_t when = std::time_t(m.updated_wall_ns / 1000000000ull);
  char stamp[32] = "?";
  if (std::tm tm{}; localtime_r(&when, &tm)) std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::printf("lfh stat: pid %ld, updated %s (every %llu ms)  heaps %llu\n", m.pid, stamp,
              static_cast<unsigned long long>(m.period_ms), static_cast<unsigned long long>(at(t, "heaps")));
  std::printf("memory: reserved %s  committed %s (peak %s)  rss %s (peak %s)\n",
              human_size(at(t, "reserved_bytes")).c_str(), human_size(at(t, "committed_bytes")).c_str(),
              human_size(at(t, "peak_committed_bytes")).c_str(), human_size(at(t, "rss_bytes")).c_str(),
              human_size(at(t, "peak_rss_bytes")).c_str());
  std::printf("tiers:  LFH %llu blocks %s | core %llu blocks %s | direct %llu blocks %s",
              static_cast<unsigned long long>(at(t, "lfh_blocks_in_use")), human_size(at(t, "lfh_bytes_in_use")).c_str(),
              static_cast<unsigned long long>(at(t, "core_blocks")), human_size(at(t, "core_busy_bytes")).c_str(),
              static_cast<unsigned long long>(at(t, "direct_blocks")),
              human_size(at(t, "direct_committed_bytes")).c_str());
  if (at(t, "pageheap_blocks"))
    std::printf(" | page heap %llu blocks %s", static_cast<unsigned long long>(at(t, "pageheap_blocks")),
                human_size(at(t, "pageheap_bytes")).c_str());
  std::printf("\n\n HEAP  FLAGS   RESERVED  COMMITTED  SMALL-BLOCKS  SMALL-BYTES  LARGE-BLOCKS  LARGE-BYTES\n");
  for (const Row &h : m.heaps)
    std::printf("%5llu  0x%03llx %10s %10s %13llu %12s %13llu %12s%s\n", static_cast<unsigned long long>(at(h, "index")),
                static_cast<unsigned long long>(at(h, "flags")), human_size(at(h, "reserved_bytes")).c_str(),
                human_size(at(h, "committed_bytes")).c_str(), static_cast<unsigned long long>(at(h, "lfh_blocks_in_use")),
                human_size(at(h, "lfh_bytes_in_use")).c_str(),
                static_cast<unsigned long long>(at(h, "core_blocks") + at(h, "direct_blocks")),
                human_size(at(h, "core_busy_bytes") + at(h, "direct_committed_bytes")).c_str(),
                at(h, "locked") ? "  (held with lfh_heap_lock: not read)" : at(h, "index") == 0 ? "  process heap" : "");
  std::vector<const Row *> b;
  for (const Row &r : m.buckets) b.push_back(&r);
  const char *key = sort == "allocs" ? "allocs" : "bytes_in_use";
  std::stable_sort(b.begin(), b.end(), [&](const Row *x, const Row *y) { return at(*x, key) > at(*y, key); });
  std::printf("\n HEAP  BUCKET   SIZE     IN-USE      BYTES       FREE  SUBSEGS     ALLOCS      FREES  LA-HIT%%  DEPTH\n");
  for (std::size_t i = 0; i < b.size() && i < rows; ++i) {
    const Row &r = *b[i];
    const std::uint64_t hits = at(r, "lookaside_hits"), misses = at(r, "lookaside_misses");
    char rate[16] = "    -";
    if (hits + misses) std::snprintf(rate, sizeof rate, "%6.1f", 100.0 * double(hits) / double(hits + misses));
    std::printf("%5llu  %6llu %6llu %10llu %10s %10llu %8llu %10llu %10llu  %s %6llu\n",
                static_cast<unsigned long long>(at(r, "heap")), static_cast<unsigned long long>(at(r, "bucket")),
                static_cast<unsigned long long>(at(r, "block_size")), static_cast<unsigned long long>(at(r, "blocks_in_use")),
                human_size(at(r, "bytes_in_use")).c_str(), static_cast<unsigned long long>(at(r, "blocks_free")),
                static_cast<unsigned long long>(at(r, "subsegments")), static_cast<unsigned long long>(at(r, "allocs")),
                static_cast<unsigned long long>(at(r, "frees")), rate, static_cast<unsigned long long>(at(r, "lookaside_depth")));
  }
  if (b.size() > rows) std::printf("  (%zu more buckets; --rows to show more)\n", b.size() - rows);
  if (!m.tags_on) {
    std::printf("\ntags: off in this process (LFH_TAGS=1 counts allocations per pool tag)\n");
    return;
  }
  std::vector<const Tag *> tg;
  for (const Tag &x : m.tags) tg.push_back(&x);
  const char *tkey = sort == "allocs" ? "allocs" : "bytes";
  std::stable_sort(tg.begin(), tg.end(),
                   [&](const Tag *x, const Tag *y) { return at(x->counts, tkey) > at(y->counts, tkey); });
  std::printf("\n TAG        ALLOCS      FREES     BLOCKS      BYTES       PEAK\n");
  for (std::size_t i = 0; i < tg.size() && i < rows; ++i) {
    const Row &c = tg[i]->counts;
    std::printf(" %-4s %12llu %10llu %10llu %10s %10s\n", tg[i]->text.c_str(),
                static_cast<unsigned long long>(at(c, "allocs")), static_cast<unsigned long long>(at(c, "frees")),
                static_cast<unsigned long long>(at(c, "blocks")), human_size(at(c, "bytes")).c_str(),
                human_size(at(c, "peak_bytes")).c_str());
  }
  if (tg.size() > rows || m.tags_omitted) std::printf("  (more tags not shown)\n");
}

}  // namespace

void stat_help() {
  std::printf(
      "usage: lfh stat PID [--interval SECONDS] [--sort bytes|allocs] [--once] [-n COUNT] [--rows N]\n\n"
      "Shows a live process's heaps, buckets and pool tags, refreshed every interval (like\n"
      "poolmon). The process must run on lfh with LFH_STATS_LIVE=1: it then publishes its\n"
      "statistics in /dev/shm/lfh.PID (readable by the same user only), updated by its balance\n"
      "tick at most once a second (the first update about a second after start). Reading it does\n"
      "not stop or slow the process.\n\n"
      "  --interval SECONDS  refresh period (default 1; fractions allowed)\n"
      "  --sort bytes|allocs order of buckets and tags (default bytes in use)\n"
      "  --once              print one table and exit (as -n 1)\n"
      "  -n COUNT            print COUNT tables, then exit (default: until interrupted)\n"
      "  --rows N            bucket and tag rows shown (default 20)\n\n"
      "exit status: 0 ok; 1 bad command line; 2 no such process, no live segment, or not lfh's.\n");
}

int stat_main(int argc, char **argv) {
  long pid = 0;
  double interval = 1.0;
  std::string sort = "bytes";
  bool once = false;
  std::size_t rows = 20;
  long count = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string *out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      stat_help();
      return 0;
    } else if (a == "--once") {
      once = true;
    } else if (a == "--interval" || a == "-i") {
      if (!value(&v) || (interval = std::strtod(v.c_str(), nullptr)) <= 0) {
        std::fprintf(stderr, "lfh: stat: --interval needs a positive number of seconds\n");
        return kExitBadUsage;
      }
    } else if (a == "--sort") {
      if (!value(&sort) || (sort != "bytes" && sort != "allocs")) {
        std::fprintf(stderr, "lfh: stat: --sort must be bytes or allocs\n");
        return kExitBadUsage;
      }
    } else if (a == "--rows") {
      if (!value(&v) || std::strtol(v.c_str(), nullptr, 10) <= 0) {
        std::fprintf(stderr, "lfh: stat: --rows needs a positive number\n");
        return kExitBadUsage;
      }
      rows = std::size_t(std::strtol(v.c_str(), nullptr, 10));
    } else if (a == "-n" || a == "--count") {
      if (!value(&v) || (count = std::strtol(v.c_str(), nullptr, 10)) <= 0) {
        std::fprintf(stderr, "lfh: stat: -n needs a positive number of tables\n");
        return kExitBadUsage;
      }
    } else if (pid == 0 && parse_pid(a, &pid)) {
    } else {
      std::fprintf(stderr, "lfh: stat: unexpected argument '%s' (try lfh stat --help)\n", a.c_str());
      return kExitBadUsage;
    }
  }
  if (pid == 0) {
    std::fprintf(stderr, "lfh: stat: which process? (usage: lfh stat PID)\n");
    return kExitBadUsage;
  }
  const bool tty = isatty(1);
  for (long n = 0;; ++n) {
    Model m;
    std::string err;
    if (int rc = load_live(pid, &m, &err); rc != kExitOk) {
      std::fprintf(stderr, "lfh: %s\n", err.c_str());
      return rc;
    }
    if (!once && tty) std::printf("\033[H\033[2J");
    print_model(m, sort, rows);
    std::fflush(stdout);
    if (once || (count >= 0 && n + 1 >= count)) return kExitOk;
    if (!tty) std::printf("\n");
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
}

}  // namespace lfh_tool
