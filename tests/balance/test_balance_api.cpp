// glibc's malloc introspection and tuning calls as lfh answers them (linked with liblfh.a, so the
// standard names are lfh's): malloc_trim, mallinfo2/mallinfo, mallopt, malloc_info, malloc_stats;
// and the relief that trims before an allocation fails at the commit limit. LFH_BALANCE_MS=0: the
// only ticks are the ones these tests run.
#include <catch2/catch.hpp>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "balance/balance.h"
#include "lfh/lfh.h"
#include "vm/vm.h"

namespace {

lfh_stats_t stats() {
  lfh_stats_t s;
  lfh_stats_get(&s);
  return s;
}

std::string read_file(FILE *f) {
  std::string text;
  rewind(f);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  return text;
}

int count(const std::string &s, const std::string &what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("mallinfo2 adds up to the statistics totals") {
  std::vector<void *> small, large;
  small.reserve(20000);
  large.reserve(16);
  malloc_trim(0);
  // Nothing below allocates between the two readings (no Catch2 assertion in the window).
  struct mallinfo2 m0 = mallinfo2();
  lfh_stats_t s0 = stats();
  for (int i = 0; i < 20000; ++i) small.push_back(malloc(std::size_t(16 + (i % 64) * 32)));
  for (int i = 0; i < 4; ++i) large.push_back(malloc(200000));    // core heap
  for (int i = 0; i < 3; ++i) large.push_back(malloc(12 << 20));   // direct blocks (above 8 MB)
  struct mallinfo2 m1 = mallinfo2();
  lfh_stats_t s1 = stats();

  // The identities: arena + hblkhd is the commit charge; in use + free is the arena.
  CHECK(m0.arena + m0.hblkhd == s0.committed_bytes);
  CHECK(m1.arena + m1.hblkhd == s1.committed_bytes);
  CHECK(m1.uordblks + m1.fordblks == m1.arena);
  CHECK(m1.hblks == s1.direct_blocks);
  CHECK(m1.hblkhd == s1.direct_committed_bytes);
  CHECK(m1.usmblks == 0);
  // What was allocated shows: 3 direct blocks of 12 MB, and at least the requested small+core bytes.
  CHECK(m1.hblks == m0.hblks + 3);
  CHECK(m1.hblkhd >= m0.hblkhd + 3 * (12u << 20));
  std::size_t asked = 4 * 200000;
  for (int i = 0; i < 20000; ++i) asked += std::size_t(16 + (i % 64) * 32);
  CHECK(m1.uordblks >= m0.uordblks + asked);
  CHECK(m1.uordblks <= m0.uordblks + asked * 2);   // bucket rounding and headers, not more
  // Cached free small blocks are counted apart from those in use.
  CHECK(m1.fsmblks <= m1.fordblks);

  for (void *p : small) free(p);
  for (void *p : large) free(p);
  struct mallinfo2 m2 = mallinfo2();
  CHECK(m2.hblks == m0.hblks);
  CHECK(m2.uordblks < m1.uordblks);

  // mallinfo: the same numbers as int.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
  struct mallinfo2 m3 = mallinfo2();
  CHECK(std::size_t(mi.hblks) == m3.hblks);
  CHECK(std::size_t(mi.hblkhd) == m3.hblkhd);
}

TEST_CASE("malloc_trim gives back what was cached and keepcost says how much it would") {
  std::vector<void *> v;
  for (int i = 0; i < 50000; ++i) v.push_back(malloc(std::size_t(32 + (i % 200) * 8)));
  for (int i = 0; i < 40; ++i) v.push_back(malloc(150000));
  for (void *p : v) free(p);
  v.clear();
  v.shrink_to_fit();
  struct mallinfo2 before = mallinfo2();
  const std::uint64_t committed_before = stats().committed_bytes;
  CHECK(before.keepcost > 0);
  CHECK(malloc_trim(0) == 1);
  struct mallinfo2 after = mallinfo2();
  const lfh_stats_t s = stats();
  CHECK(s.committed_bytes < committed_before);
  CHECK(after.keepcost == 0);
  CHECK(after.smblks == 0);   // this thread's magazine and every look-aside list were emptied
  CHECK(s.core_pending_bytes == 0);
  CHECK(s.direct_cached_bytes == 0);
  CHECK(s.balance_trimmed_bytes > 0);
  // Nothing left to give back: 0.
  CHECK(malloc_trim(0) == 0);
}

TEST_CASE("mallopt: the thresholds that mean something here take effect") {
  const std::size_t direct_before = mallinfo2().hblks;
  CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1);
  void *p = malloc(100000);   // now above the direct threshold
  CHECK(mallinfo2().hblks == direct_before + 1);
  free(p);
  CHECK(mallopt(M_MMAP_THRESHOLD, 1024 * 1024 - 4096) == 1);
  p = malloc(100000);         // core heap again
  CHECK(mallinfo2().hblks == direct_before);
  free(p);
  CHECK(mallopt(M_MMAP_THRESHOLD, 64 << 20) == 0);   // above 32 MB: refused, as glibc does
  CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);
  CHECK(mallopt(M_ARENA_MAX, 2) == 1);
  CHECK(mallopt(M_ARENA_MAX, 0) == 0);
  CHECK(mallopt(M_TOP_PAD, 0) == 1);    // accepted, no meaning here
  CHECK(mallopt(M_MXFAST, 64) == 1);
  CHECK(mallopt(12345, 1) == 0);        // unknown
}

TEST_CASE("malloc_info writes glibc's XML shape") {
  std::vector<void *> v;
  for (int i = 0; i < 1000; ++i) v.push_back(malloc(64));
  for (void *p : v) free(p);
  FILE *f = tmpfile();
  REQUIRE(f != nullptr);
  CHECK(malloc_info(0, f) == 0);
  fflush(f);
  std::string xml = read_file(f);
  fclose(f);
  CHECK(xml.rfind("<malloc version=\"1\">", 0) == 0);
  CHECK(xml.find("</malloc>\n") == xml.size() - 10);
  CHECK(count(xml, "<heap nr=") == count(xml, "</heap>"));
  CHECK(count(xml, "<sizes>") == 1);
  CHECK(xml.find("<total type=\"mmap\"") != std::string::npos);
  CHECK(xml.find("<system type=\"current\"") != std::string::npos);
  errno = 0;
  CHECK(malloc_info(1, stdout) == -1);
  CHECK(errno == EINVAL);
}

TEST_CASE("malloc_stats prints glibc's summary to stderr") {
  FILE *f = tmpfile();
  REQUIRE(f != nullptr);
  fflush(stderr);
  const int saved = dup(2);
  dup2(fileno(f), 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  std::string text = read_file(f);
  fclose(f);
  CHECK(text.rfind("Arena 0:\n", 0) == 0);
  CHECK(count(text, "system bytes     =") == 2);
  CHECK(count(text, "in use bytes     =") == 2);
  CHECK(text.find("Total (incl. mmap):") != std::string::npos);
  CHECK(text.find("max mmap regions =") != std::string::npos);
}

TEST_CASE("at the commit limit an allocation first trims cached memory, then succeeds") {
  // Freed core-heap ranges stay committed for the purge delay (up to the 8 MB budget).
  std::vector<void *> v;
  v.reserve(64);
  malloc_trim(0);
  for (int i = 0; i < 40; ++i) {
    v.push_back(malloc(180000));
    memset(v.back(), 1, 180000);
  }
  for (void *p : v) free(p);
  const lfh_stats_t before = stats();
  const std::uint64_t reliefs = before.balance_pressure_trims;
  // No Catch2 assertion while the limit is on (Catch2 allocates too).
  lfh::vm::set_commit_limit(before.committed_bytes + 512 * 1024);
  void *big = malloc(4 << 20);   // needs 4 MB: only possible once the cached ranges are given back
  if (big) memset(big, 2, 4 << 20);
  lfh::vm::set_commit_limit(0);
  const lfh_stats_t after = stats();
  CHECK(before.core_pending_bytes >= (4u << 20));
  CHECK(big != nullptr);
  CHECK(after.balance_pressure_trims > reliefs);
  free(big);
}

TEST_CASE("the statistics carry the balance manager's fields") {
  lfh::balance::tick_now();
  const lfh_stats_t s = stats();
  CHECK(s.size == sizeof(lfh_stats_t));
  CHECK(s.balance_period_ms == 0);   // LFH_BALANCE_MS=0 for these tests
  CHECK(s.balance_thread == 0);
  CHECK(s.balance_ticks >= 1);
}
