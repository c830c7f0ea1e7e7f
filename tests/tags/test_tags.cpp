// Pool tags and leak reports (src/debug/tagged.h, tag_table.h, leaks.h), through the public API
// of a program linked with lfh. CMakeLists.txt runs the cases in three processes:
//   [on]    LFH_TAGS=1          exact per-tag counts
//   [leaks] LFH_LEAKS=<file>    leak reports (process-wide and at lfh_heap_destroy)
//   [off]   no option           tag accounting off, behaviour unchanged
// Each case counts under tags of its own, so Catch2's own allocations never disturb them.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "debug/tags.h"
#include "lfh/lfh.h"
#include "lfh/lfh.hpp"

namespace {

lfh_tag_stat_t stat_of(std::uint32_t tag) {
  static lfh_tag_stat_t rows[1024];
  const std::size_t n = lfh_tag_stats(rows, 1024);
  for (std::size_t i = 0; i < n && i < 1024; ++i)
    if (rows[i].tag == tag) return rows[i];
  lfh_tag_stat_t none{};
  none.tag = tag;
  return none;
}

#define CHECK_TAG(tag, a, f, b, y)          \
  do {                                      \
    const lfh_tag_stat_t s_ = stat_of(tag); \
    CHECK(s_.allocs == (a));                \
    CHECK(s_.frees == (f));                 \
    CHECK(s_.blocks == (b));                \
    CHECK(s_.bytes == (y));                 \
  } while (0)

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The tag lfh derives from a module path (tagged.cpp): base name, "lib" dropped, up to 4
// characters stopping at '.', '-', '_'.
std::string module_tag_text(std::string path) {
  std::string name = path.substr(path.rfind('/') + 1);
  if (name.size() > 3 && name.compare(0, 3, "lib") == 0) name = name.substr(3);
  std::string t;
  for (char c : name) {
    if (c == '.' || c == '-' || c == '_' || t.size() == 4) break;
    t += c;
  }
  while (t.size() < 4) t += ' ';
  return t;
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, std::size_t(n)) : std::string();
}

}  // namespace

// ---- packing (any mode) ------------------------------------------------------------------------

TEST_CASE("tag packing: first character in the low byte, text round trip", "[on][off]") {
  const std::uint32_t t = LFH_TAG('J', 's', 'o', 'n');
  CHECK(t == 0x6e6f734au);
  CHECK((t & 0xff) == 'J');
  CHECK((t >> 24) == 'n');
  char text[5];
  lfh::debug::tag_text(t, text);
  CHECK(std::string(text) == "Json");
  CHECK(lfh::debug::tag_from_text("Json", 4) == t);
  CHECK(lfh::debug::tag_from_text("Ab", 2) == LFH_TAG('A', 'b', ' ', ' '));   // padded as pool tags are
  CHECK(lfh::debug::tag_from_text("", 0) == 0);
  CHECK(lfh::debug::tag_from_text("Toolong", 7) == 0);
  lfh::debug::tag_text(LFH_TAG('a', '\n', 0x7f, 'z'), text);
  CHECK(std::string(text) == "a??z");
  // In memory the tag reads in order, as a Windows pool tag in a dump.
  CHECK(std::memcmp(&t, "Json", 4) == 0);
}

TEST_CASE("thread tag and tag_scope nest and restore", "[on][off]") {
  const std::uint32_t before = lfh_thread_tag();
  {
    lfh::tag_scope a(LFH_TAG('S', 'c', 'p', '1'));
    CHECK(lfh_thread_tag() == LFH_TAG('S', 'c', 'p', '1'));
    {
      lfh::tag_scope b(LFH_TAG('S', 'c', 'p', '2'));
      CHECK(lfh_thread_tag() == LFH_TAG('S', 'c', 'p', '2'));
    }
    CHECK(lfh_thread_tag() == LFH_TAG('S', 'c', 'p', '1'));
  }
  CHECK(lfh_thread_tag() == before);
  CHECK(lfh_set_thread_tag(LFH_TAG('x', 'x', 'x', 'x')) == before);
  CHECK(lfh_set_thread_tag(before) == LFH_TAG('x', 'x', 'x', 'x'));
  std::thread([] { CHECK(lfh_thread_tag() == 0); }).join();   // a new thread starts untagged
}

// ---- LFH_TAGS=1 ------------------------------------------------------------------------------

TEST_CASE("tags on: counts exact after a known sequence", "[on]") {
  REQUIRE(lfh_tags_enabled());
  const std::uint32_t T = LFH_TAG('S', 'e', 'q', '1');
  std::vector<void *> v;
  for (int i = 0; i < 10; ++i) v.push_back(lfh_malloc_tagged(100, T));
  CHECK_TAG(T, 10u, 0u, 10u, 1000u);
  for (int i = 0; i < 4; ++i) free(v[std::size_t(i)]);
  CHECK_TAG(T, 10u, 4u, 6u, 600u);
  void *c = lfh_calloc_tagged(5, 20, T);
  REQUIRE(c);
  for (int i = 0; i < 100; ++i) CHECK(static_cast<unsigned char *>(c)[i] == 0);
  CHECK_TAG(T, 11u, 4u, 7u, 700u);
  {
    lfh::tag_scope s(T);
    void *a = aligned_alloc(64, 200);
    void *b = nullptr;
    REQUIRE(posix_memalign(&b, 4096, 5000) == 0);
    void *m = memalign(256, 1);
    REQUIRE(a);
    REQUIRE(m);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 4096 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(m) % 256 == 0);
    CHECK(malloc_usable_size(a) >= 200);
    CHECK(malloc_usable_size(b) >= 5000);
    CHECK(lfh_owns(a));
    CHECK(lfh_heap_of(b) == lfh_process_heap());
    std::memset(a, 0x5a, 200);
    std::memset(b, 0x5a, 5000);
    CHECK_TAG(T, 14u, 4u, 10u, 700u + 200 + 5000 + 1);
    free(a);
    free(b);
    free(m);
  }
  CHECK_TAG(T, 14u, 7u, 7u, 700u);
  free(c);
  for (std::size_t i = 4; i < v.size(); ++i) free(v[i]);
  CHECK_TAG(T, 14u, 14u, 0u, 0u);
  const lfh_tag_stat_t s = stat_of(T);
  CHECK(s.peak_bytes >= 5901);
  CHECK(std::string(s.name) == "Seq1");
}

TEST_CASE("tags on: malloc(0) and 16-byte alignment of small blocks", "[on]") {
  const std::uint32_t T = LFH_TAG('Z', 'e', 'r', 'o');
  std::vector<void *> v;
  v.reserve(300);   // (before the scope: the vector's own block is not counted under T)
  lfh::tag_scope s(T);
  for (int i = 0; i < 300; ++i) {   // enough to reach a subsegment's last block
    void *p = malloc(0);
    REQUIRE(p);
    CHECK(lfh_owns(p));
    v.push_back(p);
  }
  CHECK_TAG(T, 300u, 0u, 300u, 0u);
  for (void *p : v) free(p);
  for (std::size_t n : {1u, 8u, 24u, 40u}) {
    void *a = aligned_alloc(16, n);
    void *b = nullptr;
    REQUIRE(posix_memalign(&b, 16, n) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 16 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 16 == 0);
    free(a);
    free(b);
  }
  CHECK_TAG(T, 308u, 308u, 0u, 0u);
}

TEST_CASE("tags on: realloc across tiers keeps the tag and the bytes exact", "[on]") {
  const std::uint32_t T = LFH_TAG('R', 'e', 'a', 'l');
  char *p = static_cast<char *>(lfh_malloc_tagged(100, T));   // LFH
  for (int i = 0; i < 100; ++i) p[i] = char(i);
  CHECK_TAG(T, 1u, 0u, 1u, 100u);
  const std::size_t sizes[] = {20000, 100000, 10u << 20, 14u << 20, 500000, 16000, 24, 12000000, 100};
  std::size_t have = 100;
  for (std::size_t n : sizes) {   // LFH → core → direct → direct → core → LFH → LFH → direct → LFH
    // (direct blocks: above LFH_DIRECT_THRESHOLD, 8 MB by default)
    p = static_cast<char *>(realloc(p, n));
    REQUIRE(p);
    for (std::size_t i = 0; i < (have < n ? have : n) && i < 24; ++i) REQUIRE(p[i] == char(i));
    CHECK(malloc_usable_size(p) >= n);
    CHECK(lfh_owns(p));
    CHECK_TAG(T, 1u, 0u, 1u, std::uint64_t(n));
    have = n;
  }
  CHECK(stat_of(T).peak_bytes == 14u << 20);   // moves of ≥ 64 KB are published at once: exact
  free(p);
  CHECK_TAG(T, 1u, 1u, 0u, 0u);
  // realloc(p, 0) frees; realloc(NULL, n) allocates under the thread's tag.
  {
    lfh::tag_scope s(T);
    void *q = realloc(nullptr, 50);
    CHECK_TAG(T, 2u, 1u, 1u, 50u);
    CHECK(realloc(q, 0) == nullptr);
  }
  CHECK_TAG(T, 2u, 2u, 0u, 0u);
}

TEST_CASE("tags on: frees on other threads and threads that exit", "[on]") {
  const std::uint32_t T = LFH_TAG('T', 'h', 'r', 'd');
  std::vector<void *> v;
  for (int i = 0; i < 64; ++i) v.push_back(lfh_malloc_tagged(300, T));
  // Another thread frees 40 of them: the frees count in its shard, against the blocks' tag.
  std::thread([&] {
    for (int i = 0; i < 40; ++i) free(v[std::size_t(i)]);
  }).join();
  CHECK_TAG(T, 64u, 40u, 24u, 24u * 300);
  // Threads that allocate, free some, leave some, and exit; then more threads reuse their shards.
  const std::uint32_t U = LFH_TAG('T', 'h', 'r', '2');
  std::vector<void *> kept(32 * 8);
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; ++t)
      ts.emplace_back([&, t, round] {
        lfh::tag_scope s(U);
        for (int i = 0; i < 8; ++i) {
          void *x = malloc(1000);
          kept[std::size_t((round * 16 + t) * 8 + i)] = x;
          free(malloc(77));
        }
      });
    for (auto &th : ts) th.join();
  }
  CHECK_TAG(U, 32u * 8 * 2, 32u * 8, 32u * 8, 32u * 8 * 1000);
  for (void *x : kept) free(x);
  for (int i = 40; i < 64; ++i) free(v[std::size_t(i)]);
  CHECK_TAG(T, 64u, 64u, 0u, 0u);
  CHECK_TAG(U, 32u * 8 * 2, 32u * 8 * 2, 0u, 0u);
}

TEST_CASE("tags on: private heap blocks, and their destroy counts them freed", "[on]") {
  const std::uint32_t T = LFH_TAG('H', 'e', 'a', 'p');
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  void *a = lfh_heap_alloc_tagged(h, 0, 100, T);
  void *b = lfh_heap_alloc_tagged(h, LFH_HEAP_ZERO_MEMORY, 50000, T);
  void *c = lfh_heap_alloc_tagged(h, 0, 10u << 20, T);
  void *d;
  {
    lfh::tag_scope s(T);
    d = lfh_heap_aligned_alloc(h, 0, 128, 64);
  }
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  REQUIRE(d);
  CHECK(reinterpret_cast<std::uintptr_t>(d) % 128 == 0);
  CHECK(static_cast<unsigned char *>(b)[49999] == 0);
  CHECK(lfh_heap_of(a) == h);
  CHECK(lfh_heap_of(c) == h);
  CHECK(lfh_heap_size(h, 0, a) >= 100);
  CHECK(lfh_heap_validate(h, 0, b));
  CHECK(lfh_heap_validate(h, 0, nullptr));
  CHECK(lfh_validate());
  CHECK_TAG(T, 4u, 0u, 4u, 100u + 50000 + (10u << 20) + 64);
  a = lfh_heap_realloc(h, LFH_HEAP_ZERO_MEMORY, a, 30000);   // LFH → core, new bytes zero
  REQUIRE(a);
  CHECK(static_cast<unsigned char *>(a)[29999] == 0);
  CHECK(lfh_heap_of(a) == h);
  CHECK_TAG(T, 4u, 0u, 4u, 30000u + 50000 + (10u << 20) + 64);
  CHECK(lfh_heap_free(h, 0, b));
  CHECK_TAG(T, 4u, 1u, 3u, 30000u + (10u << 20) + 64);
  free(d);   // plain free of a private heap's block
  CHECK_TAG(T, 4u, 2u, 2u, 30000u + (10u << 20));
  REQUIRE(lfh_heap_destroy(h));
  CHECK_TAG(T, 4u, 4u, 0u, 0u);
}

TEST_CASE("tags on: untagged allocations count against the call site's module", "[on]") {
  const std::string want = module_tag_text(self_path());
  const std::uint32_t T = lfh::debug::tag_from_text(want.data(), 4);
  REQUIRE(lfh_thread_tag() == 0);
  const lfh_tag_stat_t before = stat_of(T);
  void *p = malloc(12345);
  const lfh_tag_stat_t after = stat_of(T);
  CHECK(after.allocs == before.allocs + 1);
  CHECK(after.bytes == before.bytes + 12345);
  free(p);
  CHECK(stat_of(T).frees == before.frees + 1);
}

TEST_CASE("tags on: rows are sorted by bytes, and a fork child counts on", "[on]") {
  static lfh_tag_stat_t rows[1024];
  const std::size_t n = lfh_tag_stats(rows, 1024);
  REQUIRE(n > 0);
  for (std::size_t i = 1; i < n && i < 1024; ++i) CHECK(rows[i - 1].bytes >= rows[i].bytes);
  lfh_tag_stat_t two[2];
  CHECK(lfh_tag_stats(two, 2) == n);   // returns how many are tracked
  CHECK(two[0].bytes == rows[0].bytes);

  const std::uint32_t T = LFH_TAG('F', 'o', 'r', 'k');
  void *p = lfh_malloc_tagged(1000, T);
  const pid_t pid = fork();
  if (pid == 0) {
    void *q = lfh_malloc_tagged(500, T);
    std::thread([q] { free(q); }).join();
    const lfh_tag_stat_t s = stat_of(T);
    _exit(s.allocs == 2 && s.frees == 1 && s.bytes == 1000 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  free(p);
  CHECK_TAG(T, 1u, 1u, 0u, 0u);
}

// ---- LFH_LEAKS=<file> ----------------------------------------------------------------------

namespace {
std::string leaks_path() {
  const char *w = std::getenv("LFH_LEAKS");
  REQUIRE(w);
  std::string p(w);
  const std::size_t at = p.find("%p");
  if (at != std::string::npos) p.replace(at, 2, std::to_string(getpid()));
  return p;
}

__attribute__((noinline)) void *leak_one(std::size_t n, std::uint32_t tag) { return lfh_malloc_tagged(n, tag); }
__attribute__((noinline)) void leak_n(int count, std::size_t n, std::uint32_t tag) {
  for (int i = 0; i < count; ++i) {
    (void)leak_one(n, tag);
    __asm__ volatile("" ::: "memory");
  }
}
}  // namespace

TEST_CASE("leaks: the report ranks the tags by bytes and names the allocating module", "[leaks]") {
  REQUIRE(lfh_tags_enabled());
  // Three tags: Lk_A 3 × 1000, Lk_B 2 × 5000, Lk_C 10 × 10 (plus freed blocks that must not show).
  // (through a helper: the allocating stacks name this program)
  leak_n(3, 1000, LFH_TAG('L', 'k', '_', 'A'));
  leak_n(2, 5000, LFH_TAG('L', 'k', '_', 'B'));
  leak_n(10, 10, LFH_TAG('L', 'k', '_', 'C'));
  for (int i = 0; i < 5; ++i) free(leak_one(777, LFH_TAG('L', 'k', '_', 'A')));
  char path[] = "/tmp/lfh_leak_report_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::size_t bytes = lfh_leak_report(fd);
  close(fd);
  const std::string r = slurp(path);
  unlink(path);
  INFO(r);
  CHECK(bytes >= 3000 + 10000 + 100);
  CHECK(r.find("lfh: leak report (pid ") == 0);
  CHECK(r.find("memory still reachable from globals included") != std::string::npos);
  const std::size_t a = r.find("lfh:   Lk_A"), b = r.find("lfh:   Lk_B"), c = r.find("lfh:   Lk_C");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  CHECK(b < a);   // 10000 bytes before 3000 before 100
  CHECK(a < c);
  // "tag blocks bytes allocs frees peak"
  CHECK(r.find("lfh:   Lk_B          2           10000           2           0") != std::string::npos);
  CHECK(r.find("lfh:   Lk_A          3            3000           8           5") != std::string::npos);
  CHECK(r.find("lfh:   Lk_C         10             100          10           0") != std::string::npos);
  // The top sites: Lk_B's blocks (the compiler may have given the loop two call sites), with
  // stacks whose first frame is in this program.
  const std::size_t site = r.find("lfh:   Lk_B: ");
  REQUIRE(site != std::string::npos);
  const std::size_t eol = r.find('\n', r.find("#0", site));
  const std::string frame = r.substr(site, eol - site);
  CHECK(frame.find(self_path() + "+0x") != std::string::npos);
}

TEST_CASE("leaks: lfh_heap_destroy reports the heap's blocks by tag and site", "[leaks]") {
  const std::string path = leaks_path();
  lfh_heap_t *h = lfh_heap_create(0, 0, 0);
  REQUIRE(h);
  for (int i = 0; i < 4; ++i) REQUIRE(lfh_heap_alloc_tagged(h, 0, 256, LFH_TAG('H', 'p', '_', 'X')));
  REQUIRE(lfh_heap_alloc_tagged(h, 0, 200000, LFH_TAG('H', 'p', '_', 'Y')));
  void *gone = lfh_heap_alloc_tagged(h, 0, 999, LFH_TAG('H', 'p', '_', 'Z'));
  lfh_heap_free(h, 0, gone);
  const std::size_t before = slurp(path).size();
  REQUIRE(lfh_heap_destroy(h));
  const std::string r = slurp(path).substr(before);
  INFO(r);
  char hp[32];
  std::snprintf(hp, sizeof hp, "%p", static_cast<void *>(h));
  CHECK(r.find(std::string("lfh: leak report for heap ") + hp + " (lfh_heap_destroy): 5 blocks, 201024 bytes") == 0);
  const std::size_t y = r.find("lfh:   Hp_Y          1          200000"), x = r.find("lfh:   Hp_X          4            1024");
  REQUIRE(y != std::string::npos);
  REQUIRE(x != std::string::npos);
  CHECK(y < x);
  CHECK(r.find("Hp_Z") == std::string::npos);
  CHECK(r.find("lfh:   Hp_Y: 1 block, 200000 bytes, allocated at:") != std::string::npos);
  CHECK(stat_of(LFH_TAG('H', 'p', '_', 'X')).blocks == 0);
  CHECK(stat_of(LFH_TAG('H', 'p', '_', 'Y')).frees == 1);
}

// ---- no option ---------------------------------------------------------------------------------

TEST_CASE("tags off: nothing is counted, behaviour unchanged", "[off]") {
  CHECK_FALSE(lfh_tags_enabled());
  lfh_tag_stat_t rows[4];
  void *p = lfh_malloc_tagged(100, LFH_TAG('O', 'f', 'f', ' '));
  REQUIRE(p);
  CHECK(lfh_owns(p));
  CHECK(malloc_usable_size(p) >= 100);
  CHECK(lfh_tag_stats(rows, 4) == 0);
  CHECK(lfh_leak_report(2) == 0);
  p = realloc(p, 200000);
  REQUIRE(p);
  CHECK(lfh_heap_of(p) == lfh_process_heap());
  free(p);
  void *c = lfh_calloc_tagged(10, 10, LFH_TAG('O', 'f', 'f', ' '));
  REQUIRE(c);
  CHECK(static_cast<unsigned char *>(c)[99] == 0);
  free(c);
  CHECK(lfh_thread_tag() == 0);   // the tagged calls leave the thread's tag as it was
  CHECK(lfh_tag_stats(rows, 4) == 0);
}
