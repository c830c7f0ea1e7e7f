// stats/live.cpp — publishing the live statistics segment (see live.h).
#include "stats/live.h"

#include "base/format.h"
#include "base/options.h"
#include "os/os.h"
#include "stats/snapshot.h"

namespace lfh::stats {
namespace {

constexpr std::size_t kSegmentBytes =
    (sizeof(live::Snapshot) + os::kPageSize - 1) / os::kPageSize * os::kPageSize;
constexpr std::uint64_t kMinGapNs = 900'000'000;   // "at most once a second" (ticks jitter a little)

// Only the ticking thread touches these (ticks never overlap: the tick lock), except the exit
// destructor, which reads them after the tick has stopped touching heaps.
constinit live::Snapshot *g_segment = nullptr;
constinit int g_owner = 0;          // the pid that created g_segment
constinit int g_failed_for = 0;     // creation failed in this pid: do not retry every tick
constinit std::uint64_t g_last_ns = 0;
constinit char g_name[32] = {};

void say_failed() {
  LineBuf l;
  l.str("lfh: LFH_STATS_LIVE: cannot create /dev/shm/").str(g_name).str("; no live statistics\n");
  os::write_all(2, l.data(), l.size());
}

}  // namespace

void live_tick() {
  if (!option_bool(Opt::stats_live)) return;
  const int pid = os::pid();
  if (g_segment && g_owner != pid) {
    // A fork child: this mapping is the parent's segment (shared memory). Drop it, keep theirs.
    os::shm_unmap(g_segment, kSegmentBytes);
    g_segment = nullptr;
    g_last_ns = 0;
  }
  const std::uint64_t now = os::now_ns();
  if (g_segment && now - g_last_ns < kMinGapNs) return;
  if (!g_segment) {
    if (g_failed_for == pid) return;
    live::segment_name(pid, g_name);
    g_segment = static_cast<live::Snapshot *>(os::shm_create(g_name, kSegmentBytes));
    if (!g_segment) {
      g_failed_for = pid;
      say_failed();
      return;
    }
    g_owner = pid;
  }
  g_last_ns = now;
  // Seqlock, writer side: seq odd while the snapshot is rewritten, even (release) afterwards. The
  // release fence orders the odd store before every data store; the final release store orders
  // every data store before the even value. A reader that saw the same even seq before and after
  // its copy (with an acquire fence before the second load) copied no half-written row.
  live::Header &h = g_segment->header;
  const std::uint64_t seq = __atomic_load_n(&h.seq, __ATOMIC_RELAXED);
  __atomic_store_n(&h.seq, seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  snapshot(g_segment, SnapshotOptions{true, true});
  h.updates += 1;
  __atomic_store_n(&h.seq, seq + 2, __ATOMIC_RELEASE);
}

void live_remove_at_exit() {
  // Only the process that created it removes it (a fork child exiting leaves its parent's alone).
  if (g_segment && g_owner == os::pid()) os::shm_remove(g_name);
}

}  // namespace lfh::stats
