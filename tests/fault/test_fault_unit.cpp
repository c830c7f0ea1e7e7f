// Unit tests of fault injection's decision (src/debug/fault.h) without a preload: the option
// parsing (rates as fractions and percentages, what is refused), the rate over many draws, each
// filter, and the exemption of lfh's own libc calls. Linked with lfh_internal: glibc keeps malloc,
// and fault_decide is called directly (with g_fault_on set it never touches the program's heap).
#include <catch2/catch.hpp>

#include <errno.h>

#include <cstdint>
#include <thread>

#include "base/options.h"
#include "debug/fault.h"
#include "debug/tags.h"
#include "os/os.h"

using namespace lfh::debug;

namespace {

// Decode `vars` (NAME=value…) as lfh would at start; the result of fault_init.
template <class... S>
bool init_with(S... vars) {
  char *env[] = {const_cast<char *>(vars)..., nullptr};
  lfh::options_init(env, true);
  return fault_init();
}

// How many of `n` draws of this thread fail, for requests of `size` bytes.
int failures(int n, std::size_t size = 64) {
  int f = 0;
  for (int i = 0; i < n; ++i) {
    errno = 0;
    if (fault_decide(size, __builtin_dwarf_cfa())) {
      CHECK(errno == ENOMEM);
      ++f;
    }
  }
  return f;
}

}  // namespace

TEST_CASE("fault rates: fractions and percentages") {
  REQUIRE(init_with("LFH_FAULT_RATE=0.06", "LFH_FAULT_SEED=1"));
  const int a = failures(100000);
  CHECK(a > 5600);
  CHECK(a < 6400);
  REQUIRE(init_with("LFH_FAULT_RATE=6%", "LFH_FAULT_SEED=1"));
  const int b = failures(100000);
  CHECK(b > 5600);
  CHECK(b < 6400);
  REQUIRE(init_with("LFH_FAULT_RATE=.5%"));   // the seed from the clock
  const int c = failures(100000);
  CHECK(c > 350);
  CHECK(c < 650);
  REQUIRE(init_with("LFH_FAULT_RATE=1"));
  CHECK(failures(1000) == 1000);
  REQUIRE(init_with("LFH_FAULT_RATE=100%"));
  CHECK(failures(1000) == 1000);
  REQUIRE(init_with("LFH_FAULT_RATE=0.000001"));
  CHECK(failures(1000) < 5);
}

TEST_CASE("fault rates not understood leave fault injection off") {
  for (const char *bad : {"LFH_FAULT_RATE=1.5", "LFH_FAULT_RATE=101%", "LFH_FAULT_RATE=abc", "LFH_FAULT_RATE=5%%",
                          "LFH_FAULT_RATE=0.1.2", "LFH_FAULT_RATE=%", "LFH_FAULT_RATE=-0.1", "LFH_FAULT_RATE=0",
                          "LFH_FAULT_RATE=0%", "LFH_FAULT_RATE="}) {
    INFO(bad);
    CHECK_FALSE(init_with(bad));
  }
  CHECK_FALSE(init_with("LFH_FAULT_SEED=5"));   // no rate: off
}

TEST_CASE("fault injection: LFH_FAULT_SIZES") {
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_SIZES=100-2K"));
  CHECK(failures(100, 99) == 0);
  CHECK(failures(100, 100) == 100);
  CHECK(failures(100, 2048) == 100);
  CHECK(failures(100, 2049) == 0);
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_SIZES=1M-"));
  CHECK(failures(10, 1048575) == 0);
  CHECK(failures(10, std::size_t(1) << 40) == 10);
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_SIZES=junk"));   // refused: every size
  CHECK(failures(10, 1) == 10);
}

TEST_CASE("fault injection: LFH_FAULT_TAGS") {
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_TAGS=Json, Ab"));
  const std::uint32_t old = set_thread_tag(kNoTag);
  CHECK(failures(10) == 0);
  set_thread_tag(tag_from_text("Json", 4));
  CHECK(failures(10) == 10);
  set_thread_tag(tag_from_text("Ab", 2));   // "Ab  ", padded as pool tags are
  CHECK(failures(10) == 10);
  set_thread_tag(tag_from_text("Jso", 3));
  CHECK(failures(10) == 0);
  set_thread_tag(old);
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_TAGS=Toolong"));   // refused: every tag
  CHECK(failures(10) == 10);
}

TEST_CASE("fault injection: lfh's own libc calls never fail") {
  REQUIRE(init_with("LFH_FAULT_RATE=1"));
  {
    lfh::os::LibcCallScope lfh_call;
    CHECK(failures(100) == 0);
  }
  CHECK(failures(100) == 100);
}

TEST_CASE("fault injection: the delay") {
  REQUIRE(init_with("LFH_FAULT_RATE=1", "LFH_FAULT_DELAY_MS=300"));
  CHECK(failures(1000) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  CHECK(failures(1000) == 1000);
}

TEST_CASE("fault injection counts what it injects") {
  REQUIRE(init_with("LFH_FAULT_RATE=0.25", "LFH_FAULT_SEED=3"));
  const std::uint64_t before = faults_injected();
  const int f = failures(20000);
  CHECK(faults_injected() - before == std::uint64_t(f));
  // Another thread draws its own sequence and adds to the same count.
  int g = 0;
  std::thread t([&] { g = failures(20000); });
  t.join();
  CHECK(faults_injected() - before == std::uint64_t(f + g));
  CHECK(g > 4000);
  CHECK(g < 6000);
}
