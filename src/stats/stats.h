// stats/stats.h — gathering and printing statistics. Counters live where they are counted (per-CPU
// look-aside lists, buckets, vm totals) and are summed here, on read: nothing is paid on the fast
// path for statistics nobody reads.
#pragma once
#include "lfh/lfh.h"

namespace lfh::stats {

void collect(lfh_stats_t *out);
void print(int fd, unsigned flags);
// LFH_STATS at exit: "1" → stderr, otherwise a path (%p → pid).
void print_at_exit_if_asked();

}  // namespace lfh::stats
