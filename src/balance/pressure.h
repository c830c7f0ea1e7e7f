// balance/pressure.h — is the system short of memory? Checked once a tick, cheaply (one or two
// small file reads), from what Linux publishes where it is available:
//   * PSI (/proc/pressure/memory, or the cgroup's own memory.pressure under cgroup v2): the
//     cumulative time tasks stalled on memory ("some ... total=<µs>"). Pressure when it grew by
//     more than 1 % of the tick since the previous check.
//   * cgroup v2 memory.events: the "high" (reclaim forced because memory.high was passed) and
//     "max" (memory.max was hit) counters. Pressure when either grew.
//   * lfh's own commit limit (LFH_COMMIT_LIMIT): pressure when the commit charge is within 1/16
//     of it.
// A source that cannot be read the first time is not read again.
#pragma once
#include <cstdint>

namespace lfh::balance {

class PressureMonitor {
 public:
  constexpr PressureMonitor() = default;
  // Locate the files (cgroup path from /proc/self/cgroup). Call once, on the tick's thread.
  void init();
  // True when any source reports pressure since the previous call. `period_ms`: the tick.
  bool check(std::uint32_t period_ms);
  void reset() { inited_ = false; }

  // For tests: parse the files' formats.
  static bool parse_psi_total(const char *text, std::uint64_t *some_total_us);
  static bool parse_events(const char *text, std::uint64_t *high, std::uint64_t *max);

 private:
  bool inited_ = false;
  bool psi_ok_ = false, events_ok_ = false;
  char psi_path_[256] = {};
  char events_path_[256] = {};
  std::uint64_t psi_total_ = 0, high_ = 0, max_ = 0;
};

}  // namespace lfh::balance
