// tools/lfh/model.h — what `lfh stat`, `lfh map` and `lfh diff` show, read either from a live
// process's segment (/dev/shm/lfh.<pid>, layout src/stats/live_format.h) or from a JSON snapshot
// (LFH_STATS=path.json). Rows are name → value maps with the JSON's key names, so both sources
// give the same picture and diff can compare any two.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lfh_tool {

using Row = std::map<std::string, std::uint64_t>;

struct Region {
  std::string kind;   // lfh, lfh_reserve, core, direct
  std::uint64_t address = 0, size = 0, committed = 0, resident = 0, used_bytes = 0;
  std::uint64_t heap = 0, bucket = 0, block_size = 0, blocks_total = 0, blocks_used = 0;
};

struct Tag {
  std::string text;   // "Json"
  Row counts;         // allocs, frees, blocks, bytes, peak_bytes
};

struct Model {
  long pid = 0;
  std::uint64_t updated_wall_ns = 0;   // live: when the process last published
  std::uint64_t period_ms = 0;
  Row totals;
  std::vector<Row> heaps;     // index, flags, …
  std::vector<Row> buckets;   // heap, bucket, block_size, …
  bool tags_on = false;
  std::vector<Tag> tags;
  bool has_regions = false, resident_known = false;
  std::vector<Region> regions;
  std::uint64_t regions_omitted = 0, tags_omitted = 0;
};

// Errors are one line for "lfh: …" in *error; the return is the tool's exit code (0: read).
inline constexpr int kExitOk = 0;
inline constexpr int kExitBadUsage = 1;
inline constexpr int kExitNoTarget = 2;   // no such process, no live segment, not lfh's
inline constexpr int kExitIo = 3;         // cannot write the output

int load_live(long pid, Model *m, std::string *error);
int load_json_file(const std::string &path, Model *m, std::string *error);

// "12.3M" style.
std::string human_size(std::uint64_t bytes);
// Parse a pid argument; false when it is not a positive number.
bool parse_pid(const std::string &s, long *pid);

}  // namespace lfh_tool
