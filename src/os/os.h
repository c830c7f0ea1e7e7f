// os/os.h — the contract between lfh and the kernel. This folder is the only place in lfh that
// makes system calls (tests/unit/test_layering greps for it). Every call reports failure as a
// value (false / nullptr); none throws, aborts or allocates.
//
// Virtual memory follows the Windows model:
//   reserve  — address space only (PROT_NONE, MAP_NORESERVE). Always kGranularity-aligned and a
//              multiple of kGranularity (64 KB), like VirtualAlloc(MEM_RESERVE).
//   commit   — make pages of a reserved range readable and writable. Fresh pages are demand-zero.
//   decommit — give the physical pages back and make the range inaccessible again, keeping the
//              address space reserved: mmap(MAP_FIXED, PROT_NONE) over it. We deliberately do NOT
//              use MADV_FREE: its pages stay in RSS until the kernel is under pressure (users see
//              that as a leak) and their contents are not guaranteed zero, which would break the
//              demand-zero rule calloc relies on.
//   purge    — give the physical pages back but keep the range accessible (MADV_DONTNEED):
//              the next touch maps a zero page. Used where lock-free readers may still load from
//              the range (LFH subsegments: see lookaside/aba_stack.h), so it must never fault.
//   release  — give the address space back (munmap).
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::os {

inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t kGranularity = 64 * 1024;     // reservation granularity (seed: 64 KB)
inline constexpr std::size_t kHugePageSize = 2 * 1024 * 1024;
inline constexpr std::uintptr_t kAddressLimit = std::uintptr_t(1) << 47;  // user space we map

// Reserve `size` bytes (multiple of kGranularity) aligned to `align` (power of two ≥ kGranularity).
// Returns nullptr on failure. `huge`: back with explicit 2 MB huge pages (MAP_HUGETLB) where the
// system has them; the range is then committed at once (hugetlb pages cannot be reserved lazily).
void *reserve(std::size_t size, std::size_t align = kGranularity);
// Reserve and commit in one call (used for metadata and direct blocks).
void *reserve_committed(std::size_t size, std::size_t align = kGranularity);
// Preconditions for the calls below: [p, p+size) lies in a range returned by reserve*, p and size
// are multiples of kPageSize.
bool commit(void *p, std::size_t size);
bool decommit(void *p, std::size_t size);
bool purge(void *p, std::size_t size);
bool release(void *p, std::size_t size);
bool protect(void *p, std::size_t size, bool readable, bool writable);
bool lock_pages(void *p, std::size_t size);     // mlock: the "non-paged" property
bool unlock_pages(void *p, std::size_t size);
bool advise_huge(void *p, std::size_t size, bool on);   // transparent huge pages (MADV_[NO]HUGEPAGE)
// Which pages of [p, p+size) are resident (mincore); `out` has size/kPageSize bytes. For tests/stats.
bool residency(void *p, std::size_t size, unsigned char *out);
// Move the pages of [from, from+size) to `to` (inside a reservation of ours) with their contents,
// without copying: mremap(MREMAP_MAYMOVE | MREMAP_FIXED). [from, from+size) is unmapped afterwards.
bool move_pages(void *from, std::size_t size, void *to);
// Reserve and commit `size` bytes (a multiple of kHugePageSize) backed by explicit 2 MB huge pages
// (MAP_HUGETLB). nullptr where the system has none reserved (the common case): callers fall back.
void *reserve_huge(std::size_t size);

// Test hook (an OS layer tests can replace): make reserve/commit fail. `every_nth` > 0 fails every
// Nth call from now on; 0 turns it off. Checked only on those slow paths.
void set_failure_schedule(std::uint32_t every_nth);
std::uint64_t injected_failures();

// --- processors -----------------------------------------------------------------------------
// Number of CPU ids the kernel may ever report (from /sys/devices/system/cpu/possible).
std::uint32_t possible_cpus();
// Whether glibc registered rseq for this process (so current_cpu() is one load).
bool rseq_available();
// The CPU this thread runs on now (a hint: it may migrate right after). rseq cpu_id when glibc
// registered rseq (2.35+), else sched_getcpu(). Always < possible_cpus().
std::uint32_t current_cpu();

// --- synchronisation ------------------------------------------------------------------------
// A non-zero identifier of the calling thread (pthread_self), cheap enough for slow paths.
std::uintptr_t thread_id();
void futex_wait(std::uint32_t *word, std::uint32_t expected);
void futex_wake(std::uint32_t *word, int count);
void yield_cpu();

// --- process ----------------------------------------------------------------------------------
bool write_all(int fd, const void *buf, std::size_t len);
[[noreturn]] void abort_process();
int pid();
std::uint64_t now_ns();                        // CLOCK_MONOTONIC
bool random_bytes(void *out, std::size_t n);   // getrandom, falling back to time-based mixing
int open_for_write(const char *path);          // O_CREAT|O_TRUNC, mode 0644; -1 on failure
int open_for_read(const char *path);
long read_some(int fd, void *buf, std::size_t n);
void close_fd(int fd);
char **environment();                          // the process environment (environ)
const char *exe_path();                        // the path the program was started by (AT_EXECFN); may be null
// Register fork handlers (pthread_atfork). May allocate inside libc: call only once lfh is usable.
bool at_fork(void (*prepare)(), void (*parent)(), void (*child)());
// Run `fn` at process exit (atexit).
bool at_exit(void (*fn)());
// Thread-exit hook: create (once) a pthread key whose destructor is `fn`; then arm(value) in a
// thread makes fn(value) run when that thread exits. Neither allocates for lfh's single key.
bool thread_exit_hook(void (*fn)(void *));
bool thread_exit_arm(void *value);
void thread_exit_reset_after_fork();           // fork child: the hook's lock (its holder is gone)
// True while the calling thread is inside one of the calls above (or start_thread, thread.h),
// where libc may call malloc on lfh's behalf, and for the whole life of a thread lfh started.
// Fault injection (debug/fault.h) neither fails nor counts those allocations: they are lfh's, not
// the program's, and their timing (the balance thread starts when a tick is due) would otherwise
// make the program's failures depend on the clock.
bool in_lfh_libc_call();
// Marks such a call for its scope (nests).
class LibcCallScope {
 public:
  LibcCallScope();
  ~LibcCallScope();
  LibcCallScope(const LibcCallScope &) = delete;
  LibcCallScope &operator=(const LibcCallScope &) = delete;
};

}  // namespace lfh::os

namespace lfh::os {
// A readable, writable, never-charged reservation (MAP_NORESERVE): pages that are never written
// read as zero and cost no memory. Used only for the page map, so that a lookup of any address
// never faults. Returns nullptr where the kernel refuses (strict overcommit).
void *reserve_zero_readable(std::size_t size);
}  // namespace lfh::os

namespace lfh::os {
// --- shared memory (the live statistics segment, stats/live_format.h) -------------------------
// Create /dev/shm/<name> (O_CREAT|O_EXCL, mode 0600: readable by this user only) of `size` bytes
// and map it shared, read/write. A file of that name left behind (a crashed process whose pid we
// now have) is removed first. nullptr on failure (no /dev/shm, out of space, …).
void *shm_create(const char *name, std::size_t size);
// Unmap a mapping from shm_create (no unlink: a fork child drops its parent's mapping this way).
void shm_unmap(void *p, std::size_t size);
// Remove /dev/shm/<name>.
void shm_remove(const char *name);
// Peak resident set size of the process (getrusage ru_maxrss), in bytes; 0 if unknown.
std::uint64_t peak_rss_bytes();
// Resident set size now (/proc/self/statm), in bytes; 0 if unknown.
std::uint64_t rss_bytes();
// Wall-clock time (CLOCK_REALTIME) in ns since the epoch: timestamps readers compare across processes.
std::uint64_t wall_ns();
}  // namespace lfh::os
