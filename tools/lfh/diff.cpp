// tools/lfh/diff.cpp — `lfh diff A.json B.json`: what grew between two snapshots, by total, by
// bucket and by pool tag (the !poolused comparison of two points in time).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "model.h"
#include "verbs.h"

namespace lfh_tool {
namespace {

std::uint64_t at(const Row &r, const char *k) {
  auto it = r.find(k);
  return it == r.end() ? 0 : it->second;
}

// (Appending rather than `"+" + string`: g++ 12 -O2 warns -Wrestrict on that form, a known false
// positive.)
std::string signed_size(std::int64_t d) {
  std::string s(1, d < 0 ? '-' : '+');
  s.append(human_size(std::uint64_t(d < 0 ? -d : d)));
  return s;
}

std::string signed_count(std::int64_t d) {
  std::string s = d < 0 ? std::string() : std::string(1, '+');
  s.append(std::to_string(d));
  return s;
}

}  // namespace

void diff_help() {
  std::printf(
      "usage: lfh diff A.json B.json [-n ROWS] [--all]\n\n"
      "Compares two statistics snapshots (LFH_STATS=file.json at exit, or lfh_stats_print(fd,\n"
      "LFH_STATS_JSON)) and lists what grew from A to B: the totals, the buckets by bytes in\n"
      "use, the pool tags by bytes (LFH_TAGS=1), largest growth first.\n\n"
      "  -n ROWS  bucket and tag rows shown (default 20)\n"
      "  --all    also list what shrank\n\n"
      "exit status: 0 ok; 1 bad command line; 2 a file is missing or not an lfh snapshot.\n");
}

int diff_main(int argc, char **argv) {
  std::vector<std::string> files;
  std::size_t rows = 20;
  bool all = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      diff_help();
      return 0;
    } else if (a == "--all") {
      all = true;
    } else if (a == "-n" && i + 1 < argc) {
      long n = std::strtol(argv[++i], nullptr, 10);
      if (n <= 0) {
        std::fprintf(stderr, "lfh: diff: -n needs a positive number\n");
        return kExitBadUsage;
      }
      rows = std::size_t(n);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "lfh: diff: unknown option %s (try lfh diff --help)\n", a.c_str());
      return kExitBadUsage;
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 2) {
    std::fprintf(stderr, "lfh: diff: needs two snapshots (usage: lfh diff A.json B.json)\n");
    return kExitBadUsage;
  }
  Model A, B;
  for (int k = 0; k < 2; ++k) {
    std::string err;
    if (int rc = load_json_file(files[k], k ? &B : &A, &err); rc != kExitOk) {
      std::fprintf(stderr, "lfh: %s\n", err.c_str());
      return rc;
    }
  }
  std::printf("lfh diff: %s (pid %ld) -> %s (pid %ld)\n", files[0].c_str(), A.pid, files[1].c_str(), B.pid);
  std::printf("\ntotals that changed:\n");
  for (const auto &[k, vb] : B.totals) {
    const std::uint64_t va = at(A.totals, k.c_str());
    if (va == vb) continue;
    const std::int64_t d = std::int64_t(vb - va);
    if (d < 0 && !all) continue;
    const bool bytes = k.find("bytes") != std::string::npos || k == "commit_limit";
    std::printf("  %-26s %12s -> %-12s %s\n", k.c_str(), bytes ? human_size(va).c_str() : std::to_string(va).c_str(),
                bytes ? human_size(vb).c_str() : std::to_string(vb).c_str(),
                bytes ? signed_size(d).c_str() : signed_count(d).c_str());
  }
  // Buckets, keyed by (heap, bucket).
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<const Row *, const Row *>> bk;
  for (const Row &r : A.buckets) bk[{at(r, "heap"), at(r, "bucket")}].first = &r;
  for (const Row &r : B.buckets) bk[{at(r, "heap"), at(r, "bucket")}].second = &r;
  struct Change {
    std::string what;
    std::int64_t bytes, count;
  };
  std::vector<Change> grew, shrank;
  static const Row kEmpty;
  for (const auto &[key, p] : bk) {
    const Row &a = p.first ? *p.first : kEmpty, &b = p.second ? *p.second : kEmpty;
    const std::int64_t db = std::int64_t(at(b, "bytes_in_use") - at(a, "bytes_in_use"));
    const std::int64_t dn = std::int64_t(at(b, "blocks_in_use") - at(a, "blocks_in_use"));
    if (db == 0 && dn == 0) continue;
    const std::uint64_t size = at(b, "block_size") ? at(b, "block_size") : at(a, "block_size");
    Change c{"heap " + std::to_string(key.first) + " bucket " + std::to_string(key.second) + " (" +
                 std::to_string(size) + "-byte blocks): " + std::to_string(at(a, "blocks_in_use")) + " -> " +
                 std::to_string(at(b, "blocks_in_use")) + " in use",
             db, dn};
    (db > 0 || (db == 0 && dn > 0) ? grew : shrank).push_back(c);
  }
  auto by_bytes = [](const Change &x, const Change &y) { return std::abs(x.bytes) > std::abs(y.bytes); };
  std::sort(grew.begin(), grew.end(), by_bytes);
  std::sort(shrank.begin(), shrank.end(), by_bytes);
  std::printf("\nbuckets that grew (bytes in use):\n");
  if (grew.empty()) std::printf("  none\n");
  for (std::size_t i = 0; i < grew.size() && i < rows; ++i)
    std::printf("  %10s  %s (%s blocks)\n", signed_size(grew[i].bytes).c_str(), grew[i].what.c_str(),
                signed_count(grew[i].count).c_str());
  if (all)
    for (std::size_t i = 0; i < shrank.size() && i < rows; ++i)
      std::printf("  %10s  %s (%s blocks)\n", signed_size(shrank[i].bytes).c_str(), shrank[i].what.c_str(),
                  signed_count(shrank[i].count).c_str());
  else if (!shrank.empty())
    std::printf("  (%zu buckets shrank; --all lists them)\n", shrank.size());
  // Tags, keyed by their text.
  if (!A.tags_on && !B.tags_on) {
    std::printf("\ntags: off in both snapshots (LFH_TAGS=1 counts allocations per pool tag)\n");
    return kExitOk;
  }
  std::map<std::string, std::pair<const Row *, const Row *>> tg;
  for (const Tag &t : A.tags) tg[t.text].first = &t.counts;
  for (const Tag &t : B.tags) tg[t.text].second = &t.counts;
  std::vector<Change> tgrew, tshrank;
  for (const auto &[name, p] : tg) {
    const Row &a = p.first ? *p.first : kEmpty, &b = p.second ? *p.second : kEmpty;
    const std::int64_t db = std::int64_t(at(b, "bytes") - at(a, "bytes"));
    const std::int64_t dn = std::int64_t(at(b, "blocks") - at(a, "blocks"));
    if (db == 0 && dn == 0) continue;
    Change c{"tag " + name + ": " + human_size(at(a, "bytes")) + " -> " + human_size(at(b, "bytes")), db, dn};
    (db > 0 || (db == 0 && dn > 0) ? tgrew : tshrank).push_back(c);
  }
  std::sort(tgrew.begin(), tgrew.end(), by_bytes);
  std::printf("\ntags that grew (bytes):\n");
  if (tgrew.empty()) std::printf("  none\n");
  for (std::size_t i = 0; i < tgrew.size() && i < rows; ++i)
    std::printf("  %10s  %s (%s blocks)\n", signed_size(tgrew[i].bytes).c_str(), tgrew[i].what.c_str(),
                signed_count(tgrew[i].count).c_str());
  if (all)
    for (std::size_t i = 0; i < tshrank.size() && i < rows; ++i)
      std::printf("  %10s  %s (%s blocks)\n", signed_size(tshrank[i].bytes).c_str(), tshrank[i].what.c_str(),
                  signed_count(tshrank[i].count).c_str());
  else if (!tshrank.empty())
    std::printf("  (%zu tags shrank; --all lists them)\n", tshrank.size());
  return kExitOk;
}

}  // namespace lfh_tool
