// map_churn — red-black tree and hash map churn with mixed sizes.
//
// Each thread owns a std::map<std::string, std::vector<char>> (libstdc++'s red-black tree) and a
// std::unordered_map<std::string, std::string> holding the same keys, over a key space of 60000
// ids. Each operation picks a random id: if it is present it is either erased from both maps or
// its values are replaced by new ones of another size; if absent it is inserted into both. Keys
// are 8 to 60 characters (short ones live inside std::string, long ones on the heap); values are
// 8 bytes to 2 KB, log-uniform. So the allocator sees tree nodes, hash nodes, bucket arrays,
// strings and vectors of many sizes, with lifetimes from one operation to the whole run.
// The operations are split over the threads (each thread its own maps and key space).
// Check: at the end both maps hold exactly the keys a bitmap replay says are present, in order,
// each with the contents derived from its key and version.
#include <map>
#include <unordered_map>

#include "common.h"

namespace {

constexpr std::uint32_t kKeys = 60'000;

std::string key_of(std::uint32_t id) {
  std::string k = "key:" + std::to_string(id * 2654435761u % 1000003u) + "/" + std::to_string(id);
  k.append(id % 53, static_cast<char>('a' + id % 26));
  return k;
}
char fill_of(std::uint32_t id, std::uint32_t version) { return static_cast<char>('A' + (id + version) % 26); }

struct Entry {
  std::uint32_t version;
  std::uint32_t size;
};

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t total_ops = o.work(500'000);
  wl::Check check;
  std::atomic<std::uint64_t> live_total{0};

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    wl::Rng rng(o.seed + static_cast<std::uint64_t>(t));
    std::map<std::string, std::vector<char>> tree;
    std::unordered_map<std::string, std::string> hash;
    std::vector<Entry> shadow(kKeys, Entry{0, 0});  // size 0 = absent
    for (std::uint64_t n = wl::share(total_ops, o.threads, t); n > 0; --n) {
      auto id = static_cast<std::uint32_t>(rng.below(kKeys));
      Entry &e = shadow[id];
      std::string key = key_of(id);
      if (e.size && rng.below(2) == 0) {  // erase
        if (tree.erase(key) != 1 || hash.erase(key) != 1) check.fail("erase of a present key failed");
        e = Entry{0, 0};
        continue;
      }
      // insert or replace: a new value of another size
      e.version++;
      e.size = static_cast<std::uint32_t>(rng.log_range(8, 2048));
      char c = fill_of(id, e.version);
      tree[key] = std::vector<char>(e.size, c);
      hash[key] = std::string(e.size / 2 + 1, c);
    }
    // verify
    std::size_t present = 0;
    for (std::uint32_t id = 0; id < kKeys; ++id) {
      const Entry &e = shadow[id];
      if (!e.size) continue;
      ++present;
      std::string key = key_of(id);
      auto it = tree.find(key);
      auto ht = hash.find(key);
      char c = fill_of(id, e.version);
      if (it == tree.end() || ht == hash.end()) {
        check.fail("key %s missing", key.c_str());
        continue;
      }
      if (it->second.size() != e.size || it->second.front() != c || it->second.back() != c ||
          ht->second.size() != e.size / 2 + 1 || ht->second.front() != c || ht->second.back() != c)
        check.fail("value of key %s damaged", key.c_str());
    }
    if (tree.size() != present || hash.size() != present)
      check.fail("maps hold %zu / %zu keys, expected %zu", tree.size(), hash.size(), present);
    const std::string *prev = nullptr;
    for (auto &kv : tree) {
      if (prev && !(*prev < kv.first)) check.fail("tree out of order");
      prev = &kv.first;
    }
    live_total += present;
  });
  double secs = timer.seconds();
  return wl::report("map-churn", o, secs, check, wl::kv("ops", total_ops) + wl::kv("live_keys", live_total.load()));
}
