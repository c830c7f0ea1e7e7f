// stats/snapshot.h — one consistent-enough picture of every heap: totals, per heap, per bucket,
// per tag and (optionally) the region list, in the layout of stats/live_format.h. The printers
// (stats.cpp), the live segment (live.cpp) and the tests all read this one collection, so what
// lfh_stats_print shows, what `lfh stat` shows and what the tests check cannot drift apart.
//
// Cost and locks: each bucket's lock is taken once, briefly (its counters, and its subsegment list
// when regions are asked for); each core arena's and the direct list's lock once; the magazine
// registry lock once. Look-aside counters are read with relaxed loads. Nothing is written on any
// allocation path: the fast path pays nothing for statistics.
#pragma once
#include "stats/live_format.h"

namespace lfh::stats {

struct SnapshotOptions {
  bool regions = false;    // fill the region list (lfh map)
  bool resident = false;   // … and measure each region's resident bytes (mincore)
};

// Fill *out (rows past the header counts are left as they were). Snapshots are serialized (one
// lock), so two threads asking at once take turns.
void snapshot(live::Snapshot *out, SnapshotOptions opts);

// A Snapshot buffer from vm/ (≈1 MB, committed on touch); nullptr when memory cannot be had.
live::Snapshot *snapshot_buffer_new();
void snapshot_buffer_free(live::Snapshot *s);

}  // namespace lfh::stats
