// Bad input to the core heap: double and invalid frees are reported from the boundary tags, the
// committed-page bitmap and the page map; an overwritten header is reported as heap corruption at
// the next operation that touches it. Each case runs in a forked child that must abort.
#include <catch2/catch.hpp>

#include <cstring>

#include "core_test_util.h"
#include "heap/heap.h"
#include "test_util.h"

using namespace core_test;

namespace {

template <class F> void expect_abort(F fn, const char *message) {
  bool aborted = false;
  std::string out = run_child(fn, &aborted);
  INFO("child said: " << out);
  CHECK(aborted);
  CHECK(out.find(message) != std::string::npos);
  CHECK(out.rfind("lfh: ", 0) == 0);
}

}  // namespace

TEST_CASE("double free of a core block") {
  expect_abort([] {
    TestCore t;
    void *p = t.alloc(100000);
    void *guard = t.alloc(100000);
    (void)guard;
    t.free(p);
    t.free(lfh_test::launder(p));
  }, "lfh: double free");
}

TEST_CASE("double free of a core block that was merged into its free neighbour") {
  expect_abort([] {
    TestCore t;
    void *a = t.alloc(100000), *b = t.alloc(100000), *c = t.alloc(100000);
    (void)c;
    t.free(a);
    t.free(b);   // b's header is now inside a's free range
    t.free(lfh_test::launder(b));
  }, "lfh: double free");
}

TEST_CASE("double free of a core block whose pages were decommitted") {
  expect_abort([] {
    CoreConfig c = quiet();
    c.purge_delay_ms = 0;
    TestCore t(c);
    void *g = t.alloc(20000);
    char *p = static_cast<char *>(t.alloc(600000));
    void *g2 = t.alloc(20000);
    (void)g, (void)g2;
    t.free(p);
    // p's header page is kept; an interior page of the range is gone: both must read as freed.
    t.core.free(segment_of(p + 300000), lfh_test::launder(p + 300000));
  }, "lfh: double free");
}

TEST_CASE("free of an interior pointer of a core block") {
  expect_abort([] {
    TestCore t;
    char *p = static_cast<char *>(t.alloc(100000));
    t.free(lfh_test::launder(p + 4096));
  }, "lfh: invalid free");
}

TEST_CASE("free of a misaligned pointer into a core block") {
  expect_abort([] {
    TestCore t;
    char *p = static_cast<char *>(t.alloc(100000));
    t.free(lfh_test::launder(p + 1));
  }, "lfh: invalid free");
}

TEST_CASE("an overrun into the next block's header is heap corruption at the next free") {
  expect_abort([] {
    TestCore t;
    char *a = static_cast<char *>(t.alloc(100000));
    char *b = static_cast<char *>(t.alloc(100000));
    (void)b;
    std::memset(a, 0x41, t.usable(a) + 8);   // 8 bytes into b's header
    t.free(a);                               // a's free looks at b to merge
  }, "lfh: heap corruption");
}

TEST_CASE("freeing the block whose header was overwritten is heap corruption") {
  expect_abort([] {
    TestCore t;
    char *a = static_cast<char *>(t.alloc(100000));
    char *b = static_cast<char *>(t.alloc(100000));
    std::memset(a, 0, t.usable(a) + 16);   // b's whole header zeroed
    t.free(b);
  }, "lfh: heap corruption");
}

TEST_CASE("an underrun into the block's own header is heap corruption when it is freed") {
  expect_abort([] {
    TestCore t;
    (void)t.alloc(100000);
    char *b = static_cast<char *>(t.alloc(100000));
    b[-4] = 0x12;
    t.free(b);
  }, "lfh: heap corruption");
}

TEST_CASE("free() of a core block after its segment was released is a double free") {
  expect_abort([] {
    lfh::process_heap();
    CoreConfig c = quiet();
    c.purge_delay_ms = 0;
    TestCore t(c);
    void *p = t.alloc(100000);
    t.free(p);   // the segment is empty: released at once
    lfh::free_block(lfh_test::launder(p));
  }, "lfh: double free");
}

TEST_CASE("realloc of a freed core block is reported") {
  expect_abort([] {
    lfh::process_heap();
    lfh::Heap *h = new lfh::Heap();
    if (!h->init(0, 0, 0, 4, 256, true)) return;
    void *p = h->alloc(100000);
    void *q = h->alloc(100000);
    (void)q;
    lfh::free_block(p);
    h->realloc(lfh_test::launder(p), 200000);
  }, "lfh: double free");
}

TEST_CASE("double free of a direct block kept in the cache of freed regions") {
  expect_abort([] {
    lfh::process_heap();
    lfh::Heap *h = new lfh::Heap();
    if (!h->init(0, 0, 0, 4, 256, true)) return;
    void *p = h->alloc(3 << 20);
    lfh::free_block(p);
    lfh::free_block(lfh_test::launder(p));
  }, "lfh: double free");
}
