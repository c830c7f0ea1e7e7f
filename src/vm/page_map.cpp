#include "vm/page_map.h"

#include "os/mutex.h"
#include "vm/vm.h"

namespace lfh::vm {

namespace detail {
constinit MapRef g_map = {nullptr, 0, 0};
}

namespace {

constexpr std::size_t kEntries = std::size_t(1) << (47 - kMapShift);
constexpr std::size_t kMapBytes = kEntries * sizeof(std::uintptr_t);
constexpr std::size_t kMapPages = kMapBytes / os::kPageSize;
constexpr std::size_t kEntriesPerPage = os::kPageSize / sizeof(std::uintptr_t);

// One bit per page of the map: set once the page has been charged (it then stays charged).
constinit std::uint64_t g_charged[kMapPages / 64] = {};
constinit os::Mutex g_charge_lock;
constinit bool g_gate_closed = false;   // pagemap_close_gate (before or after pagemap_init)

bool charge_pages(std::size_t first_entry, std::size_t last_entry) {
  os::LockGuard g(g_charge_lock);
  for (std::size_t pg = first_entry / kEntriesPerPage; pg <= last_entry / kEntriesPerPage; ++pg) {
    std::uint64_t bit = std::uint64_t(1) << (pg % 64);
    if (g_charged[pg / 64] & bit) continue;
    if (!charge(os::kPageSize)) return false;
    g_charged[pg / 64] |= bit;
  }
  return true;
}

}  // namespace

bool pagemap_init() {
  if (detail::g_map.map) return true;
  void *m = os::reserve_zero_readable(kMapBytes);
  if (!m) return false;
  detail::g_map.map = static_cast<std::uintptr_t *>(m);
  __atomic_store_n(&detail::g_map.entries, kEntries, __ATOMIC_RELEASE);
  if (!g_gate_closed) __atomic_store_n(&detail::g_map.gated, kEntries, __ATOMIC_RELEASE);
  return true;
}

void pagemap_close_gate() {
  g_gate_closed = true;
  __atomic_store_n(&detail::g_map.gated, 0, __ATOMIC_RELEASE);
}

bool pagemap_set(const void *base, std::size_t size, const void *owner) {
  std::uintptr_t a = addr(base);
  if (!detail::g_map.map || size == 0 || a + size > os::kAddressLimit) return false;
  std::size_t first = a >> kMapShift, last = (a + size - 1) >> kMapShift;
  if (!charge_pages(first, last)) return false;
  for (std::size_t i = first; i <= last; ++i)
    __atomic_store_n(&detail::g_map.map[i], addr(owner), __ATOMIC_RELEASE);
  return true;
}

void pagemap_clear(const void *base, std::size_t size) {
  std::uintptr_t a = addr(base);
  if (!detail::g_map.map || size == 0) return;
  std::size_t first = a >> kMapShift, last = (a + size - 1) >> kMapShift;
  for (std::size_t i = first; i <= last; ++i) __atomic_store_n(&detail::g_map.map[i], 0, __ATOMIC_RELEASE);
}

}  // namespace lfh::vm

namespace lfh::vm {
void pagemap_lock() { g_charge_lock.lock(); }
void pagemap_unlock() { g_charge_lock.unlock(); }
void pagemap_reset_lock() { g_charge_lock.reset_after_fork(); }
}  // namespace lfh::vm
