// os/shm.cpp — the shared-memory segment of the live statistics, and process memory figures.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

namespace lfh::os {
namespace {

// "/dev/shm/" + name into buf (no allocation); false when it does not fit.
bool shm_path(const char *name, char *buf, std::size_t cap) {
  static constexpr char kDir[] = "/dev/shm/";
  std::size_t n = 0;
  for (const char *c = kDir; *c; ++c) buf[n++] = *c;
  for (const char *c = name; *c; ++c) {
    if (n + 1 >= cap) return false;
    buf[n++] = *c;
  }
  buf[n] = 0;
  return true;
}

}  // namespace

void *shm_create(const char *name, std::size_t size) {
  char path[128];
  if (!shm_path(name, path, sizeof path)) return nullptr;
  // O_EXCL: never write into a file someone else prepared (a symlink planted in /dev/shm).
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) {
    // Our pid's name: left by a dead process with the same pid. Replace it.
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0) return nullptr;
  if (ftruncate(fd, off_t(size)) != 0) {
    close(fd);
    unlink(path);
    return nullptr;
  }
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    unlink(path);
    return nullptr;
  }
  return p;
}

void shm_unmap(void *p, std::size_t size) { munmap(p, size); }

void shm_remove(const char *name) {
  char path[128];
  if (shm_path(name, path, sizeof path)) unlink(path);
}

std::uint64_t peak_rss_bytes() {
  rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return std::uint64_t(ru.ru_maxrss) * 1024;   // Linux reports KB
}

std::uint64_t rss_bytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // "size resident shared ...": the second field, in pages.
  const char *c = buf;
  while (*c && *c != ' ') ++c;
  while (*c == ' ') ++c;
  std::uint64_t pages = 0;
  while (*c >= '0' && *c <= '9') pages = pages * 10 + std::uint64_t(*c++ - '0');
  return pages * std::uint64_t(sysconf(_SC_PAGESIZE));
}

std::uint64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

}  // namespace lfh::os
