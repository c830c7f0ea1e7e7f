#include "vm/meta_pool.h"

#include <cstring>

#include "vm/vm.h"

namespace lfh::vm {

void *MetaPool::alloc() {
  os::LockGuard g(lock_);
  void *p;
  if (free_) {
    p = free_;
    free_ = free_->next;
    std::memset(p, 0, size_);
    return p;
  }
  if (bump_ == nullptr || bump_ + size_ > end_) {
    std::size_t chunk = kGranularity;
    while (chunk < size_) chunk += kGranularity;
    char *c = static_cast<char *>(reserve_committed(chunk));
    if (!c) return nullptr;
    bump_ = c;
    end_ = c + chunk;
  }
  p = bump_;          // fresh pages: already zero
  bump_ += size_;
  return p;
}

void MetaPool::free(void *p) {
  if (!p) return;
  os::LockGuard g(lock_);
  auto *n = static_cast<FreeNode *>(p);
  n->next = free_;
  free_ = n;
}

}  // namespace lfh::vm
