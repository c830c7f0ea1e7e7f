// vm/ and os/ on real memory: reserve, commit, decommit, purge, release, the commit charge and its
// limit, and residency as the kernel reports it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "os/os.h"
#include "vm/span_arena.h"
#include "vm/vm.h"

using namespace lfh;

namespace {

constexpr std::size_t kPage = vm::kPageSize;
constexpr std::size_t kGran = vm::kGranularity;

std::uint64_t committed() { return vm::totals().committed; }

// Number of resident pages in [p, p+size).
std::size_t resident_pages(void *p, std::size_t size) {
  std::vector<unsigned char> v(size / kPage);
  REQUIRE(os::residency(p, size, v.data()));
  std::size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

void touch(void *p, std::size_t size) {
  for (std::size_t i = 0; i < size; i += kPage) static_cast<volatile char *>(p)[i] = 1;
}

// Restores "no commit limit" however a test ends.
struct LimitGuard {
  ~LimitGuard() { vm::set_commit_limit(0); }
};

}  // namespace

TEST_CASE("reservations are 64 KB aligned multiples of 64 KB") {
  for (std::size_t size : {kGran, 3 * kGran, 17 * kGran}) {
    const std::uint64_t before = vm::totals().reserved;
    void *p = vm::reserve(size);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % kGran == 0);
    CHECK(vm::totals().reserved == before + size);
    vm::release(p, size);
    CHECK(vm::totals().reserved == before);
  }
  // Larger alignments are honoured.
  for (std::size_t align : {2 * kGran, std::size_t(1) << 20, std::size_t(2) << 20}) {
    void *p = vm::reserve(kGran, align);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
    vm::release(p, kGran);
  }
  // Sizes that are not granule multiples and bad alignments are refused.
  CHECK(os::reserve(kGran + kPage) == nullptr);
  CHECK(os::reserve(0) == nullptr);
  CHECK(os::reserve(kGran, kPage) == nullptr);
  CHECK(os::reserve(kGran, 3 * kGran) == nullptr);
}

TEST_CASE("commit makes pages writable and charges them and decommit gives both back") {
  const std::size_t size = 4 * kGran;
  char *p = static_cast<char *>(vm::reserve(size));
  REQUIRE(p != nullptr);
  const std::uint64_t base = committed();
  CHECK(resident_pages(p, size) == 0);

  REQUIRE(vm::commit(p + kGran, 2 * kGran));
  CHECK(committed() == base + 2 * kGran);
  CHECK(vm::totals().peak_committed >= committed());
  CHECK(std::all_of(p + kGran, p + 3 * kGran, [](char c) { return c == 0; }));   // demand-zero
  std::memset(p + kGran, 0x5a, 2 * kGran);
  CHECK(resident_pages(p, size) == 2 * kGran / kPage);

  const std::uint64_t decommitted = vm::totals().decommitted;
  vm::decommit(p + kGran, kGran);
  CHECK(committed() == base + kGran);
  CHECK(vm::totals().decommitted == decommitted + kGran);
  CHECK(resident_pages(p + kGran, kGran) == 0);
  CHECK(resident_pages(p + 2 * kGran, kGran) == kGran / kPage);   // the neighbour is untouched
  CHECK(static_cast<unsigned char>(p[2 * kGran]) == 0x5a);

  // Recommitting a decommitted range gives zero pages again.
  REQUIRE(vm::commit(p + kGran, kGran));
  CHECK(p[kGran] == 0);
  vm::decommit(p + kGran, 2 * kGran);
  CHECK(committed() == base);
  vm::release(p, size);
}

TEST_CASE("purge drops pages but keeps the range readable and zero") {
  const std::size_t size = 2 * kGran;
  char *p = static_cast<char *>(vm::reserve(size));
  REQUIRE(p != nullptr);
  const std::uint64_t base = committed();
  REQUIRE(vm::commit(p, size));
  std::memset(p, 0x77, size);
  CHECK(resident_pages(p, size) == size / kPage);
  vm::purge(p, size);
  CHECK(committed() == base);
  CHECK(resident_pages(p, size) == 0);
  // Still mapped: reading does not fault and sees zeros, writing works (purge is not decommit).
  CHECK(p[0] == 0);
  CHECK(p[size - 1] == 0);
  p[100] = 1;
  CHECK(p[100] == 1);
  vm::release(p, size);
}

TEST_CASE("reserve_committed and release_committed balance the charge") {
  const std::uint64_t base = committed(), reserved = vm::totals().reserved;
  const std::size_t size = 2 * kGran;
  char *p = static_cast<char *>(vm::reserve_committed(size));
  REQUIRE(p != nullptr);
  CHECK(committed() == base + size);
  CHECK(vm::totals().reserved == reserved + size);
  touch(p, size);
  vm::release_committed(p, size, size);
  CHECK(committed() == base);
  CHECK(vm::totals().reserved == reserved);
}

TEST_CASE("the commit limit refuses a commit and charges nothing") {
  LimitGuard guard;
  const std::size_t size = 4 * kGran;
  char *p = static_cast<char *>(vm::reserve(size));
  REQUIRE(p != nullptr);
  const std::uint64_t base = committed(), failures = vm::totals().commit_failures;

  vm::set_commit_limit(base + kGran);
  CHECK(vm::totals().commit_limit == base + kGran);
  CHECK_FALSE(vm::commit(p, 2 * kGran));
  CHECK(committed() == base);
  CHECK(vm::totals().commit_failures == failures + 1);
  CHECK(vm::reserve_committed(2 * kGran) == nullptr);
  CHECK(committed() == base);
  CHECK_FALSE(vm::charge(kGran + 1));
  CHECK(committed() == base);

  // Up to the limit is fine.
  REQUIRE(vm::commit(p, kGran));
  CHECK(committed() == base + kGran);
  CHECK_FALSE(vm::commit(p + kGran, kPage));

  vm::set_commit_limit(0);
  REQUIRE(vm::commit(p + kGran, 3 * kGran));
  CHECK(committed() == base + size);
  vm::decommit(p, size);
  CHECK(committed() == base);
  vm::release(p, size);
}

TEST_CASE("a commit the kernel refuses is undone") {
  char *p = static_cast<char *>(vm::reserve(kGran));
  REQUIRE(p != nullptr);
  const std::uint64_t base = committed(), injected = os::injected_failures();
  os::set_failure_schedule(1);   // every call fails
  const bool ok = vm::commit(p, kGran);
  void *q = vm::reserve(kGran);
  os::set_failure_schedule(0);
  CHECK_FALSE(ok);
  CHECK(q == nullptr);
  CHECK(os::injected_failures() == injected + 2);
  CHECK(committed() == base);
  REQUIRE(vm::commit(p, kGran));
  vm::decommit(p, kGran);
  vm::release(p, kGran);
}

namespace {
// One 64 KB span from a: it must be given and writable.
vm::Span carve_one(vm::SpanArena &a) {
  vm::Span s = a.alloc(1);
  REQUIRE(s.base != nullptr);
  touch(s.base, kGran);
  return s;
}
}  // namespace

// Carving commits a growable arena's regions 1 MB ahead (one system call per 16 spans of 64 KB,
// not one each), or just the span when the chunk is refused near the commit limit; a fixed-size
// arena's budget is charged span by span, so it commits exactly.
TEST_CASE("the span arena commits 1 MB ahead of its carving, a fixed-size arena exactly per span") {
  constexpr std::size_t kChunk = vm::SpanArena::kCommitChunk;
  static_assert(kChunk % kGran == 0);
  constexpr std::size_t kSpansPerChunk = kChunk / kGran;
  {
    vm::SpanArena a;
    a.configure(/*lock_pages=*/false, /*fixed_size=*/0, /*cache_budget=*/0);
    CHECK(carve_one(a).zeroed);   // reserves the first region, commits its first chunk
    const std::uint64_t base = committed();
    for (std::size_t i = 1; i < kSpansPerChunk; ++i) carve_one(a);
    CHECK(committed() == base);   // all inside the chunk committed with the first span
    carve_one(a);
    CHECK(committed() == base + kChunk);   // the next chunk, at once
    a.release_all();
  }
  {
    // Near the commit limit a chunk does not fit; the span still gets its own 64 KB.
    LimitGuard guard;
    vm::SpanArena a;
    a.configure(false, 0, 0);
    carve_one(a);
    vm::set_commit_limit(committed() + kChunk / 2);
    for (std::size_t i = 1; i < kSpansPerChunk; ++i) carve_one(a);
    const std::uint64_t base = committed();
    carve_one(a);
    CHECK(committed() == base + kGran);
    a.release_all();
  }
  {
    vm::SpanArena f;
    f.configure(/*lock_pages=*/false, /*fixed_size=*/4 * kChunk, /*cache_budget=*/0);
    carve_one(f);
    const std::uint64_t base = committed();
    carve_one(f);
    CHECK(committed() == base + kGran);
    f.release_all();
  }
}
