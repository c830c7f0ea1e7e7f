// os/cpu.h — the current CPU number, inline for the fast path.
//
// glibc ≥ 2.35 registers an rseq area for every thread and exports where it is (__rseq_offset
// from the thread pointer, __rseq_size > 0 when registered). The kernel keeps cpu_id there current
// on every migration, so reading it is one load. Declared weak so lfh still links (and falls back
// to sched_getcpu) on an older glibc or with glibc.pthread.rseq=0.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "os/os.h"

extern "C" {
extern const std::ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace lfh::os {

namespace detail {
extern LFH_HIDDEN std::uint32_t g_cpu_count;   // possible_cpus(), cached at initialisation
std::uint32_t current_cpu_slow();
}  // namespace detail

LFH_ALWAYS_INLINE std::uint32_t current_cpu_fast() {
#if defined(__x86_64__)
  if (LFH_LIKELY(&__rseq_size != nullptr && __rseq_size != 0)) {
    // struct rseq { u32 cpu_id_start; u32 cpu_id; ... } at fs:__rseq_offset.
    std::uint32_t cpu;
    __asm__ volatile("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(__rseq_offset));
    if (LFH_LIKELY(cpu < detail::g_cpu_count)) return cpu;
  }
#elif defined(__aarch64__)
  if (LFH_LIKELY(&__rseq_size != nullptr && __rseq_size != 0)) {
    char *tp;
    __asm__("mrs %0, tpidr_el0" : "=r"(tp));
    std::uint32_t cpu = reinterpret_cast<volatile std::uint32_t *>(tp + __rseq_offset)[1];
    if (LFH_LIKELY(cpu < detail::g_cpu_count)) return cpu;
  }
#endif
  return detail::current_cpu_slow();
}

// A coarse, cheap, monotonic-enough clock for slow-path heuristics (is a list still in use?):
// the time-stamp counter / 65536 on x86-64 (about 20-30 µs a unit; no system call, no vDSO), else
// CLOCK_MONOTONIC / 16384 ns. Wraps every 2^32 units (about a day): compare unsigned differences.
LFH_ALWAYS_INLINE std::uint32_t coarse_ticks() {
#if defined(__x86_64__)
  return std::uint32_t(__builtin_ia32_rdtsc() >> 16);
#else
  return std::uint32_t(now_ns() >> 14);
#endif
}

}  // namespace lfh::os
