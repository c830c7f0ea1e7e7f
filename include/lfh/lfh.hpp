// lfh.hpp — thin C++ helpers over lfh.h: an RAII private heap, a standard allocator and a
// std::pmr::memory_resource over a heap, so a whole data structure can live in one heap and be
// dropped at once with it.
//
//   lfh::heap h;                                         // a private heap, destroyed with h
//   std::vector<int, lfh::heap_allocator<int>> v{lfh::heap_allocator<int>(h)};
//   lfh::heap_resource r(h);
//   std::pmr::unordered_map<std::pmr::string, int> m(&r);
#ifndef LFH_LFH_HPP
#define LFH_LFH_HPP

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <utility>

#include "lfh/lfh.h"

namespace lfh {

// Pool tags: every allocation the thread makes while a tag_scope lives carries `tag`; the tag it
// replaced comes back when the scope ends (scopes nest).
//   { lfh::tag_scope t(LFH_TAG('J','s','o','n')); parse(doc); }
class tag_scope {
 public:
  explicit tag_scope(std::uint32_t tag) noexcept : old_(lfh_set_thread_tag(tag)) {}
  ~tag_scope() { lfh_set_thread_tag(old_); }
  tag_scope(const tag_scope &) = delete;
  tag_scope &operator=(const tag_scope &) = delete;

 private:
  std::uint32_t old_;
};

// A private heap (lfh_heap_create / lfh_heap_destroy). Destroying it frees every block at once.
class heap {
 public:
  explicit heap(unsigned flags = 0, std::size_t initial_size = 0, std::size_t maximum_size = 0)
      : h_(lfh_heap_create(flags, initial_size, maximum_size)) {
    if (!h_) throw std::bad_alloc();
  }
  heap(heap &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  heap &operator=(heap &&o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  heap(const heap &) = delete;
  heap &operator=(const heap &) = delete;
  ~heap() { reset(); }

  // Destroy now (every block of the heap is freed).
  void reset() noexcept {
    if (h_) lfh_heap_destroy(h_);
    h_ = nullptr;
  }

  void *allocate(std::size_t size, std::size_t alignment = alignof(std::max_align_t)) {
    void *p = alignment <= alignof(std::max_align_t) ? lfh_heap_alloc(h_, 0, size)
                                                     : lfh_heap_aligned_alloc(h_, 0, alignment, size);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void *p) noexcept { lfh_heap_free(h_, 0, p); }
  std::size_t size_of(const void *p) const noexcept { return lfh_heap_size(h_, 0, p); }
  bool validate(const void *p = nullptr) const noexcept { return lfh_heap_validate(h_, 0, p) != 0; }
  std::size_t compact() noexcept { return lfh_heap_compact(h_); }
  template <class F> bool walk(F &&f) {
    return lfh_heap_walk(
               h_, [](const lfh_heap_entry_t *e, void *arg) { return (*static_cast<F *>(arg))(*e) ? 1 : 0; },
               &f) != 0;
  }
  void lock() noexcept { lfh_heap_lock(h_); }     // BasicLockable: std::lock_guard<lfh::heap> works
  void unlock() noexcept { lfh_heap_unlock(h_); }

  lfh_heap_t *get() const noexcept { return h_; }

 private:
  lfh_heap_t *h_;
};

// A standard-conforming allocator over a heap (std::vector, std::map, ...). Copies share the heap.
template <class T>
class heap_allocator {
 public:
  using value_type = T;
  explicit heap_allocator(lfh_heap_t *h) noexcept : h_(h) {}
  explicit heap_allocator(const heap &h) noexcept : h_(h.get()) {}
  template <class U>
  heap_allocator(const heap_allocator<U> &o) noexcept : h_(o.handle()) {}

  T *allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    void *p = alignof(T) <= alignof(std::max_align_t) ? lfh_heap_alloc(h_, 0, n * sizeof(T))
                                                      : lfh_heap_aligned_alloc(h_, 0, alignof(T), n * sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T *>(p);
  }
  void deallocate(T *p, std::size_t) noexcept { lfh_heap_free(h_, 0, p); }
  lfh_heap_t *handle() const noexcept { return h_; }

  template <class U>
  bool operator==(const heap_allocator<U> &o) const noexcept { return h_ == o.handle(); }
  template <class U>
  bool operator!=(const heap_allocator<U> &o) const noexcept { return h_ != o.handle(); }

 private:
  lfh_heap_t *h_;
};

// std::pmr over a heap: containers using it allocate from the heap.
class heap_resource : public std::pmr::memory_resource {
 public:
  explicit heap_resource(lfh_heap_t *h) noexcept : h_(h) {}
  explicit heap_resource(const heap &h) noexcept : h_(h.get()) {}
  lfh_heap_t *handle() const noexcept { return h_; }

 private:
  void *do_allocate(std::size_t bytes, std::size_t alignment) override {
    void *p = alignment <= alignof(std::max_align_t) ? lfh_heap_alloc(h_, 0, bytes)
                                                     : lfh_heap_aligned_alloc(h_, 0, alignment, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void *p, std::size_t, std::size_t) override { lfh_heap_free(h_, 0, p); }
  bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override {
    auto *r = dynamic_cast<const heap_resource *>(&o);
    return r && r->h_ == h_;
  }

  lfh_heap_t *h_;
};

}  // namespace lfh

#endif  // LFH_LFH_HPP
