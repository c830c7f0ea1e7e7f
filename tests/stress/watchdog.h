// watchdog.h — a test that hangs (a deadlock in the allocator) must fail, not stall CI until
// CTest's own timeout: start_watchdog(s) starts a thread that ends the process with exit status 3
// and a "watchdog" line after s seconds. Programs call it first thing in main.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace stress {

inline void start_watchdog(int seconds) {
  if (seconds <= 0) return;
  std::thread([seconds] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    static const char msg[] = "FAILED: watchdog: the test did not finish in time (deadlock?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
  }).detach();
}

}  // namespace stress
