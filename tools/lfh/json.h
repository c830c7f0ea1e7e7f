// tools/lfh/json.h — a small JSON reader for the snapshots lfh writes (LFH_STATS=path.json,
// lfh_stats_print(fd, LFH_STATS_JSON | LFH_STATS_REGIONS)): enough for `lfh map --from` and
// `lfh diff`. Numbers keep their exact unsigned value when they are integers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lfh_tool {

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double num = 0;
  std::uint64_t u = 0;     // exact value of a non-negative integer
  std::string str;
  std::vector<Json> items;          // array
  // Object members in order: keys[i] names values[i]. (Two vectors: a vector of pair<string,
  // Json> would need Json complete, which it is not inside its own definition.)
  std::vector<std::string> keys;
  std::vector<Json> values;

  const Json *get(const std::string &key) const;
  std::uint64_t u64(const std::string &key, std::uint64_t def = 0) const;
  std::string text(const std::string &key) const;
};

// Parse `text`; false with `error` ("line 3: expected ','") on malformed input.
bool parse_json(const std::string &text, Json *out, std::string *error);

}  // namespace lfh_tool
