// stats/print.h — a Snapshot as text: the human table (lfh_stats_print, LFH_STATS=1) and JSON
// members (LFH_STATS_JSON; the keys are README's "Statistics and the lfh tool" and what
// `lfh map --from` and `lfh diff` read). Fixed buffers only: usable at exit and in any thread.
#pragma once
#include "stats/live_format.h"

namespace lfh::stats {

// `,"totals":{…},"heaps":[…],"buckets":[…],"tags":[…]` (+ `"regions":[…]`): members to follow
// the summary's flat fields inside one object (the caller writes the braces).
void print_snapshot_json(int fd, const live::Snapshot &s, bool regions);
// The tier, heap, bucket (16 largest, or all with `all_buckets`) and tag tables.
void print_snapshot_table(int fd, const live::Snapshot &s, bool all_buckets);

}  // namespace lfh::stats
