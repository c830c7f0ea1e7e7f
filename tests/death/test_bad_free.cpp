// Bad pointers given to free/realloc are reported and abort the process. Each case runs in a
// forked child (this program links liblfh.a, so plain free() is lfh's); the parent checks that the
// child died of SIGABRT and that its stderr names the problem and the address.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "test_util.h"

using lfh_test::launder;

namespace {

struct Death {
  bool aborted = false;     // killed by SIGABRT
  int status = 0;
  std::string err;          // what the child wrote to stderr
};

// Run `bad` in a child with stderr captured. The child exits 0 if `bad` returns.
template <class F> Death run_in_child(F bad) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    signal(SIGABRT, SIG_DFL);   // not Catch2's handler
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    alarm(20);   // a hang dies of SIGALRM, which the parent reports
    bad();
    _exit(0);
  }
  close(fds[1]);
  Death d;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) d.err.append(buf, std::size_t(n));
  close(fds[0]);
  REQUIRE(waitpid(pid, &d.status, 0) == pid);
  d.aborted = WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT;
  return d;
}

std::string hex(const void *p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)));
  return buf;
}

// The child aborted with "lfh: <what> of <address>" on stderr.
void expect_report(const Death &d, const char *what, const void *address) {
  const std::string want = std::string("lfh: ") + what + " of " + hex(address);
  INFO("child status " << d.status << ", stderr: " << d.err);
  CHECK(d.aborted);
  CHECK(d.err.find(want) != std::string::npos);
}

}  // namespace

TEST_CASE("the harness tells a clean exit from an abort") {
  void *p = malloc(32);
  Death ok = run_in_child([&] { free(launder(p)); });
  CHECK_FALSE(ok.aborted);
  CHECK(WIFEXITED(ok.status));
  CHECK(ok.err.empty());
  free(p);
}

TEST_CASE("free of a stack address") {
  int local = 0;
  int *on_stack = &local;   // the child has the same stack layout: this is a stack address there
  expect_report(run_in_child([&] { free(launder(on_stack)); }), "invalid free", on_stack);
}

TEST_CASE("free of a garbage address") {
  void *garbage = reinterpret_cast<void *>(0x1234560);
  expect_report(run_in_child([&] { free(launder(garbage)); }), "invalid free", garbage);
}

TEST_CASE("free of a pointer from a raw mmap") {
  void *m = mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(m != MAP_FAILED);
  expect_report(run_in_child([&] { free(launder(m)); }), "invalid free", m);
  char *inside = static_cast<char *>(m) + 4096;
  expect_report(run_in_child([&] { free(launder(inside)); }), "invalid free", inside);
  munmap(m, 65536);
}

TEST_CASE("free of an interior pointer of a small block") {
  for (std::size_t n : {16, 64, 1000, 16384}) {
    char *p = static_cast<char *>(malloc(n));
    REQUIRE(p != nullptr);
    for (std::size_t off : {std::size_t(1), std::size_t(8), n / 2}) {
      INFO("size " << n << " offset " << off);
      expect_report(run_in_child([&] { free(launder(p + off)); }), "invalid free", p + off);
    }
    free(p);
  }
}

TEST_CASE("free of an interior pointer of a large block") {
  char *p = static_cast<char *>(malloc(200000));
  REQUIRE(p != nullptr);
  for (std::size_t off : {std::size_t(16), std::size_t(4096), std::size_t(199999)}) {
    INFO("offset " << off);
    expect_report(run_in_child([&] { free(launder(p + off)); }), "invalid free", p + off);
  }
  free(p);
}

TEST_CASE("double free of a small block") {
  for (std::size_t n : {1, 8, 24, 256, 4000, 16384}) {
    INFO("size " << n);
    void *p = malloc(n);
    REQUIRE(p != nullptr);
    expect_report(run_in_child([&] {
                    free(launder(p));
                    free(launder(p));
                  }),
                  "double free", p);
    free(p);
  }
}

TEST_CASE("double free of a small block after other frees of its bucket") {
  void *a = malloc(48), *b = malloc(48), *c = malloc(48);
  expect_report(run_in_child([&] {
                  free(launder(a));
                  free(launder(b));
                  free(launder(c));
                  free(launder(b));
                }),
                "double free", b);
  free(a);
  free(b);
  free(c);
}

TEST_CASE("double free of a large block") {
  for (std::size_t n : {100 * 1024, 5 * 1024 * 1024}) {
    INFO("size " << n);
    void *p = malloc(n);
    REQUIRE(p != nullptr);
    expect_report(run_in_child([&] {
                    free(launder(p));
                    free(launder(p));
                  }),
                  "double free", p);
    free(p);
  }
}

TEST_CASE("realloc of a freed pointer") {
  for (std::size_t n : {32, 100 * 1024}) {
    INFO("size " << n);
    void *p = malloc(n);
    REQUIRE(p != nullptr);
    expect_report(run_in_child([&] {
                    free(launder(p));
                    void *q = realloc(launder(p), 64);
                    free(q);
                  }),
                  "double free", p);
    free(p);
  }
}

TEST_CASE("realloc of a pointer lfh never handed out") {
  void *garbage = reinterpret_cast<void *>(0x1234560);
  expect_report(run_in_child([&] { free(realloc(launder(garbage), 10)); }), "invalid free", garbage);
  char *p = static_cast<char *>(malloc(64));
  expect_report(run_in_child([&] { free(realloc(launder(p + 16), 10)); }), "invalid free", p + 16);
  free(p);
}
