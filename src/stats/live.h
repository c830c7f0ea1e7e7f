// stats/live.h — the live statistics segment (LFH_STATS_LIVE=1): /dev/shm/lfh.<pid>, a Snapshot
// (stats/live_format.h) rewritten by the balance tick, read by `lfh stat` / `lfh map PID`.
//
// Life: created by the first tick after start (mode 0600, O_EXCL), refreshed at most once a
// second, unlinked by the library's destructor at exit. A fork child inherits the parent's mapping
// but never writes through it: the tick compares the owner pid with its own, drops the inherited
// mapping and publishes its own lfh.<childpid>; the child removes only a segment it created.
// A process killed by a signal leaves its file behind; the next process with that pid replaces it,
// and `lfh stat` reports a segment whose pid is gone as "no such process".
#pragma once

namespace lfh::stats {

// The balance tick's observer (runs on the ticking thread, tick lock held).
void live_tick();
// Remove this process's segment (library destructor).
void live_remove_at_exit();

}  // namespace lfh::stats
