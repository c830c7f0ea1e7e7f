// vm/meta_pool.h — fixed-size metadata objects (direct-block descriptors, region records, private
// heap objects) carved from committed 64 KB chunks that vm/ reserves. lfh's own bookkeeping never
// comes from malloc. Freed objects go on an intrusive free list and are reused; chunks are never
// returned (metadata is small and bounded by the number of live objects at peak).
#pragma once
#include <cstddef>

#include "os/mutex.h"

namespace lfh::vm {

class MetaPool {
 public:
  constexpr explicit MetaPool(std::size_t object_size) : size_(object_size < 16 ? 16 : (object_size + 15) & ~std::size_t(15)) {}
  // Zero-filled object, or nullptr when memory cannot be committed.
  void *alloc();
  void free(void *p);
  void lock() { lock_.lock(); }
  void unlock() { lock_.unlock(); }
  void reset_after_fork() { lock_.reset_after_fork(); }

 private:
  struct FreeNode { FreeNode *next; };
  os::Mutex lock_;
  std::size_t size_;
  FreeNode *free_ = nullptr;
  char *bump_ = nullptr;
  char *end_ = nullptr;
};

}  // namespace lfh::vm
