// balance/pressure.cpp — see pressure.h.
#include "balance/pressure.h"

#include "os/signals.h"
#include "vm/vm.h"

namespace lfh::balance {
namespace {

bool starts_with(const char *s, const char *prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

std::uint64_t parse_u64(const char *s) {
  std::uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + std::uint64_t(*s++ - '0');
  return v;
}

void copy(char *dst, std::size_t cap, const char *a, const char *b, const char *c) {
  std::size_t n = 0;
  for (const char *parts[3] = {a, b, c}; const char *p : parts)
    for (; p && *p && n + 1 < cap; ++p) dst[n++] = *p;
  dst[n] = 0;
}

}  // namespace

bool PressureMonitor::parse_psi_total(const char *text, std::uint64_t *some_total_us) {
  // "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\nfull ..."
  if (!starts_with(text, "some ")) return false;
  for (const char *c = text; *c && *c != '\n'; ++c)
    if (starts_with(c, "total=")) {
      *some_total_us = parse_u64(c + 6);
      return true;
    }
  return false;
}

bool PressureMonitor::parse_events(const char *text, std::uint64_t *high, std::uint64_t *max) {
  bool got_high = false, got_max = false;
  for (const char *c = text; *c;) {
    if (starts_with(c, "high ")) {
      *high = parse_u64(c + 5);
      got_high = true;
    } else if (starts_with(c, "max ")) {
      *max = parse_u64(c + 4);
      got_max = true;
    }
    while (*c && *c != '\n') ++c;
    if (*c) ++c;
  }
  return got_high && got_max;
}

void PressureMonitor::init() {
  inited_ = true;
  psi_ok_ = events_ok_ = false;
  char buf[1024];
  // cgroup v2: a line "0::/path".
  const char *cg = nullptr;
  if (os::read_small_file("/proc/self/cgroup", buf, sizeof buf) > 0) {
    for (char *c = buf; *c;) {
      char *line = c;
      while (*c && *c != '\n') ++c;
      if (*c) *c++ = 0;
      if (starts_with(line, "0::")) cg = line + 3;
    }
  }
  if (cg) {
    if (cg[0] == '/' && cg[1] == 0) cg = "";
    copy(events_path_, sizeof events_path_, "/sys/fs/cgroup", cg, "/memory.events");
    copy(psi_path_, sizeof psi_path_, "/sys/fs/cgroup", cg, "/memory.pressure");
    char tmp[512];
    events_ok_ = os::read_small_file(events_path_, tmp, sizeof tmp) > 0 && parse_events(tmp, &high_, &max_);
    psi_ok_ = os::read_small_file(psi_path_, tmp, sizeof tmp) > 0 && parse_psi_total(tmp, &psi_total_);
  }
  if (!psi_ok_) {
    copy(psi_path_, sizeof psi_path_, "/proc/pressure/memory", nullptr, nullptr);
    char tmp[512];
    psi_ok_ = os::read_small_file(psi_path_, tmp, sizeof tmp) > 0 && parse_psi_total(tmp, &psi_total_);
  }
}

bool PressureMonitor::check(std::uint32_t period_ms) {
  if (!inited_) init();
  bool pressure = false;
  vm::Totals t = vm::totals();
  if (t.commit_limit && t.committed >= t.commit_limit - t.commit_limit / 16) pressure = true;
  char tmp[512];
  if (psi_ok_) {
    std::uint64_t total = 0;
    if (os::read_small_file(psi_path_, tmp, sizeof tmp) > 0 && parse_psi_total(tmp, &total)) {
      // Stalled more than 1 % of the tick (total is in µs; period_ms · 10 µs = 1 %).
      if (total > psi_total_ && total - psi_total_ > std::uint64_t(period_ms) * 10) pressure = true;
      psi_total_ = total;
    }
  }
  if (events_ok_) {
    std::uint64_t high = 0, max = 0;
    if (os::read_small_file(events_path_, tmp, sizeof tmp) > 0 && parse_events(tmp, &high, &max)) {
      if (high > high_ || max > max_) pressure = true;
      high_ = high;
      max_ = max;
    }
  }
  return pressure;
}

}  // namespace lfh::balance
