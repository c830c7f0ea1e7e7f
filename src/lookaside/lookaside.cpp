#include "lookaside/lookaside.h"

#include "vm/vm.h"

namespace lfh {

std::uint32_t depth_cap(unsigned bucket, std::uint32_t max_depth_option) {
  // At most 64 KB of blocks per list, at least 2, at most the option.
  std::size_t by_bytes = 65536 / lfh_buckets::block_size(bucket);
  std::uint32_t cap = std::uint32_t(by_bytes < 2 ? 2 : by_bytes);
  if (max_depth_option && cap > max_depth_option) cap = max_depth_option;
  return cap < 1 ? 1 : cap;
}

void raise_depth_on_miss(LookasideList &l) {
  std::uint32_t d = __atomic_load_n(&l.depth, __ATOMIC_RELAXED);
  if (d < l.max_depth) {
    std::uint32_t nd = d * 2 < l.max_depth ? d * 2 : l.max_depth;
    __atomic_store_n(&l.depth, nd, __ATOMIC_RELAXED);
  }
}

bool LookasideTable::init(std::uint32_t cpus, std::uint32_t initial_depth, std::uint32_t max_depth) {
  std::size_t bytes = align_up(sizeof(LookasideCpu) * cpus, vm::kGranularity);
  auto *t = static_cast<LookasideCpu *>(vm::reserve_committed(bytes));
  if (!t) return false;
  for (std::uint32_t c = 0; c < cpus; ++c) {
    for (unsigned b = 0; b < lfh_buckets::kBuckets; ++b) {
      LookasideList &l = t[c].lists[b];
      l.max_depth = depth_cap(b, max_depth);
      l.depth = initial_depth < l.max_depth ? initial_depth : l.max_depth;
    }
  }
  cpus_ = t;
  ncpu_ = cpus;
  bytes_ = bytes;
  return true;
}

void LookasideTable::destroy() {
  if (cpus_) vm::release_committed(cpus_, bytes_, bytes_);
  cpus_ = nullptr;
  ncpu_ = 0;
}

}  // namespace lfh
