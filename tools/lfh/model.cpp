// tools/lfh/model.cpp — reading a live segment or a JSON snapshot into a Model (see model.h).
#include "model.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "json.h"
#include "stats/live_format.h"

namespace lfh_tool {
namespace live = lfh::live;

std::string human_size(std::uint64_t bytes) {
  static const char units[] = "BKMGTP";
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f%c", v, units[u]);
  return buf;
}

bool parse_pid(const std::string &s, long *pid) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  *pid = std::strtol(s.c_str(), nullptr, 10);
  return *pid > 0;
}

namespace {

// Rows from the fixed structs, with the JSON's key names.
Row totals_row(const live::Totals &t) {
  return {{"reserved_bytes", t.reserved_bytes}, {"committed_bytes", t.committed_bytes},
          {"peak_committed_bytes", t.peak_committed_bytes}, {"commit_limit", t.commit_limit},
          {"decommitted_bytes", t.decommitted_bytes}, {"rss_bytes", t.rss_bytes},
          {"peak_rss_bytes", t.peak_rss_bytes}, {"heaps", t.heaps}, {"lfh_allocs", t.lfh_allocs},
          {"lfh_frees", t.lfh_frees}, {"lfh_blocks_in_use", t.lfh_blocks_in_use},
          {"lfh_bytes_in_use", t.lfh_bytes_in_use}, {"lfh_blocks_free", t.lfh_blocks_free},
          {"lfh_subsegments", t.lfh_subsegments}, {"lfh_lookaside_hits", t.lfh_lookaside_hits},
          {"lfh_lookaside_misses", t.lfh_lookaside_misses}, {"core_allocs", t.core_allocs},
          {"core_frees", t.core_frees}, {"core_blocks", t.core_blocks}, {"core_busy_bytes", t.core_busy_bytes},
          {"core_segments", t.core_segments}, {"core_committed_bytes", t.core_committed_bytes},
          {"direct_allocs", t.direct_allocs}, {"direct_frees", t.direct_frees}, {"direct_blocks", t.direct_blocks},
          {"direct_committed_bytes", t.direct_committed_bytes}, {"pageheap_blocks", t.pageheap_blocks},
          {"pageheap_bytes", t.pageheap_bytes}};
}

Row heap_row(const live::HeapRow &h) {
  return {{"index", h.index}, {"flags", h.flags}, {"address", h.address}, {"reserved_bytes", h.reserved_bytes},
          {"committed_bytes", h.committed_bytes}, {"lfh_allocs", h.lfh_allocs}, {"lfh_frees", h.lfh_frees},
          {"lfh_blocks_in_use", h.lfh_blocks_in_use}, {"lfh_bytes_in_use", h.lfh_bytes_in_use},
          {"lfh_blocks_free", h.lfh_blocks_free}, {"lfh_subsegments", h.lfh_subsegments},
          {"lfh_lookaside_hits", h.lfh_lookaside_hits}, {"lfh_lookaside_misses", h.lfh_lookaside_misses},
          {"core_allocs", h.core_allocs}, {"core_frees", h.core_frees}, {"core_blocks", h.core_blocks},
          {"core_busy_bytes", h.core_busy_bytes}, {"core_segments", h.core_segments},
          {"core_reserved_bytes", h.core_reserved_bytes}, {"core_committed_bytes", h.core_committed_bytes},
          {"direct_allocs", h.direct_allocs}, {"direct_frees", h.direct_frees}, {"direct_blocks", h.direct_blocks},
          {"direct_reserved_bytes", h.direct_reserved_bytes}, {"direct_committed_bytes", h.direct_committed_bytes},
          {"locked", h.locked}};
}

Row bucket_row(const live::BucketRow &b) {
  return {{"heap", b.heap}, {"bucket", b.bucket}, {"block_size", b.block_size}, {"allocs", b.allocs},
          {"frees", b.frees}, {"blocks_in_use", b.blocks_in_use}, {"bytes_in_use", b.blocks_in_use * b.block_size},
          {"blocks_free", b.blocks_free}, {"blocks_cached", b.blocks_cached}, {"subsegments", b.subsegments},
          {"lookaside_hits", b.lookaside_hits}, {"lookaside_misses", b.lookaside_misses},
          {"lookaside_depth", b.lookaside_depth}};
}

std::string tag_text(std::uint32_t tag) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    unsigned c = (tag >> (8 * i)) & 0xff;
    s.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
  }
  return s;
}

const char *kind_name(std::uint32_t k) {
  switch (k) {
    case live::kRegionLfhSubsegment: return "lfh";
    case live::kRegionLfhReserve: return "lfh_reserve";
    case live::kRegionCoreSegment: return "core";
    case live::kRegionDirectBlock: return "direct";
    default: return "unknown";
  }
}

// Row i of an array described by offset and row size (the writer's sizes, not ours: a newer
// library may have appended fields). Copies what we know; the rest of ours stays zero.
template <class T> T row_at(const std::vector<char> &buf, std::uint32_t off, std::uint32_t size, std::uint32_t i) {
  T t{};
  const std::size_t at = std::size_t(off) + std::size_t(size) * i;
  if (at + size <= buf.size()) std::memcpy(&t, buf.data() + at, size < sizeof(T) ? size : sizeof(T));
  return t;
}

}  // namespace

int load_live(long pid, Model *m, std::string *error) {
  if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
    *error = "no process with pid " + std::to_string(pid);
    return kExitNoTarget;
  }
  const std::string path = "/dev/shm/lfh." + std::to_string(pid);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EACCES) *error = "cannot read " + path + " (it belongs to another user)";
    else *error = "process " + std::to_string(pid) + " has no live statistics (" + path +
                  "): run it with LFH_STATS_LIVE=1 on lfh; the first update comes with the first balance tick, about a second after start";
    return kExitNoTarget;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || std::size_t(st.st_size) < sizeof(live::Header)) {
    close(fd);
    *error = path + " is not an lfh statistics segment (too small)";
    return kExitNoTarget;
  }
  const std::size_t size = std::size_t(st.st_size);
  void *map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    *error = "cannot map " + path + ": " + std::strerror(errno);
    return kExitNoTarget;
  }
  const auto *hdr = static_cast<const live::Header *>(map);
  // A file that is someone else's: no point waiting for a consistent copy of it.
  if (const std::uint64_t magic = __atomic_load_n(&hdr->magic, __ATOMIC_RELAXED); magic != 0 && magic != live::kMagic) {
    munmap(map, size);
    *error = path + " is not an lfh statistics segment (bad magic)";
    return kExitNoTarget;
  }
  std::vector<char> buf(size);
  // Seqlock, reader side (live_format.h): an even seq, the copy, an acquire fence, the same seq.
  // The process may be between two halves of an update, or not have written its first one yet
  // (magic still zero): retry for up to 3 s.
  bool ok = false;
  for (int attempt = 0; attempt < 3000 && !ok; ++attempt) {
    const std::uint64_t s1 = __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
    if ((s1 & 1) == 0 && __atomic_load_n(&hdr->magic, __ATOMIC_RELAXED) != 0) {
      std::memcpy(buf.data(), map, size);
      std::atomic_thread_fence(std::memory_order_acquire);
      ok = __atomic_load_n(&hdr->seq, __ATOMIC_RELAXED) == s1;
    }
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  munmap(map, size);
  if (!ok) {
    *error = "no consistent snapshot in " + path + " within 3 s (the process stopped mid-update?)";
    return kExitNoTarget;
  }
  live::Header h;
  std::memcpy(&h, buf.data(), sizeof h);
  if (h.magic != live::kMagic) {
    *error = path + " is not an lfh statistics segment (bad magic)";
    return kExitNoTarget;
  }
  if (h.version != live::kVersion) {
    *error = path + " has layout version " + std::to_string(h.version) + ", this tool reads version " +
             std::to_string(live::kVersion);
    return kExitNoTarget;
  }
  if (h.total_size > size || h.heaps > live::kMaxHeaps * 16 || h.regions > live::kMaxRegions * 16) {
    *error = path + " is inconsistent (sizes past its end)";
    return kExitNoTarget;
  }
  m->pid = h.pid;
  m->updated_wall_ns = h.updated_wall_ns;
  m->period_ms = h.period_ms;
  m->totals = totals_row(row_at<live::Totals>(buf, h.off_totals, h.size_totals, 0));
  for (std::uint32_t i = 0; i < h.heaps; ++i)
    m->heaps.push_back(heap_row(row_at<live::HeapRow>(buf, h.off_heaps, h.size_heap, i)));
  for (std::uint32_t i = 0; i < h.buckets; ++i)
    m->buckets.push_back(bucket_row(row_at<live::BucketRow>(buf, h.off_buckets, h.size_bucket, i)));
  m->tags_on = h.tags_on != 0;
  for (std::uint32_t i = 0; i < h.tags; ++i) {
    live::TagRow t = row_at<live::TagRow>(buf, h.off_tags, h.size_tag, i);
    m->tags.push_back(Tag{tag_text(t.tag), {{"allocs", t.allocs}, {"frees", t.frees}, {"blocks", t.blocks},
                                            {"bytes", t.bytes}, {"peak_bytes", t.peak_bytes}}});
  }
  m->tags_omitted = h.tags_omitted;
  m->has_regions = true;
  m->resident_known = h.resident_known != 0;
  m->regions_omitted = h.regions_omitted;
  for (std::uint32_t i = 0; i < h.regions; ++i) {
    live::RegionRow r = row_at<live::RegionRow>(buf, h.off_regions, h.size_region, i);
    m->regions.push_back(Region{kind_name(r.kind), r.address, r.size, r.committed, r.resident, r.used_bytes, r.heap,
                                r.bucket, r.block_size, r.blocks_total, r.blocks_used});
  }
  return kExitOk;
}

int load_json_file(const std::string &path, Model *m, std::string *error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return kExitNoTarget;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Json j;
  std::string perr;
  if (!parse_json(ss.str(), &j, &perr)) {
    *error = path + " is not JSON (" + perr + ")";
    return kExitNoTarget;
  }
  if (j.kind != Json::kObject || j.text("format") != "lfh-stats") {
    *error = path + " is not an lfh statistics snapshot (no \"format\": \"lfh-stats\"; write one with LFH_STATS=file.json)";
    return kExitNoTarget;
  }
  auto row_of = [](const Json &o) {
    Row r;
    for (std::size_t i = 0; i < o.keys.size(); ++i) {
      const Json &v = o.values[i];
      if (v.kind == Json::kNumber) r[o.keys[i]] = v.u;
      else if (v.kind == Json::kString && v.str.rfind("0x", 0) == 0) r[o.keys[i]] = std::strtoull(v.str.c_str(), nullptr, 16);
    }
    return r;
  };
  m->pid = long(j.u64("pid"));
  if (const Json *t = j.get("totals")) m->totals = row_of(*t);
  if (const Json *a = j.get("heaps"))
    for (const Json &h : a->items) m->heaps.push_back(row_of(h));
  if (const Json *a = j.get("buckets"))
    for (const Json &b : a->items) m->buckets.push_back(row_of(b));
  m->tags_on = j.u64("tags_on") != 0;
  if (const Json *a = j.get("tags"))
    for (const Json &t : a->items) m->tags.push_back(Tag{t.text("tag"), row_of(t)});
  m->tags_omitted = j.u64("tags_omitted");
  if (const Json *a = j.get("regions")) {
    m->has_regions = true;
    m->resident_known = j.u64("resident_known") != 0;
    m->regions_omitted = j.u64("regions_omitted");
    for (const Json &r : a->items)
      m->regions.push_back(Region{r.text("kind"), r.u64("address"), r.u64("size"), r.u64("committed"),
                                  r.u64("resident"), r.u64("used_bytes"), r.u64("heap"), r.u64("bucket"),
                                  r.u64("block_size"), r.u64("blocks_total"), r.u64("blocks_used")});
  }
  return kExitOk;
}

}  // namespace lfh_tool
